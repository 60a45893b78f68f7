//! Leaks seen through a caching allocator, the way most GPU programs allocate (PyTorch, CuPy,
//! cudarc pools): the driver sees a new 20 MiB segment only when no cached block fits, so a leak
//! of 2 MiB a step arrives as a staircase, one step every 10 iterations; and under a VMM
//! allocator (PyTorch's expandable segments) the memory is physical, made with cuMemCreate.
//! Every site goes through one helper (`pool_alloc`), so only its callers tell them apart.
//!
//! The `caching` test program (tests/programs/caching.c) is the allocator; its header says what
//! each flag does.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use gpuleak_tests::{Run, RunOutput};
use serde_json::Value;

const MIB: f64 = (1u64 << 20) as f64;
const LEAK: f64 = 2.0 * MIB;

fn caching(args: &[&str]) -> (RunOutput, Value) {
    let out = Run::program("caching").args(args).hook().run();
    out.assert_success();
    let json = gpuleak_tests::report_json(out.trace());
    (out, json)
}

fn gpuleak(args: &[&str], trace: &Path) -> Output {
    Command::new(gpuleak_tests::gpuleak_bin())
        .args(args)
        .arg(trace)
        .output()
        .unwrap()
}

fn sites(json: &Value) -> &Vec<Value> {
    json["sites"].as_array().expect("sites is an array")
}

/// The sites judged `leak`.
fn leaks(json: &Value) -> Vec<&Value> {
    sites(json)
        .iter()
        .filter(|s| s["verdict"] == "leak")
        .collect()
}

fn label(site: &Value) -> &str {
    site["label"].as_str().expect("every site has a label")
}

/// Exactly one site leaks, named by the caller of the pool's helper, at 2 MiB per step within
/// 10%; the device as a whole leaks; the first diagnosis is that leak, by its label.
fn assert_the_one_leak(json: &Value, memory: &str) {
    let found = leaks(json);
    let labels: Vec<&str> = found.iter().map(|s| label(s)).collect();
    assert_eq!(found.len(), 1, "one site leaks, not {labels:?}");
    let s = found[0];
    assert_eq!(s["memory"], memory, "{s:#}");
    assert!(label(s).contains("leak_latents"), "{}", label(s));
    let bpi = s["bytes_per_iteration"].as_f64().unwrap();
    assert!(
        (bpi - LEAK).abs() <= 0.10 * LEAK,
        "{bpi} B/iteration, the program keeps {LEAK}: {s:#}"
    );
    assert_eq!(json["iterations"]["device_verdict"], "leak");
    let d = &json["diagnosis"][0];
    assert_eq!(d["cause"], "leak", "{d:#}");
    assert!(d["text"].as_str().unwrap().contains(label(s)), "{d:#}");
}

fn assert_labels_distinct(json: &Value) {
    let labels: Vec<&str> = sites(json).iter().map(label).collect();
    let unique: HashSet<&&str> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len(), "a label repeats: {labels:#?}");
}

#[test]
fn a_leak_through_a_caching_allocator_is_flagged_at_its_caller_at_2_mib_per_step() {
    let (out, json) = caching(&[]);
    // 40 steps: 80 MiB kept, in 20 MiB segments.
    assert!(out.stdout.contains("summary 40 "), "{out}");
    assert_the_one_leak(&json, "device");
    assert_labels_distinct(&json);
}

#[test]
fn a_staircase_ending_on_a_flat_run_no_longer_than_its_steps_is_still_a_leak() {
    // 33 steps: the last segment came at about step 30, so the run ends on a short flat run.
    let (_, json) = caching(&["--steps", "33"]);
    assert_the_one_leak(&json, "device");
}

#[test]
fn a_vmm_allocators_physical_memory_is_judged_like_device_memory() {
    let (out, json) = caching(&["--vmm"]);
    assert_the_one_leak(&json, "physical");
    assert_labels_distinct(&json);
    // Every physical site is judged; mappings and address ranges are views, never judged.
    for s in sites(&json) {
        match s["memory"].as_str() {
            Some("physical") => assert!(!s["verdict"].is_null(), "{s:#}"),
            _ => assert!(s["verdict"].is_null(), "{s:#}"),
        }
    }
    // The headline counts physical memory, and once: segments of 20 MiB, none freed.
    let gpu = &json["gpu"];
    assert_eq!(json["totals"]["allocations"], 0, "no cuMemAlloc under VMM");
    assert_eq!(gpu["allocations"], json["physical"]["allocations"]);
    let live = gpu["live_bytes_at_end"].as_f64().unwrap();
    assert_eq!(live % (20.0 * MIB), 0.0, "{gpu:#}");
    assert!(live >= 16.0 * MIB + 80.0 * MIB, "{gpu:#}");
    let text = gpuleak(&["report"], out.trace());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Device + physical memory: "), "{text}");
    // --fail-on leak fails on a physical leak.
    let failed = gpuleak(&["report", "--fail-on", "leak"], out.trace());
    assert_eq!(failed.status.code(), Some(1));
    let why = String::from_utf8_lossy(&failed.stderr);
    let leak = leaks(&json)[0];
    assert_eq!(
        why.trim_end(),
        format!(
            "gpuleak: --fail-on leak: 1 site leaks: {} (+2.00 MiB/iteration)",
            label(leak)
        )
    );
}

