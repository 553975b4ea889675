//! Fuzzes the vote message parser: whatever is on the queue, parsing never
//! panics, and every message it accepts writes back to an equal ballot.
#![no_main]

use wire::ballot::Ballot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|message: &[u8]| {
    if let Ok(ballot) = Ballot::from_json(message) {
        let again = Ballot::from_json(ballot.to_json().as_bytes()).expect("our own JSON parses");
        assert_eq!(again, ballot);
    }
});
