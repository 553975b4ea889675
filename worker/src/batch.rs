//! A claimed batch, sorted out: one ballot per voter (the one that supersedes
//! the others) and the poison messages that are not votes at all.

use std::collections::BTreeMap;
use wire::ballot::{Ballot, BallotError, VoterId};

/// A message that is not a vote, with the reason it was refused.
#[derive(Debug, Clone)]
pub struct Poison {
    pub message: Vec<u8>,
    pub reason: BallotError,
}

/// What a batch of claimed messages amounts to.
#[derive(Debug, Default)]
pub struct SortedBatch {
    /// One ballot per voter, ordered by voter id so that concurrent upserts
    /// lock rows in the same order and never deadlock.
    pub ballots: Vec<Ballot>,
    pub poison: Vec<Poison>,
    /// Messages read, poison included.
    pub messages: usize,
}

/// Sorts messages in queue order; a later ballot of the same voter replaces an
/// earlier one unless its stamp is older.
pub fn sort(messages: &[Vec<u8>]) -> SortedBatch {
    let mut latest: BTreeMap<VoterId, Ballot> = BTreeMap::new();
    let mut poison = Vec::new();
    for message in messages {
        match Ballot::from_json(message) {
            Ok(ballot) => match latest.get(&ballot.voter_id) {
                Some(kept) if !ballot.supersedes(kept) => {}
                _ => {
                    latest.insert(ballot.voter_id.clone(), ballot);
                }
            },
            Err(reason) => poison.push(Poison {
                message: message.clone(),
                reason,
            }),
        }
    }
    SortedBatch {
        ballots: latest.into_values().collect(),
        poison,
        messages: messages.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ballot::Choice;

    fn msg(json: &str) -> Vec<u8> {
        json.as_bytes().to_vec()
    }

    #[test]
    fn keeps_the_newest_ballot_per_voter_whatever_the_order() {
        let batch = sort(&[
            msg(r#"{"voter_id":"x","vote":"b","ts":20}"#),
            msg(r#"{"voter_id":"y","vote":"a","ts":5}"#),
            msg(r#"{"voter_id":"x","vote":"a","ts":10}"#),
        ]);
        assert_eq!(batch.ballots.len(), 2);
        assert_eq!(batch.ballots[0].voter_id.as_str(), "x");
        assert_eq!(batch.ballots[0].choice, Choice::B);
        assert_eq!(batch.ballots[1].voter_id.as_str(), "y");
    }

    #[test]
    fn unstamped_ballots_keep_the_last_in_queue_order() {
        let batch = sort(&[
            msg(r#"{"voter_id":"x","vote":"a"}"#),
            msg(r#"{"voter_id":"x","vote":"b"}"#),
        ]);
        assert_eq!(batch.ballots.len(), 1);
        assert_eq!(batch.ballots[0].choice, Choice::B);
    }

    #[test]
    fn poison_is_set_aside_and_the_rest_still_counts() {
        let batch = sort(&[
            msg("{oops"),
            msg(r#"{"voter_id":"x","vote":"z"}"#),
            msg(r#"{"voter_id":"x","vote":"a"}"#),
        ]);
        assert_eq!(batch.ballots.len(), 1);
        assert_eq!(batch.poison.len(), 2);
        assert_eq!(batch.messages, 3);
    }
}