#[test]
fn gpuleak_runs_closing_line_counts_physical_memory() {
    let dir = gpuleak_tests::TempDir::new("caching-run");
    let trace = dir.path().join("vmm.trace");
    let out = Run::gpuleak()
        .args(["run", "--no-tui", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(gpuleak_tests::program("caching"))
        .args(["--vmm", "--steps", "20"])
        .run();
    out.assert_success();
    let json = gpuleak_tests::report_json(&trace);
    let live = json["gpu"]["live_bytes_at_end"].as_u64().unwrap();
    assert!(live > 0, "{:#}", json["gpu"]);
    let closing = out
        .stderr
        .lines()
        .find(|l| l.contains("still live at exit"))
        .unwrap_or_else(|| panic!("no closing line: {out}"));
    let allocations = json["gpu"]["allocations"].as_u64().unwrap();
    assert!(
        closing.contains(&format!("gpuleak: {allocations} allocations (")),
        "{closing}"
    );
    assert!(
        closing.contains(&format!(
            "{allocations} still live at exit ({:.1} MiB)",
            live as f64 / MIB
        )),
        "{closing}"
    );
}

#[test]
fn an_out_of_memory_when_cumemcreate_fails_is_blamed_on_the_leak_at_its_caller() {
    let out = Run::program("caching")
        .args(["--vmm", "--oom"])
        .env("FAKE_CUDA_CAPACITY", "256M")
        .hook()
        .run();
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stdout.contains("oom "), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    let ooms = json["ooms"].as_array().unwrap();
    assert!(
        ooms.iter().any(|o| o["memory"] == "physical"),
        "{:#}",
        json["ooms"]
    );
    let d = &json["diagnosis"][0];
    assert_eq!(d["cause"], "leak", "{:#}", json["diagnosis"]);
    let text = d["text"].as_str().unwrap();
    assert!(text.contains("because of a leak"), "{text}");
    assert!(text.contains("leak_latents"), "{text}");
}

#[test]
fn a_leak_freed_only_at_exit_says_what_it_held_at_the_last_iteration() {
    let (out, json) = caching(&["--free-at-exit"]);
    let s = leaks(&json)[0];
    assert_eq!(s["live_bytes_at_end"], 0, "{s:#}");
    let held = s["live_bytes_at_last_iteration"].as_f64().unwrap();
    assert!(held >= 60.0 * MIB, "{s:#}");
    let text = gpuleak(&["report"], out.trace());
    let text = String::from_utf8_lossy(&text.stdout);
    let phrase = format!(
        "{:.1} MiB held at the last iteration, freed at exit",
        held / MIB
    );
    assert!(text.contains(&phrase), "{phrase:?} in\n{text}");
    assert!(!text.contains("(0 B live at the end)"), "{text}");
}

#[test]
fn a_leak_freed_only_at_exit_is_shown_with_its_label_and_stack_under_its_finding() {
    let (out, json) = caching(&["--free-at-exit"]);
    let leak = label(leaks(&json)[0]).to_string();
    // Nothing is live at the end, so the top list ranks other sites first: --top 0 leaves the
    // finding alone to say where the leak is.
    let text = gpuleak(&["report", "--top", "0"], out.trace());
    let text = String::from_utf8_lossy(&text.stdout);
    let findings = text
        .split("\nFindings:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no findings in\n{text}"));
    let stack: Vec<&str> = findings
        .lines()
        .skip_while(|l| !l.contains(&leak))
        .skip(1)
        .take_while(|l| l.starts_with("      "))
        .map(str::trim)
        .collect();
    assert!(
        stack.iter().any(|f| f.starts_with("leak_latents (")),
        "{leak:?}'s stack under its finding in\n{text}"
    );
    assert!(stack.iter().any(|f| f.starts_with("main (")), "{text}");
}

#[test]
fn sites_reached_through_one_helper_are_named_apart_in_report_and_diff() {
    let (a, json) = caching(&["--steps", "20"]);
    assert_labels_distinct(&json);
    let weights = sites(&json)
        .iter()
        .find(|s| label(s).contains("load_weights"))
        .unwrap_or_else(|| panic!("no site named by load_weights: {:#}", json["sites"]));
    assert!(label(weights).contains("pool_alloc"), "{}", label(weights));

    let (b, _) = caching(&["--steps", "20", "--leak", "4194304"]);
    let diff = Command::new(gpuleak_tests::gpuleak_bin())
        .args(["diff"])
        .arg(a.trace())
        .arg(b.trace())
        .output()
        .unwrap();
    assert!(diff.status.success());
    let text = String::from_utf8_lossy(&diff.stdout);
    let named: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split("  ").last())
        .collect();
    assert!(
        named.iter().any(|l| l.contains("leak_latents")),
        "the diff names the leak by its caller:\n{text}"
    );
    let unique: HashSet<&&str> = named.iter().collect();
    assert_eq!(unique.len(), named.len(), "a label repeats:\n{text}");
}

