//! Logging: `tracing` to stdout, human-readable by default, JSON with
//! `LOG_FORMAT=json`, level from `RUST_LOG` (default `info`).
//!
//! In text logs, what a client sent (a rejected choice, a content type)
//! cannot forge or break a line: every field is written with its control
//! characters escaped ([`EscapedFields`]), newline, carriage return and NUL
//! included. JSON logs escape them already.
//!
//! A log line that cannot be written is dropped, never an error: with stdout
//! a closed pipe (`result | head -1`), tracing-subscriber would report the
//! error with `eprintln!`, which panics when stderr is closed too, and a panic
//! in the task that handles SIGTERM left the service unstoppable.

use std::fmt;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

/// The log filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,actix_server=warn,tokio_postgres=warn";

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: one readable line per event.
    Text,
    /// For log pipelines: one JSON object per line.
    Json,
}

/// Installs the global subscriber with `format` and `filter` (tracing's
/// EnvFilter syntax; [`DEFAULT_FILTER`] when it does not parse); a second
/// call (as in tests) is a no-op.
pub fn init(filter: &str, format: Format) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let installed = if format == Format::Json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.fmt_fields(EscapedFields).try_init()
    };
    // Already installed by an earlier call in this process: keep that one.
    drop(installed);
}

/// tracing-subscriber's own field formatting, with every control character
/// of the result escaped (it escapes terminal sequences, not line breaks).
struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut text = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut text), fields)?;
        writer.write_str(&escape_controls(&text))
    }
}

/// `text` with each control character (and Unicode's line and paragraph
/// separators) written as its Rust escape, so it stays on one line and
/// stays text.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped.into()
}

/// Standard output that drops what it cannot write.
struct LossyStdout;

impl std::io::Write for LossyStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().lock().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(escape_controls("plain \"text\" é"), "plain \"text\" é");
        assert_eq!(
            escape_controls("a\nFAKE ERROR\r\0\x07\u{2028}"),
            "a\\nFAKE ERROR\\r\\u{0}\\u{7}\\u{2028}"
        );
    }
}
