//! The Redis keys one worker owns: its processing list and its heartbeat,
//! named from its `WORKER_ID` with the prefixes in `wire::queue`.

use wire::queue::{HEARTBEAT_PREFIX, PROCESSING_PREFIX};

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
