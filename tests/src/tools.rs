//! Tools a test needs from the machine (python3, tmux, go, chromium, Python headers).
//!
//! Where a tool is missing a test may skip, saying so, on a developer's machine; in CI
//! (`GPULEAK_REQUIRE_TOOLS=1`, set by `.ci/run`, which installs them) a skip fails the test
//! instead, so a runner whose install failed cannot go green without that coverage.

use std::process::Command;

/// Whether `python3` runs here; the tests that need it say "skipped" and return when not (CI
/// installs it).
pub fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing("python3");
    }
    ok
}

/// Set by `.ci/run`: every tool a test needs must be there.
pub const REQUIRE_TOOLS: &str = "GPULEAK_REQUIRE_TOOLS";

/// Whether a missing tool fails the test rather than skipping it.
pub fn tools_required() -> bool {
    std::env::var_os(REQUIRE_TOOLS).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `what` a test needs is not here: fails the test when [`tools_required`], else nothing (the
/// caller says it skips).
#[track_caller]
pub fn missing(what: &str) {
    if tools_required() {
        panic!("cannot run: {what} is missing ({REQUIRE_TOOLS} is set: a skip is a failure here)");
    }
}

/// A test cannot run here because `why` (a tool or file is missing): prints that it is
/// skipped, or panics when [`tools_required`]. The caller returns right after.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    if tools_required() {
        panic!("{test} cannot run: {why} ({REQUIRE_TOOLS} is set: a skip is a failure here)");
    }
    eprintln!("{test}: skipped: {why}");
}
