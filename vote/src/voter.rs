//! The voter's cookies, kept for a year: `voter_id`, who is voting (as the
//! original app names it), so a returning visitor changes their vote instead
//! of adding one; and `voter_stamp`, the stamp of the voter's last vote, so
//! the next one is ordered after it whatever this replica's clock says
//! (stamp.rs).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpRequest;
use wire::ballot::VoterId;

pub const VOTER_COOKIE: &str = "voter_id";
pub const STAMP_COOKIE: &str = "voter_stamp";
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
        Self::from_cookies(&VoterCookies::of(req))
    }

    pub fn from_cookies(cookies: &VoterCookies<'_>) -> Self {
        match cookies.id {
            None => Visitor::New(new_voter_id()),
            Some(value) if is_well_formed(value) => match VoterId::parse(value) {
                Ok(id) => Visitor::Returning(id),
                Err(_) => Visitor::Malformed,
            },
            Some(_) => Visitor::Malformed,
        }
    }
}

/// The first `voter_id` and the first `voter_stamp` cookie of the
/// request's `Cookie` headers, read in place in one pass (actix's cookie
/// jar parses and copies every cookie of the request). A header that is not
/// visible ASCII is skipped whole.
#[derive(Debug, Default, Clone, Copy)]
pub struct VoterCookies<'r> {
    id: Option<&'r str>,
    stamp: Option<&'r str>,
}

impl<'r> VoterCookies<'r> {
    pub fn of(req: &'r HttpRequest) -> Self {
        let mut found = Self::default();
        for value in req.headers().get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            // `;` and `=` are ASCII: slicing at them stays on char boundaries
            // (and a byte scan is cheaper than `split` on strings this short).
            let mut rest = value;
            while !rest.is_empty() {
                let end = rest.bytes().position(|b| b == b';').unwrap_or(rest.len());
                let pair = &rest[..end];
                rest = rest.get(end + 1..).unwrap_or_default();
                let Some(equals) = pair.bytes().position(|b| b == b'=') else {
                    continue;
                };
                // A visible-ASCII value: trimming ASCII whitespace is trim().
                let (key, value) = (pair[..equals].trim_ascii(), pair[equals + 1..].trim_ascii());
                let slot = match key {
                    VOTER_COOKIE => &mut found.id,
                    STAMP_COOKIE => &mut found.stamp,
                    _ => continue,
                };
                slot.get_or_insert(value);
                if found.id.is_some() && found.stamp.is_some() {
                    return found;
                }
            }
        }
        found
    }

    /// The stamp of the voter's previous vote, from its `voter_stamp`
    /// cookie. One that is not a number we could have written (at most 19
    /// digits, no sign) is ignored: the stamp only orders this voter's own
    /// votes, the clock then decides as for a first vote, and the answer
    /// replaces the cookie.
    pub fn last_stamp(&self) -> Option<i64> {
        let value = self.stamp?;
        if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value.parse().ok()
    }
}

/// The `Set-Cookie` value that carries the stamp of the vote just cast to
/// the voter's next one (whichever replica takes it).
pub fn stamp_cookie(stamp: i64, secure: bool) -> HeaderValue {
    long_lived_cookie(STAMP_COOKIE, itoa::Buffer::new().format(stamp), secure)
}

