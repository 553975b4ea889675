//! The vote page, rendered by askama (HTML-escaped) and served with its own
//! script and styles, so it works offline and without JavaScript.

use askama::Template;
use common::config::PollOptions;
use wire::ballot::Choice;

#[derive(Template)]
#[template(path = "vote.html")]
pub struct VotePage<'a> {
    pub options: &'a PollOptions,
    pub hostname: &'a str,
    pub chosen_a: bool,
    pub chosen_b: bool,
    /// Why the last vote was not recorded, if it was not.
    pub problem: Option<String>,
}

impl<'a> VotePage<'a> {
    pub fn new(options: &'a PollOptions, hostname: &'a str, chosen: Option<Choice>) -> Self {
        Self {
            options,
            hostname,
            chosen_a: chosen == Some(Choice::A),
            chosen_b: chosen == Some(Choice::B),
            problem: None,
        }
    }

    pub fn with_problem(mut self, problem: String) -> Self {
        self.problem = Some(problem);
        self
    }
}

pub const STYLE: &str = include_str!("../static/vote.css");
pub const SCRIPT: &str = include_str!("../static/vote.js");
