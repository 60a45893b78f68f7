//! Reading gpuleak's JSON report in a test: the report of a trace, and its sites by function.

use std::path::Path;
use std::process::Command;

use crate::paths::gpuleak_bin;

/// `gpuleak report --format json TRACE`, parsed; panics (failing the test) with gpuleak's
/// message when the report fails.
pub fn report_json(trace: &Path) -> serde_json::Value {
    let out = Command::new(gpuleak_bin())
        .args(["report", "--format", "json"])
        .arg(trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gpuleak report --format json {} failed: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether a report frame (`"name (file:line)"`) is the function `name`.
pub fn is_function(frame: &str, name: &str) -> bool {
    frame
        .strip_prefix(name)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// The one site of a JSON report whose innermost frame is the function `name`; panics (failing
/// the test) with the sites when there is not exactly one.
pub fn site_at<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let sites = json["sites"].as_array().expect("sites is an array");
    let found: Vec<&serde_json::Value> = sites
        .iter()
        .filter(|s| {
            s["frames"][0]
                .as_str()
                .is_some_and(|f| is_function(f, name))
        })
        .collect();
    assert_eq!(found.len(), 1, "one site at {name}; sites: {sites:#?}");
    found[0]
}
