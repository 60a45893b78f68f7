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

#[test]
fn a_vmm_program_is_reported_by_kind_after_its_device_and_physical_totals() {
    let d = scratch("vmm");
    std::fs::write(d.join("v.trace"), vmm_trace()).unwrap();
    let o = gpuleak(&["report", "v.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // The headline counts what fills the GPU: 1 + 3 MiB of device memory, 2 MiB physical.
    let device = out
        .find("Device + physical memory: 3 allocations (6.00 MiB), 1 free, 0 failed\n  peak 5.00 MiB live; 2 still live at the end (5.00 MiB)")
        .expect(&out);
    let block = out
        .find("Memory by kind (live at the end, peak):\n")
        .expect(&out);
    assert!(device < block, "{out}");
    for line in [
        "  device            3.00 MiB live, peak 3.00 MiB\n",
        "  physical          2.00 MiB live, peak 2.00 MiB (cuMemCreate)\n",
        "  mapping           2.00 MiB live, peak 2.00 MiB (views of physical memory, not counted again)\n",
        "  address space     64.0 GiB live, peak 64.0 GiB (reserved addresses, no memory)\n",
        "  device + physical: 5.00 MiB live, peak 5.00 MiB\n",
        "Pools: 3.00 MiB reserved at the last sample, peak 3.00 MiB; 1.00 MiB returned by 1 async free (pools may keep it); 1 trim, the last left 3.00 MiB reserved\n",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(!out.contains("managed"), "only the kinds present: {out}");

    let o = gpuleak(&["report", "--format", "json", "v.trace"], &d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid json");
    assert_eq!(v["totals"]["live_bytes_at_end"], 3 * MIB);
    assert_eq!(v["memory"]["physical_live_bytes_at_end"], 2 * MIB);
    assert_eq!(
        v["memory"]["reserved_address_space_bytes_at_end"],
        64u64 << 30
    );
    assert_eq!(v["pools"]["returned_bytes"], MIB);
    assert_eq!(v["pools"]["last_trim_reserved_bytes"], 3 * MIB);
}

#[test]
fn a_plain_device_trace_has_no_memory_by_kind_block() {
    let d = scratch("plain");
    std::fs::write(d.join("a.trace"), leaky_trace(2, true)).unwrap();
    let out = stdout(&gpuleak(&["report", "a.trace"], &d));
    assert!(!out.contains("Memory by kind"), "{out}");
    assert!(!out.contains("Pools:"), "{out}");
}

#[test]
fn fail_on_leak_fails_a_leaking_trace_and_passes_a_clean_one() {
    let d = scratch("fail-on");
    std::fs::write(d.join("leaky.trace"), stepped_trace(20, 3 * MIB)).unwrap();
    std::fs::write(d.join("clean.trace"), stepped_trace(20, 0)).unwrap();

    let o = gpuleak(&["report", "--fail-on", "leak", "leaky.trace"], &d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let findings = out.find("Findings:").expect("findings listed");
    assert!(
        findings < out.find("Device memory:").unwrap(),
        "findings come first: {out}"
    );
    assert!(
        out.contains("  leak     sampler+0x1200: +3.00 MiB/iteration, 60.0 MiB live at the end; at this rate the device is full at iteration ~"),
        "{out}"
    );
    assert!(out.contains("Iterations: 20 (from markers)"), "{out}");

    let o = gpuleak(&["report", "--fail-on", "leak", "clean.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Findings:"), "{}", stdout(&o));

    // Without --fail-on a leak is reported, not an error.
    let o = gpuleak(&["report", "leaky.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = gpuleak(&["report", "--format", "json", "leaky.trace"], &d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let leak = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["verdict"] == "leak")
        .expect("a leak site");
    assert_eq!(leak["bytes_per_iteration"], 3 * MIB);
    assert!(leak["full_at_iteration"].as_u64().unwrap() > 19);
    assert_eq!(v["ooms"][0]["iteration"], serde_json::Value::Null);
}

#[test]
fn fail_on_is_documented_in_help() {
    let d = scratch("help");
    let o = gpuleak(&["report", "--help"], &d);
    let out = stdout(&o);
    assert!(out.contains("--fail-on <WHAT>"), "{out}");
}

#[test]
fn diff_shows_the_site_that_grew() {
    let d = scratch("diff");
    std::fs::write(d.join("before.trace"), stepped_trace(20, 0)).unwrap();
    std::fs::write(d.join("after.trace"), stepped_trace(20, 3 * MIB)).unwrap();
    let o = gpuleak(&["diff", "before.trace", "after.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(
        first.starts_with("  +60.0 MiB live (0 B -> 60.0 MiB), +3.00 MiB/iteration")
            && first.ends_with("sampler+0x1200"),
        "{out}"
    );

    let o = gpuleak(
        &["diff", "--format", "json", "before.trace", "after.trace"],
        &d,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = &v["sites"][0];
    assert_eq!(top["frames"][0], "sampler+0x1200");
    assert_eq!(top["live_bytes_change"], 60 * MIB);
    assert_eq!(top["in_a"], false);
    assert_eq!(top["bytes_per_iteration_b"], 3 * MIB);
}

#[test]
fn a_trace_named_twice_is_one_process() {
    let d = scratch("twice");
    std::fs::write(d.join("a.trace"), leaky_trace(3, true)).unwrap();
    let once = gpuleak(&["report", "a.trace"], &d);
    let twice = gpuleak(&["report", "a.trace", "./a.trace"], &d);
    assert_eq!(twice.status.code(), Some(0), "{}", stderr(&twice));
    assert_eq!(stdout(&twice), stdout(&once));
}

#[test]
fn unrelated_traces_are_not_called_a_run() {
    let d = scratch("unrelated");
    std::fs::write(d.join("a.trace"), leaky_trace(3, true)).unwrap();
    std::fs::write(d.join("b.trace"), stepped_trace(4, 0)).unwrap();
    let o = gpuleak(&["report", "a.trace", "b.trace"], &d);
    let text = stdout(&o);
    assert!(text.starts_with("2 traces, 1 leaking:\n"), "{text}");
    // A launcher's trace and its worker's are a run.
    std::fs::write(d.join("a.trace.4343"), stepped_trace(4, 0)).unwrap();
    let o = gpuleak(&["report", "a.trace"], &d);
    let text = stdout(&o);
    assert!(
        text.starts_with("A run of 2 processes, 1 leaking:\n"),
        "{text}"
    );
    let o = gpuleak(&["report", "a.trace", "a.trace.4343"], &d);
    assert_eq!(stdout(&o), text);
}
