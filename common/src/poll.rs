//! The poll: the two names on the ballot, as vote offers them and result
//! shows them (`OPTION_A`, `OPTION_B`), checked once at start-up.

use crate::config::{
    ConfigError, DEFAULT_OPTION_A, DEFAULT_OPTION_B, MAX_OPTION_CHARS, OPTION_A, OPTION_B,
};

/// The two names on the ballot, from `OPTION_A` and `OPTION_B`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PollOptions {
    pub a: String,
    pub b: String,
}

impl PollOptions {
    pub fn new(a: String, b: String) -> Result<Self, ConfigError> {
        for (name, value) in [(OPTION_A, &a), (OPTION_B, &b)] {
            let chars = value.chars().count();
            if chars > MAX_OPTION_CHARS {
                return Err(ConfigError::new(
                    name,
                    format!("{}…", value.chars().take(16).collect::<String>()),
                    format!("{chars} characters, at most {MAX_OPTION_CHARS}"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    name,
                    value.escape_debug().to_string(),
                    "contains a control character",
                ));
            }
        }
        if a.trim() == b.trim() {
            return Err(ConfigError::new(OPTION_B, b, "must differ from OPTION_A"));
        }
        Ok(Self {
            a: a.trim().to_owned(),
            b: b.trim().to_owned(),
        })
    }
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            a: DEFAULT_OPTION_A.into(),
            b: DEFAULT_OPTION_B.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_must_be_short_distinct_and_printable() {
        assert!(PollOptions::new("Cats".into(), "Dogs".into()).is_ok());
        assert_eq!(
            PollOptions::new("Same".into(), "Same".into())
                .unwrap_err()
                .name,
            OPTION_B
        );
        assert_eq!(
            PollOptions::new("x".repeat(65), "Dogs".into())
                .unwrap_err()
                .name,
            OPTION_A
        );
        assert!(PollOptions::new("Ca\nts".into(), "Dogs".into()).is_err());
    }
}
