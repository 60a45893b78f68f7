//! `gpuleak export` of what happens over time, opened with the tools people open it with where
//! they run here: PyTorch's `torch.cuda._memory_viz` and the Perfetto file against the
//! trace-event format's rules; then where export files go, and its errors. The traces are those
//! of exports.rs.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::MIB;
use serde_json::Value;

use common::exports::*;

// ------------------------------------------------------------------------------------------------
// memory-viz

fn torch_python() -> Option<PathBuf> {
    let env = std::env::var_os("GPULEAK_TORCH_ENV")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("gpuleak/torch-2.9.1-cu128"))
        })?;
    let python = env.join("bin/python");
    python.is_file().then_some(python)
}

#[test]
fn the_memory_snapshot_opens_in_torch_memory_viz_with_the_bytes_live() {
    let run = leaky_run();
    let pickle = export(run.trace(), "memory-viz", &[]);
    // Read back here: a segment per live allocation, the history of every one.
    let snapshot: serde_pickle::Value =
        serde_pickle::value_from_slice(&std::fs::read(&pickle).unwrap(), Default::default())
            .expect("a pickle");
    let text = format!("{snapshot:?}");
    let count = |needle: &str| text.matches(needle).count() as u64;
    assert_eq!(
        count("String(\"active_allocated\")"),
        ITERATIONS,
        "segments"
    );
    assert_eq!(
        count("String(\"alloc\")"),
        2 * ITERATIONS,
        "{}",
        head(&text)
    );
    assert_eq!(
        count("String(\"free_completed\")"),
        ITERATIONS,
        "{}",
        head(&text)
    );

    let Some(python) = torch_python() else {
        gpuleak_tests::skip(
            "memory-viz",
            "no real-PyTorch environment (scripts/torch-check.sh --env-only makes it)",
        );
        return;
    };
    let viz = |args: &[&str]| {
        run_tool(
            Command::new(&python)
                .args(["-W", "ignore", "-m", "torch.cuda._memory_viz"])
                .args(args)
                .env("CUDA_VISIBLE_DEVICES", ""),
        )
    };
    let p = pickle.to_str().unwrap();
    let stats = viz(&["stats", p]);
    eprintln!("{stats}");
    assert!(
        stats.contains(&format!("segments: {ITERATIONS}\n")),
        "{stats}"
    );
    assert!(stats.contains("total_reserved: 30.0MiB\n"), "{stats}");
    assert!(stats.contains("total_allocated: 30.0MiB\n"), "{stats}");
    let trace = viz(&["trace", p]);
    // Every step's scratch buffer is freed: ten `del` lines of 8 MiB.
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.starts_with("del ") && l.ends_with("# 8.0MiB"))
            .count() as u64,
        ITERATIONS,
        "{trace}"
    );
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.contains("= cudaMalloc("))
            .count() as u64,
        2 * ITERATIONS,
        "{trace}"
    );
    let html = pickle.with_extension("plot.html");
    viz(&["trace_plot", p, "-o", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Active Memory Timeline"), "{page}");
    assert!(page.contains("snapshot.pickle"), "{page}");
}

// ------------------------------------------------------------------------------------------------
// perfetto

/// The rules of the Chrome trace-event format (the JSON Perfetto's UI imports) that the export
/// uses: every event has a phase, a name, pid and tid; timed ones a number `ts` >= 0; complete
/// events a `dur` >= 0; counters numeric arguments; instants a scope.
fn check_trace_events(doc: &Value) {
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    for e in events {
        let ph = e["ph"].as_str().unwrap_or_else(|| panic!("no phase: {e}"));
        assert!(["M", "C", "X", "i"].contains(&ph), "phase {ph}: {e}");
        assert!(e["name"].is_string(), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        if ph != "M" {
            assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
        }
        match ph {
            "X" => assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}"),
            "C" => assert!(
                e["args"]
                    .as_object()
                    .is_some_and(|a| !a.is_empty() && a.values().all(Value::is_number)),
                "{e}"
            ),
            "i" => assert!(
                ["g", "p", "t"].contains(&e["s"].as_str().unwrap_or("")),
                "{e}"
            ),
            _ => {}
        }
    }
}

/// A counter's values in time order.
fn counter(doc: &Value, name: &str) -> Vec<(f64, u64)> {
    let mut v: Vec<(f64, u64)> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C" && e["name"] == name)
        .map(|e| {
            (
                e["ts"].as_f64().unwrap(),
                e["args"]["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

#[test]
fn the_perfetto_trace_has_device_memory_per_site_counters_and_iteration_slices() {
    let run = leaky_run();
    let file = export(run.trace(), "perfetto", &[]);
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    check_trace_events(&doc);
    let device = counter(&doc, "device memory");
    assert_eq!(
        device.iter().map(|p| p.1).max(),
        Some(LEAK + SCRATCH + 27 * MIB)
    );
    assert_eq!(device.last().map(|p| p.1), Some(LEAK * ITERATIONS));
    let events = doc["traceEvents"].as_array().unwrap();
    let site_tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "C")
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("live: "))
        .collect();
    let leak_track = site_tracks
        .iter()
        .find(|n| n.starts_with("live: denoise_step"))
        .unwrap_or_else(|| panic!("no track for the leak: {site_tracks:?}"));
    let leak = counter(&doc, leak_track);
    assert_eq!(leak.last().map(|p| p.1), Some(LEAK * ITERATIONS));
    // Climbing one step at a time: 0, 3, 6 ... 30 MiB.
    let levels: Vec<u64> = leak.iter().map(|p| p.1 / LEAK).collect();
    assert_eq!(levels, (0..=ITERATIONS).collect::<Vec<_>>());
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(slices.len() as u64, ITERATIONS);
    assert_eq!(slices[0]["name"], "iteration 0");
    // Slices follow each other in time.
    for pair in slices.windows(2) {
        let end = pair[0]["ts"].as_f64().unwrap() + pair[0]["dur"].as_f64().unwrap();
        assert!(end <= pair[1]["ts"].as_f64().unwrap() + 1e-3, "{pair:?}");
    }
}

#[test]
fn out_of_memory_failures_are_perfetto_instants_and_memory_viz_oom_entries_with_stacks() {
    let d = common::scratch("export-oom");
    let trace = d.join("oom.trace");
    std::fs::write(&trace, common::leaky_trace(3, true)).unwrap();
    let file = export(&trace, "perfetto", &[]);
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    check_trace_events(&doc);
    let ooms: Vec<&Value> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "i")
        .collect();
    assert_eq!(ooms.len(), 1, "{doc}");
    let args = &ooms[0]["args"];
    assert_eq!(args["requested_bytes"], 512 * MIB);
    assert_eq!(args["live_bytes"], 6 * MIB);
    assert_eq!(args["device_free_bytes"], 10 * MIB);
    assert_eq!(args["stack"][0], "sampler+0x1200");
    // The device counter ends where the report ends: 3 x 2 MiB kept.
    assert_eq!(
        counter(&doc, "device memory").last().map(|p| p.1),
        Some(6 * MIB)
    );

    let pickle = export(&trace, "memory-viz", &[]);
    let text = format!(
        "{:?}",
        serde_pickle::value_from_slice(&std::fs::read(&pickle).unwrap(), Default::default())
            .unwrap()
    );
    assert_eq!(
        text.matches("String(\"oom\")").count(),
        1,
        "{}",
        head(&text)
    );
    assert!(
        text.contains(&format!("I64({})", 512 * MIB)),
        "{}",
        head(&text)
    );
    assert!(text.contains("sampler+0x1200"), "{}", head(&text));
}

// ------------------------------------------------------------------------------------------------
// Where files go, and errors

#[test]
fn an_existing_file_is_replaced_only_when_o_names_it() {
    let d = common::scratch("export-overwrite");
    let trace = d.join("a.trace");
    std::fs::write(&trace, common::leaky_trace(2, true)).unwrap();
    let first = export(&trace, "folded", &[]);
    assert_eq!(first, d.join("a.trace.folded"));
    let before = std::fs::read(&first).unwrap();
    // Again, without -o: refused, one line, exit 2, the file untouched.
    let o = gpuleak(&["export", "--format", "folded"], &trace);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("gpuleak: {}: already exists", first.display())),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&first).unwrap(), before);
    // Named with -o: replaced.
    std::fs::write(&first, "old").unwrap();
    let o = gpuleak(
        &[
            "export",
            "--format",
            "folded",
            "-o",
            first.to_str().unwrap(),
        ],
        &trace,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&first).unwrap(), before);
    // -o - writes to standard output, and nothing else.
    let o = gpuleak(&["export", "--format", "folded", "-o", "-"], &trace);
    assert_eq!(o.stdout, before);
}