/// 16 random hex digits, as the issue of a new voter.
pub fn new_voter_id() -> VoterId {
    let digits = wire::id::hex16(rand::random::<u64>());
    VoterId::parse(std::str::from_utf8(&digits).expect("hex digits are ASCII"))
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

/// The `Set-Cookie` value that gives a new visitor its id, `Secure` when
/// the visitor came over TLS. Written out rather than built with the cookie
/// crate: this is on every first vote's path, and the attributes never change.
pub fn voter_cookie(id: &VoterId, secure: bool) -> HeaderValue {
    long_lived_cookie(VOTER_COOKIE, id.as_str(), secure)
}

/// `name=value` for a year, HttpOnly, SameSite=Lax, on every path, and
/// `Secure` when served over TLS. `value` is a voter id or a number, both
/// valid in a header. Written into one buffer that becomes the header value
/// as it is (one allocation; every vote's answer carries one), the stamp's
/// digits by `itoa` rather than the formatting machinery.
fn long_lived_cookie(name: &str, value: &str, secure: bool) -> HeaderValue {
    const ATTRIBUTES: &str = "; HttpOnly; SameSite=Lax; Path=/; Max-Age=31536000";
    const SECURE: &str = "; Secure";
    // Exactly its length: `Bytes` takes a full buffer as it is, and one with
    // room to spare with a second allocation.
    let length =
        name.len() + 1 + value.len() + ATTRIBUTES.len() + if secure { SECURE.len() } else { 0 };
    let mut cookie = String::with_capacity(length);
    cookie.push_str(name);
    cookie.push('=');
    cookie.push_str(value);
    cookie.push_str(ATTRIBUTES);
    if secure {
        cookie.push_str(SECURE);
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(cookie))
        .expect("a voter id or a number is a valid header value")
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
    fn the_voter_cookie_is_found_among_others() {
        use actix_web::test::TestRequest;
        let visitor = |cookies: &[&str]| {
            let mut req = TestRequest::default();
            for cookie in cookies {
                req = req.append_header((header::COOKIE, *cookie));
            }
            Visitor::from_request(&req.to_http_request())
        };
        let returning = |id: &str| Visitor::Returning(VoterId::parse(id).unwrap());
        assert_eq!(visitor(&["a=1; voter_id=abc12; b=2"]), returning("abc12"));
        assert_eq!(visitor(&["voter_id=abc12"]), returning("abc12"));
        assert_eq!(visitor(&["a=1", "voter_id = x_9"]), returning("x_9"));
        assert_eq!(visitor(&["voter_id=<b>"]), Visitor::Malformed);
        assert_eq!(visitor(&["voter_id="]), Visitor::Malformed);
        assert!(matches!(visitor(&["other=1"]), Visitor::New(_)));
        assert!(matches!(visitor(&[]), Visitor::New(_)));
    }

    #[test]
    fn the_last_stamp_is_read_when_it_is_a_plain_number() {
        use actix_web::test::TestRequest;
        let stamp = |cookie: &str| {
            let req = TestRequest::default()
                .append_header((header::COOKIE, cookie))
                .to_http_request();
            VoterCookies::of(&req).last_stamp()
        };
        assert_eq!(
            stamp("voter_id=ab; voter_stamp=1700000000000001"),
            Some(1_700_000_000_000_001)
        );
        assert_eq!(stamp("voter_stamp=-5"), None);
        assert_eq!(stamp("voter_stamp=12x"), None);
        assert_eq!(stamp("voter_stamp="), None);
        assert_eq!(stamp("voter_stamp=99999999999999999999"), None);
        assert_eq!(stamp("voter_id=ab"), None);
        let text = stamp_cookie(42, false).to_str().unwrap().to_owned();
        let cookie = Cookie::parse(text.clone()).unwrap();
        assert_eq!((cookie.name(), cookie.value()), (STAMP_COOKIE, "42"));
        assert_eq!(cookie.http_only(), Some(true), "{text}");
        assert_eq!(cookie.path(), Some("/"), "{text}");
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_long_lived() {
        let id = new_voter_id();
        let text = voter_cookie(&id, false).to_str().unwrap().to_owned();
        let cookie = Cookie::parse(text.clone()).unwrap();
        assert_eq!(cookie.secure(), None, "{text}");
        let over_tls = voter_cookie(&id, true).to_str().unwrap().to_owned();
        assert_eq!(
            Cookie::parse(over_tls.clone()).unwrap().secure(),
            Some(true)
        );
        assert_eq!(cookie.value(), id.as_str());
        assert_eq!(cookie.http_only(), Some(true), "{text}");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{text}");
        assert_eq!(cookie.path(), Some("/"), "{text}");
        assert_eq!(
            cookie.max_age(),
            Some(actix_web::cookie::time::Duration::days(365)),
            "{text}"
        );
    }
}
