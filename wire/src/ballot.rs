//! The vote message: what `vote` pushes onto the Redis list and `worker` reads.
//!
//! The original app's JSON is `{"voter_id":"…","vote":"a"}`. We add an optional
//! `ts` (microseconds, near the Unix time the vote was cast; stamped by `vote`
//! after the voter's previous vote, see vote/src/stamp.rs) so that the last vote
//! of a voter wins even when several workers or a replay see votes out of order.
//! The original worker ignores the extra field; messages without it, from the
//! original vote image, are still accepted.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest voter id the table's `VARCHAR(255)` column can hold.
pub const MAX_VOTER_ID_CHARS: usize = 255;
/// Longest message the worker will parse; anything longer is poison.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// One of the two options of the poll, as stored in Postgres (`a` or `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Choice {
    A,
    B,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::A => "a",
            Choice::B => "b",
        }
    }

    /// Parses the exact wire value; anything but `a` or `b` is rejected.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "a" => Some(Choice::A),
            "b" => Some(Choice::B),
            _ => None,
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who voted: the `voter_id` cookie of the vote page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VoterId(String);

impl VoterId {
    /// Accepts any id the `votes.id` column can store: 1 to 255 characters, no
    /// control characters. The vote service is stricter about its cookie.
    pub fn parse(value: &str) -> Result<Self, BallotError> {
        // Every id vote issues is ASCII: its length is its count of chars.
        let chars = if value.is_ascii() {
            value.len()
        } else {
            value.chars().count()
        };
        if chars == 0 {
            return Err(BallotError::EmptyVoterId);
        }
        if chars > MAX_VOTER_ID_CHARS {
            return Err(BallotError::VoterIdTooLong(chars));
        }
        if value.chars().any(char::is_control) {
            return Err(BallotError::VoterIdControlCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VoterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A vote: who, which option, and when it was cast if the sender stamped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot {
    pub voter_id: VoterId,
    pub choice: Choice,
    /// Microseconds since the Unix epoch; `None` for the original vote image.
    pub cast_at: Option<i64>,
}

/// Why a queued message is not a vote (it goes to the dead-letter list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    #[error("message is {0} bytes, more than the {MAX_MESSAGE_BYTES} allowed")]
    TooLarge(usize),
    #[error("message is not valid JSON of the vote format: {0}")]
    Malformed(String),
    #[error("unknown choice {0:?}: expected \"a\" or \"b\"")]
    UnknownChoice(String),
    #[error("voter id is empty")]
    EmptyVoterId,
    #[error("voter id is {0} characters, more than the {MAX_VOTER_ID_CHARS} allowed")]
    VoterIdTooLong(usize),
    #[error("voter id contains a control character")]
    VoterIdControlCharacter,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    voter_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    vote: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<i64>,
}

impl Ballot {
    /// Parses a message taken from the queue.
    pub fn from_json(message: &[u8]) -> Result<Self, BallotError> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(BallotError::TooLarge(message.len()));
        }
        let wire: Wire<'_> =
            serde_json::from_slice(message).map_err(|e| BallotError::Malformed(e.to_string()))?;
        let choice = Choice::parse(&wire.vote)
            .ok_or_else(|| BallotError::UnknownChoice(wire.vote.chars().take(32).collect()))?;
        Ok(Ballot {
            voter_id: VoterId::parse(&wire.voter_id)?,
            choice,
            cast_at: wire.ts,
        })
    }

    /// The message `vote` pushes: the original fields plus `ts` when stamped.
    /// Written out when the voter id needs no JSON escape (every id vote
    /// issues or accepts from its cookie: letters, digits, `-`, `_`), the
    /// same bytes serde_json writes at about a third of its instructions;
    /// serde_json writes any other.
    pub fn to_json(&self) -> String {
        let id = self.voter_id.as_str();
        if !id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            let mut json = String::with_capacity(48 + id.len());
            json.push_str(r#"{"voter_id":""#);
            json.push_str(id);
            json.push_str(r#"","vote":""#);
            json.push_str(self.choice.as_str());
            json.push('"');
            if let Some(ts) = self.cast_at {
                json.push_str(r#","ts":"#);
                json.push_str(itoa::Buffer::new().format(ts));
            }
            json.push('}');
            return json;
        }
        let wire = Wire {
            voter_id: self.voter_id.as_str().into(),
            vote: self.choice.as_str().into(),
            ts: self.cast_at,
        };
        serde_json::to_string(&wire).expect("a struct of strings and an integer always serializes")
    }

    /// Whether this ballot replaces `older` for the same voter: stamped ballots
    /// are ordered by their stamp, unstamped ones by arrival (the newest wins).
    pub fn supersedes(&self, older: &Ballot) -> bool {
        match (self.cast_at, older.cast_at) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_out_message_is_serde_jsons() {
        for id in ["f3a1", "a-b_C9", "é ü", "q\"uote", "back\\slash", "vote 🗳"] {
            for cast_at in [
                None,
                Some(0),
                Some(-5),
                Some(1_700_000_000_000_001),
                Some(i64::MAX),
            ] {
                for choice in [Choice::A, Choice::B] {
                    let ballot = Ballot {
                        voter_id: VoterId::parse(id).unwrap(),
                        choice,
                        cast_at,
                    };
                    let wire = Wire {
                        voter_id: id.into(),
                        vote: choice.as_str().into(),
                        ts: cast_at,
                    };
                    assert_eq!(ballot.to_json(), serde_json::to_string(&wire).unwrap());
                    assert_eq!(
                        Ballot::from_json(ballot.to_json().as_bytes()).unwrap(),
                        ballot
                    );
                }
            }
        }
    }

    fn ballot(json: &str) -> Result<Ballot, BallotError> {
        Ballot::from_json(json.as_bytes())
    }

    #[test]
    fn reads_the_original_message_without_a_stamp() {
        let parsed = ballot(r#"{"voter_id":"f3a1","vote":"b"}"#).unwrap();
        assert_eq!(parsed.voter_id.as_str(), "f3a1");
        assert_eq!(parsed.choice, Choice::B);
        assert_eq!(parsed.cast_at, None);
    }

    #[test]
    fn writes_the_original_fields_plus_the_stamp_and_reads_them_back() {
        let original = Ballot {
            voter_id: VoterId::parse("0123456789abcdef").unwrap(),
            choice: Choice::A,
            cast_at: Some(1_700_000_000_000_000),
        };
        let json = original.to_json();
        assert_eq!(
            json,
            r#"{"voter_id":"0123456789abcdef","vote":"a","ts":1700000000000000}"#
        );
        assert_eq!(ballot(&json).unwrap(), original);
    }

    #[test]
    fn rejects_poison_with_the_reason() {
        assert!(matches!(ballot("not json"), Err(BallotError::Malformed(_))));
        assert!(matches!(
            ballot(r#"{"vote":"a"}"#),
            Err(BallotError::Malformed(_))
        ));
        assert_eq!(
            ballot(r#"{"voter_id":"x","vote":"c"}"#),
            Err(BallotError::UnknownChoice("c".into()))
        );
        assert_eq!(
            ballot(r#"{"voter_id":"","vote":"a"}"#),
            Err(BallotError::EmptyVoterId)
        );
        let long = format!(r#"{{"voter_id":"{}","vote":"a"}}"#, "x".repeat(256));
        assert_eq!(ballot(&long), Err(BallotError::VoterIdTooLong(256)));
        let huge = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            Ballot::from_json(&huge),
            Err(BallotError::TooLarge(_))
        ));
    }

    /// A brief in-suite fuzz (scripts/fuzz.sh runs the real one): mutated
    /// messages never panic the parser, and what it accepts round-trips.
    #[test]
    fn mutated_messages_never_panic_and_accepted_ones_round_trip() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let seeds: [&[u8]; 3] = [
            br#"{"voter_id":"0123456789abcdef","vote":"a","ts":1}"#,
            br#"{"voter_id":"x","vote":"b"}"#,
            br#"{"vote":"a","voter_id":"\u00e9\"q","ts":-5,"extra":[1,{}]}"#,
        ];
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut message = seeds[round % seeds.len()].to_vec();
            for _ in 0..rng.random_range(0..4) {
                let at = rng.random_range(0..message.len());
                match rng.random_range(0..3) {
                    0 => message[at] = rng.random(),
                    1 => {
                        message.remove(at);
                    }
                    _ => message.insert(at, rng.random()),
                }
            }
            if let Ok(ballot) = Ballot::from_json(&message) {
                accepted += 1;
                assert_eq!(
                    Ballot::from_json(ballot.to_json().as_bytes()).unwrap(),
                    ballot
                );
            }
        }
        assert!(accepted > 0, "some mutations stay valid");
    }

    #[test]
    fn a_newer_stamp_supersedes_and_an_unstamped_ballot_always_does() {
        let at = |ts| Ballot {
            voter_id: VoterId::parse("v").unwrap(),
            choice: Choice::A,
            cast_at: ts,
        };
        assert!(at(Some(2)).supersedes(&at(Some(1))));
        assert!(!at(Some(1)).supersedes(&at(Some(2))));
        assert!(at(None).supersedes(&at(Some(2))));
        assert!(at(Some(1)).supersedes(&at(None)));
    }
}
