//! Votes that Postgres refuses, as opposed to a Postgres that is unreachable.
//!
//! An outage is waited out: the batch stays claimed and is retried for as long
//! as it takes. A refusal (a constraint, a trigger, a value the column will not
//! take) would fail the same way forever, so after a few tries the pipeline
//! splits the batch in halves, stores every half that goes in and narrows the
//! rest down to the single votes that are refused; those go to the list
//! `votes:rejected` with the reason, and everything else is stored.

use crate::store;
use deadpool_postgres::Pool;
use wire::ballot::Ballot;

/// Tries of a whole batch that Postgres refuses before it is split.
pub const TRIES_BEFORE_SPLIT: u32 = 3;

/// Why Postgres refused rows: its SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sqlstate: String,
    pub reason: String,
}

/// A vote Postgres would not store, with the reason.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub ballot: Ballot,
    pub refusal: Refusal,
}

impl Rejected {
    /// The entry in `votes:rejected`: the original message (ready to push back
    /// onto `votes` once the cause is fixed), the reason and its SQLSTATE.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "message": self.ballot.to_json(),
            "reason": self.refusal.reason,
            "sqlstate": self.refusal.sqlstate,
        })
        .to_string()
    }
}

/// SQLSTATE classes that blame the rows rather than the server: data
/// exceptions (22), integrity constraints (23), triggered data change (27),
/// WITH CHECK OPTION (44) and errors raised by a PL/pgSQL trigger (P0).
const REFUSING_CLASSES: [&str; 5] = ["22", "23", "27", "44", "P0"];

/// The refusal inside `error`, if Postgres refused the rows; `None` for an
/// outage, a timeout or anything else worth retrying unchanged.
pub fn refusal(error: &anyhow::Error) -> Option<Refusal> {
    let db = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<tokio_postgres::Error>())?
        .as_db_error()?;
    let sqlstate = db.code().code();
    REFUSING_CLASSES
        .iter()
        .any(|class| sqlstate.starts_with(class))
        .then(|| Refusal {
            sqlstate: sqlstate.to_owned(),
            reason: match db.constraint() {
                Some(constraint) => format!("{} (constraint {constraint})", db.message()),
                None => db.message().to_owned(),
            },
        })
}

/// Stores what Postgres accepts of `ballots` by halving the parts it refuses;
/// returns the single votes it refused. An outage on the way is an error: the
/// batch stays claimed, and replaying the parts already stored changes nothing.
pub async fn store_what_is_accepted(
    pool: &Pool,
    ballots: &[Ballot],
) -> anyhow::Result<Vec<Rejected>> {
    let mut rejected = Vec::new();
    let mut pending = vec![ballots];
    while let Some(part) = pending.pop() {
        let Err(error) = store::store(pool, part).await else {
            continue;
        };
        match (refusal(&error), part) {
            (None, _) => return Err(error.context("storing part of a refused batch")),
            (Some(refusal), [ballot]) => rejected.push(Rejected {
                ballot: ballot.clone(),
                refusal,
            }),
            (Some(_), _) => {
                // Each half stays sorted by voter id, so concurrent workers
                // still lock rows in one order.
                let (first, second) = part.split_at(part.len() / 2);
                pending.push(second);
                pending.push(first);
            }
        }
    }
    Ok(rejected)
}
