//! The running totals of the poll, as `result` shows and serves them.

use common::poll::PollOptions;
use serde::Serialize;

/// How many voters currently back each option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub a: i64,
    pub b: i64,
}

impl Tally {
    pub fn total(&self) -> i64 {
        self.a + self.b
    }

    /// Whole percentages that add up to 100; 50/50 before the first vote.
    pub fn percentages(&self) -> (u8, u8) {
        let total = self.total();
        if total <= 0 {
            return (50, 50);
        }
        let a = ((self.a as f64 * 100.0) / total as f64).round() as u8;
        (a, 100 - a)
    }

    /// "No votes yet", "1 vote", "N votes".
    pub fn total_label(&self) -> String {
        match self.total() {
            0 => "No votes yet".to_owned(),
            1 => "1 vote".to_owned(),
            n => format!("{n} votes"),
        }
    }

    /// The `/api/results` document: `{"option_a","option_b","a","b","total"}`.
    pub fn report<'a>(&self, options: &'a PollOptions) -> TallyReport<'a> {
        let (percent_a, percent_b) = self.percentages();
        TallyReport {
            option_a: &options.a,
            option_b: &options.b,
            a: self.a,
            b: self.b,
            total: self.total(),
            percent_a,
            percent_b,
            label: self.total_label(),
        }
    }
}

/// The JSON form of a tally, for the API and the live updates.
#[derive(Debug, Serialize)]
pub struct TallyReport<'a> {
    pub option_a: &'a str,
    pub option_b: &'a str,
    pub a: i64,
    pub b: i64,
    pub total: i64,
    pub percent_a: u8,
    pub percent_b: u8,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_poll_is_even_and_says_so() {
        let empty = Tally::default();
        assert_eq!(empty.percentages(), (50, 50));
        assert_eq!(empty.total_label(), "No votes yet");
    }

    #[test]
    fn two_to_one_rounds_to_67_and_33() {
        let tally = Tally { a: 2, b: 1 };
        assert_eq!(tally.percentages(), (67, 33));
        assert_eq!(tally.total_label(), "3 votes");
        assert_eq!(Tally { a: 0, b: 1 }.total_label(), "1 vote");
        assert_eq!(Tally { a: 0, b: 1 }.percentages(), (0, 100));
    }
}
