//! The results page, rendered by askama (HTML-escaped) with the current
//! snapshot, then kept live by its embedded script.

use crate::tally::Tally;
use askama::Template;
use common::poll::PollOptions;

#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultPage<'a> {
    pub options: &'a PollOptions,
    pub tally: Tally,
    pub percent_a: u8,
    pub percent_b: u8,
    pub label: String,
    /// Set while Postgres cannot be reached.
    pub problem: Option<&'a str>,
}

impl<'a> ResultPage<'a> {
    pub fn new(options: &'a PollOptions, tally: Tally, problem: Option<&'a str>) -> Self {
        let (percent_a, percent_b) = tally.percentages();
        Self {
            options,
            tally,
            percent_a,
            percent_b,
            label: tally.total_label(),
            problem,
        }
    }
}

pub const STYLE: &str = include_str!("../static/result.css");
pub const SCRIPT: &str = include_str!("../static/result.js");
