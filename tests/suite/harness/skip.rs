//! Tests that cannot run here (no Docker engine, no cluster, no node): outside
//! CI they say why and pass; in CI, where everything they need is provided, a
//! skip is a failure, so a broken engine or node cannot turn CI green.
//!
//! CI is `CI=true` (what CI services set) or `VOTINGAPP_REQUIRE_ALL=1` (what
//! `.ci/run` sets). scripts/test.sh applies the same rule to the cluster's node.

/// The variable `.ci/run` sets so that no test may skip.
pub const REQUIRE_ALL: &str = "VOTINGAPP_REQUIRE_ALL";

/// Whether a skip must fail the test, given the values of `CI` and
/// [`REQUIRE_ALL`]: either one set to `true` or `1` (any case).
pub fn skips_fail(ci: Option<&str>, require_all: Option<&str>) -> bool {
    let set = |value: Option<&str>| {
        value.is_some_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"))
    };
    set(ci) || set(require_all)
}

/// `test` cannot run, for `reason`: prints why (outside CI), or fails the
/// test with the reason (in CI). The caller returns right after.
pub fn skip(test: &str, reason: &str) {
    let var = |name: &str| std::env::var(name).ok();
    if skips_fail(var("CI").as_deref(), var(REQUIRE_ALL).as_deref()) {
        panic!("{test} cannot be skipped in CI (CI or {REQUIRE_ALL} is set): {reason}");
    }
    eprintln!("skipped: {test}: {reason}");
}

#[cfg(test)]
mod tests {
    use super::skips_fail;

    #[test]
    fn a_skip_passes_outside_ci() {
        assert!(!skips_fail(None, None));
        assert!(!skips_fail(Some(""), Some("0")));
        assert!(!skips_fail(Some("false"), Some("no")));
    }

    #[test]
    fn a_skip_fails_when_ci_or_the_requirement_is_set() {
        assert!(skips_fail(Some("true"), None));
        assert!(skips_fail(Some("TRUE"), None));
        assert!(skips_fail(Some("1"), None));
        assert!(skips_fail(None, Some("1")));
        assert!(skips_fail(Some("false"), Some("true")));
    }
}
