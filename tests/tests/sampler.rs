//! gpuleak's own diffusion workload, `gpuleak-sampler` (kernels/: DDIM on cudarc with real CUDA
//! kernels), run on the fake CUDA driver under the hook, and what `gpuleak report --format json`
//! says about each leak it can be asked for; then `gpuleak demo`, the README's first command.
//!
//! The story checked: a user runs the sampler with one leak switched on, with or without marking
//! its steps, and the report flags exactly one site, whose frames name the leaking function in
//! kernels/src/leaks.rs, with the right verdict (leak, or sawtooth for memory given back at each
//! image's end) and the right growth; the same sampler without a leak has none. Unmarked, the
//! iterations are found from the repeating kernel launches.
//!
//! The sampler binary belongs to another package, so it must be built first (`scripts/test.sh`
//! builds the workspace; see `gpuleak_tests::sampler_bin`).

use gpuleak_tests::{Run, RunOutput, TempDir};
use serde_json::Value;

const IMAGES: u64 = 4;
const STEPS: u64 = 20;
const ITERATIONS: u64 = IMAGES * STEPS;
/// The default latents, 2 x 4 x 32 x 32 floats: what a step's scratch or kept copy holds.
const LATENT_BYTES: u64 = 2 * 4 * 32 * 32 * 4;
/// The default model: the denoiser's convolutions (hidden 32, 4 channels) and 16 MiB of
/// stand-in parameters, in floats.
const MODEL_BYTES: u64 = (32 * 4 * 9 + 32 + 32 + 4 * 32 * 9 + 4 + (16 << 20) / 4) * 4;

/// The sampler's run under the hook, and its report.
struct Sampled {
    out: RunOutput,
    json: Value,
}

/// Runs `gpuleak-sampler --leak LEAK [--mark]` (4 images of 20 steps) on the fake driver under
/// the hook, and checks that it ran there and that its iterations were found: from the markers
/// with --mark, else from the launch sequence (4 kernels a step).
fn sample(leak: &str, mark: bool) -> Sampled {
    let mut run = Run::new(gpuleak_tests::sampler_bin()).args([
        "--leak",
        leak,
        "--images",
        &IMAGES.to_string(),
        "--steps",
        &STEPS.to_string(),
    ]);
    if mark {
        run = run.arg("--mark");
    }
    let out = run.hook().run();
    out.assert_success();
    let first = out.stdout.lines().next().unwrap_or("");
    assert!(
        first.contains("fake CUDA driver") && first.contains("not executed"),
        "first line should say it runs on the fake driver: {out}"
    );
    let json = gpuleak_tests::report_json(out.trace());
    let it = &json["iterations"];
    if mark {
        assert_eq!(it["source"], "marker", "{leak}: {it:#}");
        assert_eq!(it["count"], ITERATIONS, "{leak}: {it:#}");
    } else {
        assert_eq!(it["source"], "auto", "{leak} without marks: {it:#}");
        let count = it["count"].as_u64().unwrap_or(0);
        assert!(
            count.abs_diff(ITERATIONS) <= 1,
            "{leak} without marks: {count} iterations, truth {ITERATIONS}: {it:#}"
        );
        assert_eq!(it["launches_per_iteration"], 4, "{it:#}");
    }
    Sampled { out, json }
}

fn sites(json: &Value) -> &Vec<Value> {
    json["sites"].as_array().expect("sites is an array")
}

/// Whether one of the site's frames is `function` of kernels/src/leaks.rs. Debug builds name it
/// `gpuleak_kernels::leaks::function`; release builds' line tables only `function`.
fn has_frame(site: &Value, function: &str) -> bool {
    site["frames"].as_array().is_some_and(|frames| {
        frames.iter().filter_map(Value::as_str).any(|f| {
            let name = f.split(" (").next().unwrap_or("");
            (name == function || name.ends_with(&format!("::{function}")))
                && f.contains("kernels/src/leaks.rs")
        })
    })
}

