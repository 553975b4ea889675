//! The `/events` streams: Server-Sent Events over the shared feed, the
//! current totals at once and then each change, as an actix-web streaming
//! body (actix-http frames it: chunks on HTTP/1.1, until close on HTTP/1.0).
//!
//! Every viewer's stream watches the one feed ([`crate::live`]): the totals
//! are read once per update and rendered once into a frame that all viewers
//! share (`Bytes`, no copy per viewer). A stream is asked for its next frame
//! only when its connection has room for it, and then yields the newest
//! totals, so a viewer that falls behind skips to them rather than queueing
//! every update. A stream has no timer of its own: the feed is published
//! again unchanged every [`crate::live::QUIET_TICK`], and a stream woken with
//! totals it has already sent sends a keep-alive comment instead (one timer
//! for all viewers; a timer per viewer, set again at each update, cost a
//! timer-wheel insertion and removal per viewer per update).
//! When the connection stays full, actix-http stops asking and
//! the kernel drops the connection once its peer has taken nothing for
//! [`common::http::STALLED_PEER`]. A viewer that closes its side ends its
//! stream at once (see [`common::http::Serving::streams`]). The streams end
//! when the feed does, at the end of a graceful stop's drain.
//!
//! Metrics recorded here: `result_viewers_connected`.

use crate::live::{Feed, Snapshot};
use bytes::Bytes;
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;

/// `# HELP` of the metrics recorded here.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "result_viewers_connected",
        metrics::Unit::Count,
        "Open /events streams: viewers watching the results live."
    );
}

const RETRY: &[u8] = b"retry: 1000\n\n";
const KEEPALIVE: &[u8] = b": keepalive\n\n";

/// Counts a viewer while its stream is open.
#[derive(Debug)]
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

/// One viewer's place on the feed: what it was sent last.
#[derive(Debug)]
struct Watching {
    feed: Feed,
    sent: Option<Arc<Snapshot>>,
    _viewer: Viewer,
}

/// The `text/event-stream` body for one viewer of `feed`: the reconnection
/// delay and the current totals, then the newest totals after each change,
/// and a keep-alive comment at each quiet tick of the feed; it ends when
/// the feed does.
pub fn stream(feed: Feed) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let watching = Watching {
        feed,
        sent: None,
        _viewer: Viewer::arrive(),
    };
    futures_util::stream::unfold(watching, |mut watching| async move {
        let Some(sent) = watching.sent.take() else {
            // Marked seen here, so no update falls between this and the next.
            let current = watching.feed.borrow_and_update().clone();
            let first = Bytes::from([RETRY, &current.event[..]].concat());
            watching.sent = Some(current);
            return Some((Ok(first), watching));
        };
        watching.feed.changed().await.ok()?;
        let newest = watching.feed.borrow_and_update().clone();
        let frame = if Arc::ptr_eq(&newest, &sent) {
            Bytes::from_static(KEEPALIVE)
        } else {
            newest.event.clone()
        };
        watching.sent = Some(newest);
        Some((Ok(frame), watching))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Snapshot, State};
    use crate::tally::Tally;
    use common::poll::PollOptions;
    use futures_util::StreamExt;

    fn options() -> PollOptions {
        PollOptions {
            a: "Cats".into(),
            b: "Dogs".into(),
        }
    }

    fn totals(a: i64, b: i64) -> std::sync::Arc<Snapshot> {
        Snapshot::new(State::Current(Tally { a, b }), &options())
    }

    #[tokio::test]
    async fn a_viewer_that_falls_behind_gets_the_newest_totals_then_the_end() {
        let (publish, feed) = tokio::sync::watch::channel(totals(0, 0));
        let mut viewer = Box::pin(stream(feed));
        let first = viewer.next().await.unwrap().unwrap();
        assert!(first.starts_with(RETRY), "{first:?}");
        assert!(first.ends_with(&totals(0, 0).event), "{first:?}");
        for a in 1..=50 {
            publish.send_replace(totals(a, 0));
        }
        let next = viewer.next().await.unwrap().unwrap();
        assert_eq!(next, totals(50, 0).event);
        drop(publish);
        assert!(viewer.next().await.is_none());
    }

    #[tokio::test]
    async fn a_quiet_tick_gives_a_keepalive_comment_and_a_change_the_totals() {
        let (publish, feed) = tokio::sync::watch::channel(totals(1, 2));
        let mut viewer = Box::pin(stream(feed));
        viewer.next().await.unwrap().unwrap();
        publish.send_modify(|_| {});
        let next = viewer.next().await.unwrap().unwrap();
        assert_eq!(next, Bytes::from_static(KEEPALIVE));
        publish.send_replace(totals(2, 2));
        publish.send_modify(|_| {});
        let next = viewer.next().await.unwrap().unwrap();
        assert_eq!(
            next,
            totals(2, 2).event,
            "a change is sent, not a keep-alive"
        );
    }
}