#[test]
fn a_leak_that_stays_inside_the_pool_is_not_reported_as_health() {
    // 64 KiB a step for 40 steps: 2.5 MiB, which fits in the segments the pool already holds,
    // so the driver sees no growth at all.
    let (_, json) = caching(&["--leak", "65536"]);
    assert!(leaks(&json).is_empty(), "nothing to see at the driver");
    let v = &json["visibility"];
    assert_eq!(v["level"], "segments", "{v:#}");
    assert_eq!(v["cache"], "pool", "{v:#}");
    assert_eq!(v["causes"][0], "hidden_by_cache", "{v:#}");
    let d = &json["diagnosis"][0];
    assert_eq!(d["cause"], "hidden_by_cache", "{:#}", json["diagnosis"]);
    let text = d["text"].as_str().unwrap();
    assert!(!text.contains("No leak"), "{text}");
}

#[test]
fn a_ci_job_can_fail_where_the_report_says_a_leak_may_be_hidden_by_the_cache() {
    let (out, _) = caching(&["--leak", "65536"]);
    // No site leaks at the driver, so --fail-on leak passes...
    let leak = gpuleak(&["report", "--fail-on", "leak"], out.trace());
    assert_eq!(leak.status.code(), Some(0));
    // ...but the report says a leak may hide in the pool: hidden-leak fails, saying why.
    for what in ["hidden-leak", "leak,hidden-leak"] {
        let failed = gpuleak(&["report", "--fail-on", what], out.trace());
        let why = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(1), "--fail-on {what}: {why}");
        assert!(
            why.starts_with("gpuleak: --fail-on hidden-leak: No growth in the memory"),
            "{why}"
        );
    }
}

#[test]
fn a_run_of_two_iterations_says_how_many_more_it_needs() {
    let (_, json) = caching(&["--steps", "2"]);
    let d = &json["diagnosis"][0];
    assert_eq!(d["cause"], "too_few_iterations", "{:#}", json["diagnosis"]);
    assert!(d["text"].as_str().unwrap().contains("(4 more)"), "{d:#}");
    assert_eq!(json["visibility"]["iterations_needed"], 4);
}

#[test]
fn a_leak_on_the_second_gpu_is_judged_and_projected_on_that_gpu() {
    // GPU 0: 1 GiB with 64 MiB of weights; GPU 1: 256 MiB, 2 MiB kept a step.
    let out = Run::program("multi_gpu")
        .env("FAKE_CUDA_DEVICES", "2")
        .env("FAKE_CUDA_CAPACITY", "1G,256M")
        .hook()
        .run();
    out.assert_success();
    assert!(out.stdout.contains("summary 30 2"), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    let names = &json["process"]["devices"];
    assert_eq!(names[1], "gpuleak fake GPU 1", "{names}");
    let devices = json["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{devices:#?}");
    let (g0, g1) = (&devices[0], &devices[1]);
    assert_eq!(g0["total_bytes"], 1u64 << 30);
    assert_eq!(g1["total_bytes"], 256u64 << 20);
    assert_eq!(g1["live_bytes_at_end"], 60u64 << 20);
    assert_eq!(g1["verdict"], "leak", "{g1:#}");
    assert_ne!(g0["verdict"], "leak", "{g0:#}");
    let found = leaks(&json);
    assert_eq!(found.len(), 1);
    let s = found[0];
    assert_eq!(s["device"], 1, "{s:#}");
    assert!(label(s).contains("leak_on_second"), "{}", label(s));
    // Full when GPU 1 is: what it holds at the end (60 MiB of 256) over 2 MiB a step.
    let last = json["iterations"]["count"].as_u64().unwrap() - 1;
    let room = (256u64 << 20) - g1["held_at_last_iteration"].as_u64().unwrap();
    assert_eq!(
        s["full_at_iteration"],
        last + room.div_ceil(2 << 20),
        "{s:#}"
    );
    let d = json["diagnosis"][0]["text"].as_str().unwrap();
    assert!(
        // multi_gpu marks each step gpuleak_mark_iteration("step"): its unit is a step.
        d.contains("on GPU 1") && d.contains("GPU 1 is full at step ~"),
        "{d}"
    );
    let text = gpuleak(&["report"], out.trace());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("  GPU 1 gpuleak fake GPU 1: 60.0 MiB live at the end of 256 MiB"),
        "{text}"
    );
    assert!(
        text.lines()
            .next()
            .unwrap_or_default()
            .contains(", GPU 0 gpuleak fake GPU, GPU 1 gpuleak fake GPU 1: complete trace"),
        "{text}"
    );
}