/// The one site with a frame in `function` (of kernels/src/leaks.rs).
fn site<'a>(json: &'a Value, function: &str) -> &'a Value {
    let found: Vec<&Value> = sites(json)
        .iter()
        .filter(|s| has_frame(s, function))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one site with a frame {function} in kernels/src/leaks.rs; sites: {:#}",
        json["sites"]
    );
    found[0]
}

/// The sites flagged as leaks.
fn leaks(json: &Value) -> Vec<&Value> {
    sites(json)
        .iter()
        .filter(|s| s["verdict"] == "leak")
        .collect()
}

/// The site of `function` is the only leak, growing by `per_iteration` bytes (within 5%).
fn assert_only_leak(s: &Sampled, function: &str, per_iteration: u64) {
    let site = site(&s.json, function);
    assert_eq!(site["verdict"], "leak", "{function}: {site:#}\n{}", s.out);
    let got = site["bytes_per_iteration"].as_f64().unwrap_or(0.0);
    let truth = per_iteration as f64;
    assert!(
        (got - truth).abs() <= 0.05 * truth,
        "{function}: bytes_per_iteration {got}, truth {truth} (5% allowed): {site:#}"
    );
    let all = leaks(&s.json);
    assert_eq!(all.len(), 1, "only {function} should leak: {all:#?}");
}

#[test]
fn the_sampler_says_it_runs_on_the_fake_driver_and_launches_its_kernels() {
    let out = Run::new(gpuleak_tests::sampler_bin())
        .args(["--images", "2", "--steps", "5"])
        .run();
    out.assert_success();
    let first = out.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("gpuleak-sampler: running on gpuleak's fake CUDA driver"),
        "{out}"
    );
    // 4 kernels a step: conv_in, time_silu, conv_out, ddim_update, counted by the fake.
    assert!(
        out.stdout
            .contains("done: 2 images, 10 steps, 40 kernel launches"),
        "{out}"
    );
}

#[test]
fn without_the_driver_the_sampler_fails_in_one_line() {
    let out = Run::new(gpuleak_tests::sampler_bin())
        .fake_cuda(false)
        .env("LD_LIBRARY_PATH", "/nonexistent")
        .run();
    if out.success() {
        // This machine has a CUDA driver of its own: nothing to check here.
        return;
    }
    assert_eq!(out.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("libcuda.so.1"), "{out}");
}

#[test]
fn a_scratch_buffer_never_freed_leaks_its_size_every_step() {
    for mark in [true, false] {
        let s = sample("per-step", mark);
        assert_only_leak(&s, "per_step_scratch", LATENT_BYTES);
        assert_eq!(
            site(&s.json, "per_step_scratch")["live_bytes_at_end"],
            LATENT_BYTES * ITERATIONS
        );
    }
}

#[test]
fn latents_kept_across_images_leak_a_copy_every_step() {
    for mark in [true, false] {
        let s = sample("keep-latents", mark);
        assert_only_leak(&s, "keep_latents", LATENT_BYTES);
        assert_eq!(
            site(&s.json, "keep_latents")["live_bytes_at_end"],
            LATENT_BYTES * ITERATIONS
        );
    }
}

#[test]
fn latents_kept_through_an_image_and_freed_at_its_end_are_a_sawtooth_not_a_leak() {
    for mark in [true, false] {
        let s = sample("sawtooth", mark);
        let site = site(&s.json, "keep_for_image");
        assert_eq!(site["verdict"], "sawtooth", "{site:#}");
        assert_eq!(site["live_bytes_at_end"], 0, "{site:#}");
        assert!(leaks(&s.json).is_empty(), "{:#?}", leaks(&s.json));
    }
}

#[test]
fn a_model_loaded_at_every_switch_without_freeing_the_last_leaks_a_model_per_image() {
    for mark in [true, false] {
        let s = sample("model-switch", mark);
        // One refiner loaded per image, half-way through it.
        assert_only_leak(&s, "switch_model", MODEL_BYTES / STEPS);
        assert_eq!(
            site(&s.json, "switch_model")["live_bytes_at_end"],
            MODEL_BYTES * IMAGES
        );
    }
}

