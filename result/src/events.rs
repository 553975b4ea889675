//! The `/events` streams: Server-Sent Events written straight to each
//! viewer's connection, the current totals at once and then each change.
//!
//! The app's `/events` route only answers with the headers and an
//! [`EventStream`] mark; [`crate::connection`] sees the mark, writes the
//! headers and hands the connection to [`stream`], which seats the viewer in
//! its worker thread's [`Audience`]. One task per worker thread waits for the
//! totals to change and writes the new frame (rendered once per update,
//! already framed as an HTTP/1.1 chunk) to every seat in turn, one
//! non-blocking write each: per update and viewer there is that one system
//! call, no task woken, no buffer and no lock. A viewer whose socket cannot
//! take the frame at once is handed it, and its own task finishes the write;
//! while it does, newer updates replace the frame it has yet to start (each
//! frame is a whole snapshot). A viewer that cannot take a frame for
//! [`WRITE_LIMIT`] is dropped. The streams end when the feed does, which it
//! does on a graceful stop.
//!
//! Metrics recorded here: `result_viewers_connected`.

use crate::live::{Feed, Snapshot};
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A comment line sent to idle streams so proxies keep them open.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

/// How long one frame may wait for a viewer that does not read.
pub const WRITE_LIMIT: Duration = Duration::from_secs(30);

/// `# HELP` of the metrics recorded here.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "result_viewers_connected",
        metrics::Unit::Count,
        "Open /events streams: viewers watching the results live."
    );
}

/// Writes all of `bytes` to `connection`, waiting at most [`WRITE_LIMIT`];
/// false if the peer is gone or takes nothing for that long.
pub async fn send(connection: &TcpStream, bytes: &[u8]) -> bool {
    let write = async {
        let mut written = 0;
        while written < bytes.len() {
            connection.writable().await?;
            match connection.try_write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok::<_, std::io::Error>(())
    };
    matches!(tokio::time::timeout(WRITE_LIMIT, write).await, Ok(Ok(())))
}

/// Tells the connection that this answer opens an event stream on `feed`.
#[derive(Debug, Clone)]
pub struct EventStream(pub Feed);

/// How a stream's frames are delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// HTTP/1.1: each frame is one chunk; a zero-length chunk ends the stream.
    Chunked,
    /// HTTP/1.0: the bytes as they are; closing the connection ends the stream.
    UntilClose,
}

impl Framing {
    fn snapshot_ref(self, snapshot: &Snapshot) -> &Bytes {
        match self {
            Framing::Chunked => &snapshot.chunk,
            Framing::UntilClose => &snapshot.event,
        }
    }

    fn frame(self, text: &'static [u8]) -> Bytes {
        match self {
            Framing::Chunked => chunk(text),
            Framing::UntilClose => Bytes::from_static(text),
        }
    }
}

/// `bytes` as one HTTP/1.1 chunk.
pub fn chunk(bytes: &[u8]) -> Bytes {
    let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
    framed.extend_from_slice(bytes);
    framed.extend_from_slice(b"\r\n");
    Bytes::from(framed)
}

/// Counts a viewer while its stream is open.
struct Viewer;

impl Viewer {
    fn arrive() -> Self {
        metrics::gauge!("result_viewers_connected").increment(1.0);
        Viewer
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        metrics::gauge!("result_viewers_connected").decrement(1.0);
    }
}

/// One viewer, as its worker thread's audience sees it.
struct Seat {
    connection: TcpStream,
    framing: Framing,
    /// The rest of a frame the socket took only part of: written next, whole.
    rest: RefCell<Option<Bytes>>,
    /// The newest frame this viewer has not started (replaced by newer ones).
    newest: RefCell<Option<Bytes>>,
    /// Its task is writing (the start of the stream, or what is owed).
    busy: Cell<bool>,
    /// The socket failed.
    lost: Cell<bool>,
    /// The feed ended: write the stream's end and stop.
    ended: Cell<bool>,
    /// Wakes the viewer's task: something is owed, or it is lost or ended.
    nudge: Notify,
}

impl Seat {
    fn new(connection: TcpStream, framing: Framing) -> Self {
        Seat {
            connection,
            framing,
            rest: RefCell::new(None),
            newest: RefCell::new(None),
            busy: Cell::new(true),
            lost: Cell::new(false),
            ended: Cell::new(false),
            nudge: Notify::new(),
        }
    }

