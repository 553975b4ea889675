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
