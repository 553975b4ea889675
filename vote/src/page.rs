//! The vote page, rendered by askama (HTML-escaped) and served with its own
//! script and styles, so it works offline and without JavaScript.
//!
//! The page depends only on the options, the hostname and the visitor's
//! choice, all fixed once the service starts, so its three everyday forms are
//! rendered once ([`Pages`]) and every request shares their bytes. Only a page
//! that reports a problem is rendered per request.

use askama::Template;
use bytes::Bytes;
use common::poll::PollOptions;
use wire::ballot::Choice;

#[derive(Template)]
#[template(path = "vote.html")]
pub struct VotePage<'a> {
    pub options: &'a PollOptions,
    pub hostname: &'a str,
    pub chosen_a: bool,
    pub chosen_b: bool,
    /// Why the last vote was refused, or may not have been recorded.
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

/// The page before a vote and after a vote for each option, rendered once.
#[derive(Debug, Clone)]
pub struct Pages {
    unvoted: Bytes,
    voted_a: Bytes,
    voted_b: Bytes,
}

impl Pages {
    pub fn render(options: &PollOptions, hostname: &str) -> Result<Self, askama::Error> {
        let page = |chosen| -> Result<Bytes, askama::Error> {
            Ok(Bytes::from(
                VotePage::new(options, hostname, chosen).render()?,
            ))
        };
        Ok(Self {
            unvoted: page(None)?,
            voted_a: page(Some(Choice::A))?,
            voted_b: page(Some(Choice::B))?,
        })
    }

    /// The page after `chosen` (or before any vote); shared, not copied.
    pub fn after(&self, chosen: Option<Choice>) -> Bytes {
        match chosen {
            None => self.unvoted.clone(),
            Some(Choice::A) => self.voted_a.clone(),
            Some(Choice::B) => self.voted_b.clone(),
        }
    }
}

pub const STYLE: &str = include_str!("../static/vote.css");
pub const SCRIPT: &str = include_str!("../static/vote.js");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_pages_are_the_rendered_ones() {
        let options = PollOptions {
            a: "Tea <hot>".into(),
            b: "Coffee".into(),
        };
        let pages = Pages::render(&options, "host-1").unwrap();
        for chosen in [None, Some(Choice::A), Some(Choice::B)] {
            let rendered = VotePage::new(&options, "host-1", chosen).render().unwrap();
            assert_eq!(pages.after(chosen), rendered.as_bytes());
        }
        let after_a = String::from_utf8(pages.after(Some(Choice::A)).to_vec()).unwrap();
        assert!(
            after_a.contains("You voted for Tea &#60;hot&#62;."),
            "{after_a}"
        );
    }
}