    /// Writes `frame` without waiting; what the socket does not take is
    /// left to the viewer's task.
    fn offer(&self, frame: &Bytes) {
        if self.busy.get() {
            *self.newest.borrow_mut() = Some(frame.clone());
            self.nudge.notify_one();
            return;
        }
        let rest = match self.connection.try_write(frame) {
            Ok(n) if n == frame.len() => return,
            Ok(n) => frame.slice(n..),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => frame.clone(),
            Err(_) => {
                self.lost.set(true);
                self.nudge.notify_one();
                return;
            }
        };
        self.busy.set(true);
        *self.rest.borrow_mut() = Some(rest);
        self.nudge.notify_one();
    }

    /// Writes what is owed until nothing is; false if the viewer is lost.
    async fn settle(&self) -> bool {
        loop {
            let rest = self.rest.borrow_mut().take();
            let owed = rest.or_else(|| self.newest.borrow_mut().take());
            let Some(bytes) = owed else {
                self.busy.set(false);
                return true;
            };
            self.busy.set(true);
            if !send(&self.connection, &bytes).await {
                return false;
            }
        }
    }

    /// Resolves when the viewer closes its side (a browser sends nothing
    /// more on an event stream; anything it does send is read and dropped).
    async fn closed(&self) {
        let mut scratch = [0u8; 64];
        loop {
            if std::future::poll_fn(|cx| self.connection.poll_read_ready(cx))
                .await
                .is_err()
            {
                return;
            }
            match self.connection.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// The viewers of one feed on one worker thread, and the task that writes
/// each update to all of them.
struct Audience {
    feed: Feed,
    seats: RefCell<Places<Seat>>,
}

/// Weak places: a seat goes (and its socket closes) when its viewer's task
/// ends. Its place is cleared by the next update, or by a later arrival once
/// the list has doubled since it was last cleared, so viewers coming and
/// going while the totals stand still cannot grow it without bound.
struct Places<T> {
    places: Vec<Weak<T>>,
    clear_at: usize,
}

impl<T> Places<T> {
    const FEW: usize = 64;

    fn new() -> Self {
        Places {
            places: Vec::new(),
            clear_at: Self::FEW,
        }
    }

    fn push(&mut self, seat: &Rc<T>) {
        if self.places.len() >= self.clear_at {
            self.places.retain(|place| place.strong_count() > 0);
            self.clear_at = (2 * self.places.len()).max(Self::FEW);
        }
        self.places.push(Rc::downgrade(seat));
    }
}

thread_local! {
    static AUDIENCES: RefCell<Vec<Rc<Audience>>> = const { RefCell::new(Vec::new()) };
}

impl Audience {
    /// This thread's audience of `feed`, its task started on first use.
    fn of(feed: &Feed) -> Rc<Audience> {
        AUDIENCES.with_borrow_mut(|audiences| {
            if let Some(audience) = audiences.iter().find(|a| a.feed.same_channel(feed)) {
                return audience.clone();
            }
            let mut own = feed.clone();
            own.mark_unchanged();
            let audience = Rc::new(Audience {
                feed: own,
                seats: RefCell::new(Places::new()),
            });
            audiences.push(audience.clone());
            tokio::task::spawn_local(audience.clone().follow());
            audience
        })
    }

    /// Writes each update to every seat, until the feed ends.
    async fn follow(self: Rc<Self>) {
        let mut feed = self.feed.clone();
        while feed.changed().await.is_ok() {
            let snapshot = feed.borrow_and_update().clone();
            self.seats.borrow_mut().places.retain(|seat| {
                let Some(seat) = seat.upgrade() else {
                    return false;
                };
                seat.offer(seat.framing.snapshot_ref(&snapshot));
                true
            });
        }
        AUDIENCES.with_borrow_mut(|audiences| audiences.retain(|a| !Rc::ptr_eq(a, &self)));
        for seat in self.seats.borrow_mut().places.drain(..) {
            if let Some(seat) = seat.upgrade() {
                seat.ended.set(true);
                seat.nudge.notify_one();
            }
        }
    }
}

/// Streams the totals to the viewer on `connection` (its headers already
/// written) until the viewer leaves, stops reading, or the feed ends.
pub async fn stream(connection: TcpStream, mut feed: Feed, framing: Framing) {
    let _viewer = Viewer::arrive();
    let seat = Rc::new(Seat::new(connection, framing));
    Audience::of(&feed).seats.borrow_mut().push(&seat);
    // Seated before the first frame is read, so no update falls between.
    let first = [
        framing.frame(b"retry: 1000\n\n"),
        framing.snapshot_ref(&feed.borrow_and_update()).clone(),
    ]
    .concat();
    let started = send(&seat.connection, &first).await;
    drop(first);
    if !started || !seat.settle().await {
        return;
    }
    let keepalive = tokio::time::sleep(KEEPALIVE_EVERY);
    tokio::pin!(keepalive);
    loop {
        tokio::select! {
            () = seat.nudge.notified() => {
                if seat.ended.get() {
                    if framing == Framing::Chunked {
                        send(&seat.connection, b"0\r\n\r\n").await;
                    }
                    return;
                }
                if seat.lost.get() || !seat.settle().await {
                    return;
                }
            }
            () = keepalive.as_mut() => {
                keepalive.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE_EVERY);
                if !seat.busy.get() {
                    seat.offer(&framing.frame(b": keepalive\n\n"));
                }
            }
            () = seat.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A connected pair whose buffers are small, so a few frames fill them.
    async fn narrow_pair() -> (TcpStream, TcpStream) {
        let listening = tokio::net::TcpSocket::new_v4().unwrap();
        listening.set_send_buffer_size(4096).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listening.listen(1).unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let (client, accepted) = tokio::join!(
            client.connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        (accepted.unwrap().0, client.unwrap())
    }

    #[test]
    fn viewers_coming_and_going_between_updates_leave_no_trail_of_places() {
        let mut places = Places::new();
        let staying: Vec<Rc<usize>> = (0..100).map(Rc::new).collect();
        for seat in &staying {
            places.push(seat);
        }
        for passing in 0..100_000 {
            places.push(&Rc::new(passing));
        }
        assert!(places.places.len() <= 400, "{} places", places.places.len());
        let live: Vec<usize> = places
            .places
            .iter()
            .filter_map(|p| p.upgrade())
            .map(|p| *p)
            .collect();
        assert_eq!(live, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_viewer_that_falls_behind_gets_whole_frames_and_ends_on_the_newest() {
        let (server, mut viewer) = narrow_pair().await;
        let seat = Rc::new(Seat::new(server, Framing::Chunked));
        seat.busy.set(false);
        let frames = 100;
        for n in 0..frames {
            seat.offer(&chunk(
                format!("{n:05} {}\n\n", "x".repeat(6000)).as_bytes(),
            ));
        }
        assert!(seat.busy.get(), "the socket took every frame at once");

        let local = tokio::task::LocalSet::new();
        let writer = seat.clone();
        let settled = local.spawn_local(async move { writer.settle().await });
        let last = format!("{:05} ", frames - 1);
        let mut bytes = Vec::new();
        local
            .run_until(async {
                while !(String::from_utf8_lossy(&bytes).contains(&last)
                    && bytes.ends_with(b"\n\n\r\n"))
                {
                    let mut chunk = [0u8; 8192];
                    let n = viewer.read(&mut chunk).await.unwrap();
                    assert!(n > 0);
                    bytes.extend_from_slice(&chunk[..n]);
                }
                assert!(settled.await.unwrap());
            })
            .await;
        assert!(!seat.busy.get());

        // Every chunk whole, numbers rising, some skipped, the newest last.
        let mut text = String::from_utf8(bytes).unwrap();
        let mut seen = Vec::new();
        while !text.is_empty() {
            let (size, rest) = text.split_once("\r\n").expect("a chunk size line");
            let size = usize::from_str_radix(size, 16).expect("a hex chunk size");
            assert_eq!(&rest[size..size + 2], "\r\n", "a torn chunk");
            seen.push(rest[..5].parse::<usize>().unwrap());
            text = rest[size + 2..].to_owned();
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&(frames - 1)));
        assert!(seen.len() < frames, "nothing was skipped: {seen:?}");
    }
}