#[test]
fn an_unwritable_path_or_a_malformed_trace_is_one_line_and_exit_2() {
    let d = common::scratch("export-errors");
    let trace = d.join("a.trace");
    std::fs::write(&trace, common::leaky_trace(2, true)).unwrap();
    let one_line = |o: &Output, starts: &str, says: &str| {
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("gpuleak: {starts}")), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(o.stdout.is_empty());
    };
    let missing_dir = d.join("no/such/dir/out.pb.gz");
    let o = gpuleak(
        &[
            "export",
            "--format",
            "pprof",
            "-o",
            missing_dir.to_str().unwrap(),
        ],
        &trace,
    );
    one_line(
        &o,
        &missing_dir.display().to_string(),
        "cannot write: no such directory",
    );
    let o = gpuleak(
        &[
            "export",
            "--format",
            "speedscope",
            "-o",
            d.to_str().unwrap(),
        ],
        &trace,
    );
    one_line(&o, &d.display().to_string(), "cannot write: is a directory");

    let bad = d.join("bad.trace");
    std::fs::write(&bad, b"these are my notes, not a trace").unwrap();
    for format in ["pprof", "memory-viz", "perfetto"] {
        let o = gpuleak(&["export", "--format", format], &bad);
        one_line(&o, &bad.display().to_string(), "(at byte 0)");
    }
    let o = gpuleak(&["report", "--format", "html"], &bad);
    one_line(&o, &bad.display().to_string(), "(at byte 0)");
    let o = gpuleak(&["export", "--format", "pprof"], &d.join("none.trace"));
    one_line(
        &o,
        &d.join("none.trace").display().to_string(),
        "no such file",
    );
}

#[test]
fn reports_and_exports_can_be_written_to_dev_null_and_dev_stdout() {
    let d = common::scratch("export-devices");
    let trace = d.join("a.trace");
    std::fs::write(&trace, common::leaky_trace(2, true)).unwrap();
    for to in ["/dev/null", "/dev/stdout"] {
        for args in [
            &["report", "-o", to][..],
            &["report", "--format", "json", "-o", to][..],
            &["export", "--format", "folded", "-o", to][..],
            &["export", "--format", "memory-viz", "-o", to][..],
        ] {
            let o = gpuleak(args, &trace);
            assert_eq!(
                o.status.code(),
                Some(0),
                "gpuleak {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            if to == "/dev/stdout" {
                assert!(!o.stdout.is_empty(), "{args:?} wrote nothing");
                // The bytes alone: the path is not printed after them.
                assert!(!o.stdout.ends_with(b"/dev/stdout\n"), "{args:?}");
            } else {
                assert!(o.stdout.is_empty(), "{args:?}");
            }
        }
    }
}
