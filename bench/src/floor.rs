//! The floor under the vote service's CPU per vote: a server that does only
//! what accepting a vote must, read the request, RPUSH one ballot on its
//! thread's shared pipelined Redis connection, write an answer the size of
//! the vote page, on the vote service's threading (one thread per core, each
//! with its own Redis connection, the same tokio and redis crates). No
//! routing, cookies, metrics or page: `scripts/bench.sh` loads it exactly as
//! it loads vote, and the ratio of the two CPU figures is what vote spends
//! above the floor. It pushes to its own list (`FLOOR_LIST`), never `votes`.

use anyhow::Context;
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the floor's ballots go; `scripts/bench.sh` deletes it afterwards.
const FLOOR_LIST: &str = "bench:floor";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    redis: String,
    #[arg(long)]
    port: u16,
    /// Bytes in each answer's body (give the vote page's size).
    #[arg(long)]
    answer_bytes: usize,
    /// Serving threads (vote runs one per core).
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    threads: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))
        .with_context(|| format!("binding port {}", args.port))?;
    listener.set_nonblocking(true)?;
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n",
        args.answer_bytes
    )
    .into_bytes();
    answer.resize(answer.len() + args.answer_bytes, b'x');
    let client = redis::Client::open(args.redis.as_str())?;
    for _ in 0..args.threads {
        let (listener, client, answer) = (listener.try_clone()?, client.clone(), answer.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for a serving thread");
            tokio::task::LocalSet::new().block_on(&runtime, async move {
                if let Err(e) = serve_thread(listener, client, answer).await {
                    eprintln!("bench floor: a serving thread stopped: {e:#}");
                }
            });
        });
    }
    eprintln!("bench floor: listening on 127.0.0.1:{}", args.port);
    std::future::pending::<()>().await;
    Ok(())
}

async fn serve_thread(
    listener: std::net::TcpListener,
    client: redis::Client,
    answer: Vec<u8>,
) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let redis = client
        .get_multiplexed_async_connection()
        .await
        .context("connecting to Redis")?;
    let answer: Rc<[u8]> = answer.into();
    loop {
        let (connection, _) = listener.accept().await?;
        let (redis, answer) = (redis.clone(), answer.clone());
        tokio::task::spawn_local(async move {
            match serve(connection, redis, &answer).await {
                Ok(()) => {}
                // wrk ends its run by resetting its connections.
                Err(e) if is_reset(&e) => {}
                Err(e) => eprintln!("bench floor: a connection ended: {e:#}"),
            }
        });
    }
}

fn is_reset(error: &anyhow::Error) -> bool {
    error.downcast_ref::<std::io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )
    })
}

/// Each request: its whole head and `Content-Length` body read, one RPUSH,
/// one write.
async fn serve(
    mut connection: TcpStream,
    mut redis: redis::aio::MultiplexedConnection,
    answer: &[u8],
) -> anyhow::Result<()> {
    connection.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(4096);
    let mut served = 0u64;
    loop {
        let length = loop {
            if let Some(length) = request_length(&buffer)? {
                break length;
            }
            if connection.read_buf(&mut buffer).await? == 0 {
                return Ok(());
            }
        };
        served += 1;
        let ballot = format!(r#"{{"voter_id":"floor{served:011x}","vote":"a","ts":{served}}}"#);
        let _: i64 = redis::cmd("RPUSH")
            .arg(FLOOR_LIST)
            .arg(ballot)
            .query_async(&mut redis)
            .await?;
        connection.write_all(answer).await?;
        buffer.drain(..length);
    }
}

/// The length of the request at the start of `buffer` (head and body) once
/// all of it is there.
fn request_length(buffer: &[u8]) -> anyhow::Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let head = match request.parse(buffer)? {
        httparse::Status::Complete(head) => head,
        httparse::Status::Partial => return Ok(None),
    };
    let body = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map(|length| length.context("an unreadable Content-Length"))
        .transpose()?
        .unwrap_or(0);
    Ok((buffer.len() >= head + body).then_some(head + body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_complete_only_with_its_whole_body() {
        let full = b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nvote=a";
        assert_eq!(request_length(full).unwrap(), Some(full.len()));
        assert_eq!(request_length(&full[..full.len() - 1]).unwrap(), None);
        assert_eq!(request_length(b"GET / HTTP/1.1\r\n").unwrap(), None);
        assert!(request_length(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
    }
}
