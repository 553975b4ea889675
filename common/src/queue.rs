//! The Redis keys of the vote queue.
//!
//! `votes` is the original app's list and stays the only entry point: the
//! original vote image pushes to it and the original worker pops from it. Our
//! worker moves what it claims into a processing list of its own and removes it
//! only after Postgres has committed, so a crash never loses a claimed vote.

/// The list `vote` appends ballots to (RPUSH) and the worker claims from the head.
pub const VOTES: &str = "votes";

/// Messages that are not votes, moved aside by the worker with their reason logged.
pub const DEAD_LETTERS: &str = "votes:dead";

/// Votes Postgres refused to store (a constraint or trigger), each as JSON
/// `{"message": <the original message>, "reason": ..., "sqlstate": ...}`.
pub const REJECTED: &str = "votes:rejected";

/// Prefix of each worker's processing list: `votes:processing:<worker id>` holds
/// exactly the batch that worker has claimed and not yet committed.
pub const PROCESSING_PREFIX: &str = "votes:processing:";

/// Prefix of each worker's heartbeat: `votes:worker:<worker id>`, a key with an
/// expiry that the worker keeps refreshing. When it lapses, any other worker may
/// put that worker's processing list back on `votes`.
pub const HEARTBEAT_PREFIX: &str = "votes:worker:";

/// The keys one worker owns.
#[derive(Debug, Clone)]
pub struct WorkerKeys {
    pub worker_id: String,
    pub processing: String,
    pub heartbeat: String,
}

impl WorkerKeys {
    pub fn new(worker_id: &str) -> Self {
        Self {
            worker_id: worker_id.to_owned(),
            processing: format!("{PROCESSING_PREFIX}{worker_id}"),
            heartbeat: format!("{HEARTBEAT_PREFIX}{worker_id}"),
        }
    }

    /// The keys of the worker whose processing list is `processing_key`.
    pub fn from_processing_key(processing_key: &str) -> Option<Self> {
        processing_key
            .strip_prefix(PROCESSING_PREFIX)
            .map(Self::new)
    }
}

/// `PING` with a one-second limit, for readiness checks.
pub async fn ping(redis: &mut redis::aio::ConnectionManager) -> Result<(), String> {
    let command = redis::cmd("PING");
    let answer = command.query_async::<String>(redis);
    match tokio::time::timeout(std::time::Duration::from_secs(1), answer).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1s".into()),
    }
}
