//! The exports' test traces and the gpuleak binary and tools run on them (exports.rs,
//! exports_timeline.rs, html_report.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::MIB;
use gpuleak_tests::{Run, RunOutput};

pub const ITERATIONS: u64 = 10;
pub const LEAK: u64 = 3 * MIB;
pub const SCRATCH: u64 = 8 * MIB;

/// The sampler with its per-step leak, run under the hook.
pub fn leaky_run() -> RunOutput {
    let out = Run::program("sampler")
        .args([
            "--images",
            "2",
            "--steps",
            "5",
            "--pattern",
            "per-step-leak",
            "-q",
        ])
        .hook()
        .run();
    out.assert_success();
    out
}

pub fn gpuleak(args: &[&str], trace: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(args)
        .arg(trace)
        .output()
        .expect("gpuleak runs")
}

/// `gpuleak export TRACE --format FORMAT ARGS...`: the path it printed, checked to exist.
pub fn export(trace: &Path, format: &str, args: &[&str]) -> PathBuf {
    let mut all = vec!["export", "--format", format];
    all.extend_from_slice(args);
    let o = gpuleak(&all, trace);
    assert_eq!(
        o.status.code(),
        Some(0),
        "gpuleak export --format {format}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let path = PathBuf::from(&printed);
    assert!(path.is_file(), "printed {printed:?}, which is no file");
    path
}

/// A path in the trace's directory, for -o.
pub fn beside(trace: &Path, name: &str) -> String {
    trace.with_file_name(name).to_string_lossy().into_owned()
}

/// The start of a long text, for a failure message.
pub fn head(text: &str) -> &str {
    let mut end = text.len().min(1500);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A tool's path, or None after saying why the test that needs it passes without it.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        gpuleak_tests::skip(
            test,
            &format!("`{name}` is not installed (.ci/run installs it)"),
        );
    }
    found
}

pub fn run_tool(cmd: &mut Command) -> String {
    let o = cmd.output().expect("the tool runs");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
