//! The `voter_id` cookie: who is voting, kept for a year so a returning visitor
//! changes their vote instead of adding one.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpRequest;
use wire::ballot::VoterId;

pub const VOTER_COOKIE: &str = "voter_id";
const MAX_AGE_DAYS: i64 = 365;
const MAX_COOKIE_CHARS: usize = 64;

/// What the request says about its voter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitor {
    /// No cookie yet: a new id has been drawn and must be set on the response.
    New(VoterId),
    Returning(VoterId),
    /// A cookie we could never have issued: rejected, and cleared on the response.
    Malformed,
}

impl Visitor {
    pub fn from_request(req: &HttpRequest) -> Self {
        match req.cookie(VOTER_COOKIE) {
            None => Visitor::New(new_voter_id()),
            Some(cookie) if is_well_formed(cookie.value()) => {
                match VoterId::parse(cookie.value()) {
                    Ok(id) => Visitor::Returning(id),
                    Err(_) => Visitor::Malformed,
                }
            }
            Some(_) => Visitor::Malformed,
        }
    }
}

/// 16 random hex digits, as the issue of a new voter.
pub fn new_voter_id() -> VoterId {
    VoterId::parse(&format!("{:016x}", rand::random::<u64>()))
        .expect("16 hex digits are a valid voter id")
}

/// Ids we issue are hex; the original image's are too. Letters, digits, `-`
/// and `_` are accepted so ids from other clients (load generators) work.
fn is_well_formed(value: &str) -> bool {
    (1..=MAX_COOKIE_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn voter_cookie(id: &VoterId) -> Cookie<'static> {
    Cookie::build(VOTER_COOKIE, id.as_str().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(Duration::days(MAX_AGE_DAYS))
        .finish()
}

/// Expires a malformed cookie so the next visit gets a fresh id.
pub fn clearing_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(VOTER_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_sixteen_hex_digits() {
        let id = new_voter_id();
        assert_eq!(id.as_str().len(), 16);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn only_plain_ids_are_well_formed() {
        assert!(is_well_formed("0123abcd"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("x'; DROP TABLE votes;--"));
        assert!(!is_well_formed("<b>"));
        assert!(!is_well_formed(&"a".repeat(65)));
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_long_lived() {
        let text = voter_cookie(&new_voter_id()).to_string();
        assert!(text.contains("HttpOnly"), "{text}");
        assert!(text.contains("SameSite=Lax"), "{text}");
        assert!(text.contains("Path=/"), "{text}");
        assert!(text.contains("Max-Age=31536000"), "{text}");
    }
}
