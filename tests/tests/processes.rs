//! A run is all its processes: a launcher (as torchrun, accelerate and multiprocessing do)
//! starts three workers, the third of which leaks. The launcher itself makes no CUDA call, so
//! the run's trace is its workers' `TRACE.<pid>` files; `gpuleak run`'s summary, `gpuleak
//! report` and `--fail-on leak` must all name the leaking worker.

use std::process::Command;

use gpuleak_tests::Run;
use serde_json::Value;

/// `gpuleak run -- sh -c LAUNCHER`: workers of the `caching` program with RANK 0, 1, 2; rank 2
/// keeps 2 MiB a step, the others nothing.
fn launch(trace: &std::path::Path) -> gpuleak_tests::RunOutput {
    launch_leaking(trace, 2 << 20)
}

/// As [`launch`], rank 2 keeping `leak` bytes a step.
fn launch_leaking(trace: &std::path::Path, leak: u64) -> gpuleak_tests::RunOutput {
    let worker = gpuleak_tests::program("caching");
    let script = format!(
        "for r in 0 1 2; do \
           if [ $r = 2 ]; then leak={leak}; else leak=0; fi; \
           RANK=$r LOCAL_RANK=$r '{}' --steps 40 --leak $leak >/dev/null & \
         done; wait",
        worker.display()
    );
    let out = Run::gpuleak()
        .args(["run", "--no-tui", "-o"])
        .arg(trace)
        .args(["--", "sh", "-c", &script])
        .run();
    out.assert_success();
    out
}

#[test]
fn the_leaking_worker_of_a_launcher_is_named_by_run_report_and_fail_on() {
    let dir = gpuleak_tests::TempDir::new("procs");
    let trace = dir.path().join("run.trace");
    let out = launch(&trace);

    // The run's summary: each worker's line, and the leaking one's diagnosis (as the run's own
    // trace or as a child's, whichever worker took the name first).
    let leaking: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("leak_latents grows"))
        .collect();
    assert_eq!(leaking.len(), 1, "{out}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("gpuleak: 3 processes recorded, "), "{out}");

    let json = report_json(&trace);
    let procs = json["processes"].as_array().expect("a processes list");
    assert_eq!(procs.len(), 3, "{json:#}");
    // Leaking processes first.
    assert_eq!(procs[0]["rank"], 2, "{:#}", procs[0]);
    assert_eq!(procs[0]["leaks"], true);
    assert!(procs[1..].iter().all(|p| p["leaks"] == false));
    let pid = procs[0]["pid"].as_u64().unwrap();
    // Named by its rank, as the user knows a distributed job's workers, with its pid.
    assert!(
        last.ends_with(&format!(
            "rank 2 (child {pid}) leaks; `gpuleak report {}` reports them all",
            trace.display()
        )) || last.ends_with(&format!(
            "rank 2 (pid {pid}) leaks; `gpuleak report {}` reports them all",
            trace.display()
        )),
        "{last}"
    );
    let site = procs[0]["report"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["verdict"] == "leak")
        .unwrap();
    assert!(site["label"].as_str().unwrap().contains("leak_latents"));

    // The text: the table, the leaking worker first.
    let text = gpuleak(&["report"], &trace);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.starts_with("A run of 3 processes, 1 leaking:"),
        "{text}"
    );
    let first_row = text.lines().nth(2).unwrap();
    assert!(
        first_row.trim_start().starts_with(&pid.to_string()) && first_row.contains(" leak "),
        "{text}"
    );
    assert!(text.contains(&format!("== pid {pid}, rank 2 (")), "{text}");

    // --fail-on leak fails, naming the worker and the site.
    let failed = gpuleak(&["report", "--fail-on", "leak"], &trace);
    assert_eq!(failed.status.code(), Some(1));
    let why = String::from_utf8_lossy(&failed.stderr);
    assert!(
        why.starts_with(&format!(
            "gpuleak: --fail-on leak: 1 site leaks: pid {pid}, rank 2: "
        )) && why.contains("leak_latents (+2.00 MiB/iteration)"),
        "{why}"
    );
}

#[test]
fn diff_pairs_the_workers_of_two_runs_by_rank() {
    let dir = gpuleak_tests::TempDir::new("procs-diff");
    let a = dir.path().join("a.trace");
    let b = dir.path().join("b.trace");
    launch_leaking(&a, 2 << 20);
    launch_leaking(&b, 4 << 20);
    let out = Command::new(gpuleak_tests::gpuleak_bin())
        .args(["diff", "--format", "json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pairs = json["processes"].as_array().expect("pairs of processes");
    assert_eq!(pairs.len(), 3, "{json:#}");
    for p in pairs {
        assert!(p["rank"].is_u64() && p["rank"] == p["rank_b"], "{p:#}");
    }
    // Rank 2's leak doubled: +2 MiB/iteration more at leak_latents; nothing changed elsewhere.
    let two = pairs.iter().find(|p| p["rank"] == 2).unwrap();
    let site = two["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"].as_str().unwrap().contains("leak_latents"))
        .unwrap_or_else(|| panic!("{two:#}"));
    assert_eq!(site["bytes_per_iteration_change"], 2 << 20, "{site:#}");
    for p in pairs.iter().filter(|p| p["rank"] != 2) {
        let changed = p["sites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["live_bytes_change"] != 0)
            .count();
        assert_eq!(changed, 0, "{p:#}");
    }
}

#[test]
fn the_trace_header_records_the_launchers_rank_variables() {
    let out = Run::program("caching")
        .args(["--steps", "3"])
        .env("RANK", "5")
        .env("LOCAL_RANK", "1")
        .hook()
        .run();
    out.assert_success();
    let json = gpuleak_tests::report_json(out.trace());
    assert_eq!(json["process"]["rank"], 5);
    assert_eq!(json["process"]["local_rank"], 1);
}

fn gpuleak(args: &[&str], trace: &std::path::Path) -> std::process::Output {
    Command::new(gpuleak_tests::gpuleak_bin())
        .args(args)
        .arg(trace)
        .output()
        .unwrap()
}

fn report_json(trace: &std::path::Path) -> Value {
    let out = gpuleak(&["report", "--format", "json"], trace);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid json")
}