#[test]
fn without_a_leak_nothing_is_flagged_and_nothing_is_left() {
    for mark in [true, false] {
        let s = sample("none", mark);
        assert!(leaks(&s.json).is_empty(), "{:#?}", leaks(&s.json));
        for site in sites(&s.json) {
            assert_ne!(site["verdict"], "sawtooth", "{site:#}");
        }
        assert_eq!(s.json["totals"]["live_bytes_at_end"], 0, "{}", s.out);
    }
}

/// `gpuleak demo --no-tui ARGS...` from the workspace's own build, the way a user runs it: no
/// fake driver in LD_LIBRARY_PATH; the demo must find it itself.
fn demo(args: &[&str]) -> RunOutput {
    Run::gpuleak()
        .args(["demo", "--no-tui"])
        .args(args)
        .fake_cuda(false)
        .run()
}

/// The text report's findings: the lines after `Findings:` up to the next blank line.
fn findings(report: &str) -> Vec<&str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with("Findings"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn gpuleak_demo_runs_the_leaking_sampler_and_prints_the_report() {
    let out = demo(&[]);
    out.assert_success();
    let all = format!("{}{}", out.stdout, out.stderr);
    let gpu = all.contains("running on a real GPU");
    assert!(
        gpu || all.contains("gpuleak's fake CUDA driver"),
        "the demo should say where it runs: {out}"
    );
    if !gpu {
        assert!(
            all.contains("fake-cuda"),
            "should say which fake driver: {out}"
        );
    }
    let found = findings(&out.stdout);
    // Named by the sampler's own function, not by cudarc's allocation wrappers inside it.
    assert!(
        found.iter().any(|l| l.trim_start().starts_with("leak")
            && l.contains("per_step_scratch (")
            && !l.contains("malloc_async")),
        "the per-step leak should be a finding at its function: {out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("per_step_scratch (") && l.contains("kernels/src/leaks.rs")),
        "the report should show the leaking function: {out}"
    );
    // The trace is kept for `gpuleak view`.
    assert_eq!(out.traces.len(), 1, "{out}");
}

#[test]
fn gpuleak_demo_takes_the_leak_to_show() {
    let out = demo(&["--leak", "sawtooth", "--images", "3", "--steps", "10"]);
    out.assert_success();
    let found = findings(&out.stdout);
    assert!(
        found.iter().any(|l| l.trim_start().starts_with("sawtooth")),
        "{out}"
    );
    assert!(
        !found.iter().any(|l| l.trim_start().starts_with("leak")),
        "{out}"
    );
}

#[test]
fn gpuleak_demo_without_the_sampler_says_what_to_build() {
    let dir = TempDir::new("demo-alone");
    let lone = dir.path().join("gpuleak");
    std::fs::copy(gpuleak_tests::gpuleak_bin(), &lone).unwrap();
    let out = Run::new(&lone).args(["demo", "--no-tui"]).run();
    assert_eq!(out.code(), Some(2), "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {out}");
    assert!(lines[0].contains("gpuleak-sampler"), "{out}");
    assert!(lines[0].contains("cargo build"), "{out}");
}

#[test]
fn a_sampler_that_runs_out_of_memory_because_of_its_leak_is_told_so() {
    // 20 MiB of device: the 16 MiB model, the step's activations, and room for about a hundred
    // leaked 32 KiB scratch buffers.
    let out = Run::new(gpuleak_tests::sampler_bin())
        .args(["--leak", "per-step", "--images", "10"])
        .env("FAKE_CUDA_CAPACITY", (20u64 << 20).to_string())
        .hook()
        .run();
    assert_eq!(out.status.code(), Some(1), "the sampler should fail: {out}");
    assert!(out.stderr.contains("out of memory"), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    let first = &json["diagnosis"][0];
    assert_eq!(first["cause"], "leak", "{:#}", json["diagnosis"]);
    let text = first["text"].as_str().unwrap_or("");
    assert!(
        text.contains("per_step_scratch (leaks.rs:"),
        "the diagnosis should name the leaking line: {text}"
    );
    assert_eq!(json["ooms"].as_array().map(Vec::len), Some(1), "{out}");
}
