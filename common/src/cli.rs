//! The command line every binary shares: `--help` lists the environment
//! variables with their defaults, `--version`, and `healthcheck`, which asks the
//! running service's own `/healthz` so images need neither a shell nor curl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// One environment variable a binary reads, with its default.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// What a binary says about itself in `--help`.
#[derive(Debug)]
pub struct Usage {
    pub binary: &'static str,
    pub summary: &'static str,
    pub default_port: u16,
    /// Subcommands of this binary beyond the shared ones, with what they do.
    pub commands: &'static [(&'static str, &'static str)],
    pub vars: &'static [EnvVar],
}

/// Handles `--help`, `--version` and `healthcheck`; `None` means "run the service".
pub fn handle_args(usage: &Usage) -> Option<ExitCode> {
    let arg = std::env::args().nth(1)?;
    match arg.as_str() {
        "-h" | "--help" | "help" => {
            print!("{}", help_text(usage));
            Some(ExitCode::SUCCESS)
        }
        "-V" | "--version" => {
            println!("{} {}", usage.binary, env!("CARGO_PKG_VERSION"));
            Some(ExitCode::SUCCESS)
        }
        "healthcheck" => Some(healthcheck(usage.default_port)),
        other => {
            eprintln!("{}: unknown argument {other:?}; try --help", usage.binary);
            Some(ExitCode::from(2))
        }
    }
}

pub fn help_text(usage: &Usage) -> String {
    let name = usage.binary;
    let mut commands = vec![
        (String::new(), "run the service"),
        (
            "healthcheck".to_owned(),
            "exit 0 if the service on $PORT answers /healthz",
        ),
    ];
    commands.extend(usage.commands.iter().map(|(c, m)| ((*c).to_owned(), *m)));
    commands.push(("--help".to_owned(), "this text"));
    let mut text = format!(
        "{name} {}: {}\n\nUSAGE:\n",
        env!("CARGO_PKG_VERSION"),
        usage.summary
    );
    for (command, meaning) in commands {
        let line = format!("{name} {command}");
        text.push_str(&format!("    {line:<20} {meaning}\n"));
    }
    text.push_str("\nENVIRONMENT (default in brackets):\n");
    for var in usage.vars {
        text.push_str(&format!(
            "    {:<16} {} [{}]\n",
            var.name, var.meaning, var.default
        ));
    }
    text
}

fn healthcheck(default_port: u16) -> ExitCode {
    let port = crate::config::port(default_port).unwrap_or(default_port);
    match probe(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck on port {port} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe(port: u16) -> std::io::Result<()> {
    let timeout = Duration::from_secs(3);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answered {:?}",
            String::from_utf8_lossy(&head)
        )))
    }
}

/// The whole `main` of a service: arguments, telemetry, configuration (a bad
/// value exits 2 naming the variable), then `start` until SIGTERM or SIGINT.
pub async fn run_service<C, E, Fut>(
    usage: &Usage,
    config: impl FnOnce() -> Result<C, E>,
    start: impl FnOnce(C, tokio_util::sync::CancellationToken) -> anyhow::Result<Fut>,
) -> ExitCode
where
    E: std::fmt::Display,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    if let Some(code) = handle_args(usage) {
        return code;
    }
    crate::telemetry::init();
    let config = match config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{}: {e}", usage.binary);
            return ExitCode::from(2);
        }
    };
    let stop = crate::shutdown::on_signal();
    let running = match start(config, stop) {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(error = ?e, "{} could not start", usage.binary);
            eprintln!("{}: {e:#}", usage.binary);
            return ExitCode::FAILURE;
        }
    };
    match running.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "{} stopped with an error", usage.binary);
            ExitCode::FAILURE
        }
    }
}

/// The variables all services read.
pub const REDIS_URL_VAR: EnvVar = EnvVar {
    name: crate::config::REDIS_URL,
    default: crate::config::DEFAULT_REDIS_URL,
    meaning: "Redis holding the vote queue",
};
pub const DATABASE_URL_VAR: EnvVar = EnvVar {
    name: crate::config::DATABASE_URL,
    default: crate::config::DEFAULT_DATABASE_URL,
    meaning: "Postgres holding the votes table (sslmode as in libpq)",
};
pub const REDIS_CA_FILE_VAR: EnvVar = EnvVar {
    name: crate::config::REDIS_CA_FILE,
    default: "system roots",
    meaning: "PEM CA file a rediss:// server is checked against",
};
pub const DATABASE_CA_FILE_VAR: EnvVar = EnvVar {
    name: crate::config::DATABASE_CA_FILE,
    default: "system roots",
    meaning: "PEM CA file for sslmode=verify-ca/verify-full (or require)",
};
pub const OPTION_A_VAR: EnvVar = EnvVar {
    name: crate::config::OPTION_A,
    default: crate::config::DEFAULT_OPTION_A,
    meaning: "name of the first option",
};
pub const OPTION_B_VAR: EnvVar = EnvVar {
    name: crate::config::OPTION_B,
    default: crate::config::DEFAULT_OPTION_B,
    meaning: "name of the second option",
};
pub const BIND_ADDRESS_VAR: EnvVar = EnvVar {
    name: crate::config::BIND_ADDRESS,
    default: "0.0.0.0",
    meaning: "address the HTTP server listens on",
};
pub const DRAIN_SECONDS_VAR: EnvVar = EnvVar {
    name: crate::config::DRAIN_SECONDS,
    default: "5",
    meaning: "seconds a stopping service keeps serving, readiness 503",
};
pub const LOG_FORMAT_VAR: EnvVar = EnvVar {
    name: crate::config::LOG_FORMAT,
    default: "text",
    meaning: "log format: text or json",
};
pub const RUST_LOG_VAR: EnvVar = EnvVar {
    name: "RUST_LOG",
    default: "info",
    meaning: "log level filter",
};
