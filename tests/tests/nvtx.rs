//! NVTX ranges as iterations, end to end: `gpuleak run` makes the hook the program's NVTX
//! injection (NVTX_INJECTION64_PATH), and the report takes the ranges for iterations.

use std::path::Path;

use gpuleak_tests::{Run, RunOutput, TempDir};

const MIB: f64 = (1 << 20) as f64;
const IMAGES: u64 = 4;
const STEPS: u64 = 10;

/// `gpuleak run` of nvtx_sampler into `trace`.
fn run_sampler(trace: &Path, env: Option<(&str, &str)>) -> RunOutput {
    let mut run = Run::gpuleak()
        .env_remove("NVTX_INJECTION64_PATH")
        .args(["run", "--no-tui", "-o"])
        .arg(trace)
        .arg("--")
        .arg(gpuleak_tests::program("nvtx_sampler"))
        .args([
            "--images",
            &IMAGES.to_string(),
            "--steps",
            &STEPS.to_string(),
        ])
        .arg("-q");
    if let Some((k, v)) = env {
        run = run.env(k, v);
    }
    let out = run.run();
    out.assert_success();
    out
}

fn report(trace: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(gpuleak_tests::gpuleak_bin())
        .args(["report", "--format", "json"])
        .args(extra)
        .arg(trace)
        .output()
        .unwrap()
}

fn report_json(trace: &Path, extra: &[&str]) -> serde_json::Value {
    let out = report(trace, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The site whose innermost named frame is `function`.
fn site<'a>(json: &'a serde_json::Value, function: &str) -> &'a serde_json::Value {
    json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["frames"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap_or("").contains(function))
        })
        .unwrap_or_else(|| panic!("no site in {function}: {json:#}"))
}

fn within(actual: &serde_json::Value, expected: f64, tolerance: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= expected * tolerance)
}

#[test]
fn gpuleak_run_sees_nvtx_ranges_and_the_report_takes_them_for_iterations() {
    let dir = TempDir::new("nvtx-run");
    let trace = dir.path().join("nvtx.trace");
    let out = run_sampler(&trace, None);
    assert!(
        out.stdout.trim_end().ends_with(" 1"),
        "the injection was loaded and initialized: {out}"
    );

    let json = report_json(&trace, &[]);
    let it = &json["iterations"];
    assert_eq!(it["source"], "nvtx", "{it}");
    assert_eq!(it["range"], "step");
    assert_eq!(it["count"], IMAGES * STEPS);
    let leak = site(&json, "denoise_step");
    assert_eq!(leak["verdict"], "leak", "{leak}");
    assert!(
        within(&leak["bytes_per_iteration"], 3.0 * MIB, 0.05),
        "{leak}"
    );

    let json = report_json(&trace, &["--iteration-range", "^image$"]);
    let it = &json["iterations"];
    assert_eq!(it["source"], "nvtx", "{it}");
    assert_eq!(it["range"], "image");
    assert_eq!(it["count"], IMAGES);
    let leak = site(&json, "denoise_step");
    assert!(
        within(&leak["bytes_per_iteration"], STEPS as f64 * 3.0 * MIB, 0.05),
        "{leak}"
    );

    let text = std::process::Command::new(gpuleak_tests::gpuleak_bin())
        .arg("report")
        .arg(&trace)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "Iterations: {} (NVTX range \"step\")",
            IMAGES * STEPS
        )),
        "{text}"
    );
}

#[test]
fn an_injection_the_user_set_is_kept_with_a_note() {
    let dir = TempDir::new("nvtx-theirs");
    let trace = dir.path().join("theirs.trace");
    // No such library: the program's loader says it could not load it, which shows it was kept.
    let theirs = dir.path().join("nsys-injection.so");
    let out = Run::gpuleak()
        .env("NVTX_INJECTION64_PATH", &theirs)
        .args(["run", "--no-tui", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(gpuleak_tests::program("nvtx_sampler"))
        .arg("-q")
        .run();
    out.assert_success();
    assert!(out.stderr.contains("nsys-injection.so"), "{out}");
    assert!(out.stdout.trim_end().ends_with(" -1"), "{out}");
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("NVTX_INJECTION64_PATH is already set"))
        .collect();
    assert_eq!(notes.len(), 1, "{out}");
}

#[test]
fn a_bad_iteration_range_is_one_line_and_exit_2() {
    let dir = TempDir::new("nvtx-bad");
    let missing = dir.path().join("none.trace");
    let out = report(&missing, &["--iteration-range", "step("]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--iteration-range"), "{err}");

    let out = Run::gpuleak()
        .args(["run", "--no-tui", "--iteration-range", "(", "--"])
        .arg(gpuleak_tests::program("nvtx_sampler"))
        .run();
    assert_eq!(out.code(), Some(2), "{out}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");
    assert!(out.stdout.is_empty(), "the program did not run: {out}");

    let out = std::process::Command::new(gpuleak_tests::gpuleak_bin())
        .args(["diff", "--iteration-range", "[z-a]"])
        .arg(&missing)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
}
