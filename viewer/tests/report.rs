//! `gpuleak report` on trace files, as a user runs it.

mod common;

use common::*;

#[test]
fn a_leaky_run_is_reported_as_text_with_its_site_and_oom() {
    let d = scratch("text");
    std::fs::write(d.join("a.trace"), leaky_trace(3, true)).unwrap();
    let o = gpuleak(&["report", "a.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("/usr/bin/sampler (pid 4242) on gpu-node: complete trace"),
        "{out}"
    );
    assert!(
        out.contains("Device memory: 6 allocations (9.00 MiB), 3 frees, 1 failed"),
        "{out}"
    );
    assert!(
        out.contains("peak 6.00 MiB live; 3 still live at the end (6.00 MiB)"),
        "{out}"
    );
    assert!(
        out.contains("#1 6.00 MiB live in 3 allocations at the end"),
        "{out}"
    );
    assert!(
        out.contains("      sampler+0x1200\n      sampler+0x10\n"),
        "{out}"
    );
    assert!(
        out.contains("cuMemAlloc of 512 MiB failed with 6.00 MiB live; the device had 10.0 MiB free of 1.00 GiB"),
        "{out}"
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn json_output_is_the_report_model() {
    let d = scratch("json");
    std::fs::write(d.join("a.trace"), leaky_trace(2, true)).unwrap();
    let o = gpuleak(&["report", "--format", "json", "a.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid json");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["totals"]["live_bytes_at_end"], 4 * MIB);
    assert_eq!(v["sites"][0]["frames"][0], "sampler+0x1200");
    assert_eq!(v["ooms"][0]["live_bytes"], 4 * MIB);
    assert_eq!(v["complete"], true);
}

#[test]
fn a_truncated_trace_is_reported_with_a_warning() {
    let d = scratch("truncated");
    let bytes = leaky_trace(2, false);
    std::fs::write(d.join("cut.trace"), &bytes[..bytes.len() - 3]).unwrap();
    let o = gpuleak(&["report", "cut.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("gpuleak: warning: cut.trace: trace ends early at byte "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(stdout(&o).contains("trace ends early at byte"));
}

fn one_line_error(args: &[&str], file: &str, bytes: Option<&[u8]>) -> String {
    let d = scratch(&format!("bad-{}", file.replace('/', "_")));
    if let Some(b) = bytes {
        std::fs::write(d.join(file), b).unwrap();
    }
    let o = gpuleak(args, &d);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with(&format!("gpuleak: {file}: ")), "{err}");
    assert!(o.stdout.is_empty());
    err
}

#[test]
fn a_missing_file_is_one_line_and_exit_2() {
    let err = one_line_error(&["report", "nope.trace"], "nope.trace", None);
    assert!(err.contains("no such file"), "{err}");
}

#[test]
fn a_file_that_is_not_a_trace_names_the_byte() {
    let err = one_line_error(
        &["report", "notes.txt"],
        "notes.txt",
        Some(b"these are my notes, not a trace"),
    );
    assert!(
        err.contains("not a gpuleak trace") && err.contains("(at byte 0)"),
        "{err}"
    );
}

#[test]
fn an_unknown_format_version_is_refused() {
    let mut b = leaky_trace(1, true);
    b[8] = 99;
    let err = one_line_error(&["report", "v99.trace"], "v99.trace", Some(&b));
    assert!(
        err.contains("version 99") && err.contains("(at byte 8)"),
        "{err}"
    );
}

#[test]
fn malformed_records_name_their_offset() {
    let mut b = leaky_trace(1, true);
    let at = b.len();
    b.extend_from_slice(&[0xee, 0]);
    let err = one_line_error(&["report", "bad.trace"], "bad.trace", Some(&b));
    assert!(err.contains(&format!("(at byte {at})")), "{err}");
}

#[test]
fn an_empty_file_is_not_a_trace() {
    let err = one_line_error(&["report", "empty.trace"], "empty.trace", Some(b""));
    assert!(err.contains("(at byte 0)"), "{err}");
}
