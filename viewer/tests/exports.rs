//! `gpuleak export` and `gpuleak report --format html`, opened with the tools people open them
//! with, where those run here: `go tool pprof` (Debian's golang-go), PyTorch's
//! `torch.cuda._memory_viz` (the real-PyTorch environment of scripts/torch-check.sh), headless
//! Chromium (Debian's chromium). A test whose tool is missing says so and passes; everything
//! else is checked here: speedscope's file against its published schema, the SVG with an XML
//! parser, the Perfetto file against the trace-event format's rules.
//!
//! The traces come from the `sampler` test program on the fake CUDA driver, under the hook:
//! `--images 2 --steps 5 --pattern per-step-leak` makes 10 iterations, each allocating an 8 MiB
//! scratch buffer it frees (`step_scratch`) and 3 MiB it keeps (`denoise_step`, the leak): 30 MiB
//! live at the end, 80 MiB allocated and freed, a peak of 38 MiB.

mod common;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::MIB;
use gpuleak_tests::{Run, RunOutput};
use serde_json::Value;

const ITERATIONS: u64 = 10;
const LEAK: u64 = 3 * MIB;
const SCRATCH: u64 = 8 * MIB;

/// The sampler with its per-step leak, run under the hook.
fn leaky_run() -> RunOutput {
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

fn gpuleak(args: &[&str], trace: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(args)
        .arg(trace)
        .output()
        .expect("gpuleak runs")
}

/// `gpuleak export TRACE --format FORMAT ARGS...`: the path it printed, checked to exist.
fn export(trace: &Path, format: &str, args: &[&str]) -> PathBuf {
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
fn beside(trace: &Path, name: &str) -> String {
    trace.with_file_name(name).to_string_lossy().into_owned()
}

/// The start of a long text, for a failure message.
fn head(text: &str) -> &str {
    let mut end = text.len().min(1500);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A tool's path, or None after saying why the test that needs it passes without it.
fn tool(name: &str, test: &str) -> Option<PathBuf> {
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

fn run_tool(cmd: &mut Command) -> String {
    let o = cmd.output().expect("the tool runs");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ------------------------------------------------------------------------------------------------
// pprof

/// `go tool pprof -top -unit=B`: the row of a function, as (flat bytes, cum bytes).
fn pprof_row(top: &str, function: &str) -> Option<(u64, u64)> {
    top.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.len() < 6 || cols[5..].join(" ") != function {
            return None;
        }
        let b = |s: &str| s.trim_end_matches('B').parse::<u64>().ok();
        Some((b(cols[0])?, b(cols[3])?))
    })
}

#[test]
fn a_leak_of_3_mib_per_step_is_at_the_top_of_go_tool_pprof_with_its_bytes() {
    let run = leaky_run();
    let profile = export(run.trace(), "pprof", &[]);
    assert_eq!(
        profile.file_name().unwrap().to_string_lossy(),
        format!(
            "{}.pb.gz",
            run.trace().file_name().unwrap().to_string_lossy()
        )
    );
    let Some(go) = tool("go", "pprof") else {
        return;
    };
    let pprof = |args: &[&str]| {
        run_tool(
            Command::new(&go)
                .args(["tool", "pprof"])
                .args(args)
                .arg(&profile)
                .env("HOME", std::env::temp_dir()),
        )
    };
    let top = pprof(&["-top", "-unit=B", "-sample_index=inuse_space"]);
    eprintln!("{top}");
    // The first row is the leaking function, with every byte it kept.
    let first = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .nth(1)
        .unwrap_or_default();
    assert!(first.ends_with(" denoise_step"), "{top}");
    assert_eq!(
        pprof_row(&top, "denoise_step"),
        Some((LEAK * ITERATIONS, LEAK * ITERATIONS)),
        "{top}"
    );
    assert_eq!(
        pprof_row(&top, "main"),
        Some((0, LEAK * ITERATIONS)),
        "{top}"
    );
    assert!(top.contains("Type: inuse_space"), "{top}");

    // The default sample type is inuse_space; everything allocated is there too.
    let alloc = pprof(&["-top", "-unit=B", "-sample_index=alloc_space"]);
    assert_eq!(
        pprof_row(&alloc, "step_scratch"),
        Some((SCRATCH * ITERATIONS, SCRATCH * ITERATIONS)),
        "{alloc}"
    );
    let objects = pprof(&["-top", "-sample_index=alloc_objects"]);
    assert!(
        objects
            .lines()
            .any(|l| l.trim_start().starts_with("10 ") && l.ends_with(" denoise_step")),
        "{objects}"
    );

    // -raw: sample values in the four Go heap types, functions with file and line, the
    // sampler's mapping with its build id; the leak labelled as one.
    let raw = pprof(&["-raw"]);
    assert!(
        raw.contains(
            "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]"
        ),
        "{raw}"
    );
    let leak_values = format!(
        "{ITERATIONS} {} {ITERATIONS} {}:",
        LEAK * ITERATIONS,
        LEAK * ITERATIONS
    );
    let squeezed: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squeezed.contains(&leak_values), "{raw}");
    assert!(raw.contains("verdict:[leak]"), "{raw}");
    let location = raw
        .lines()
        .find(|l| l.contains(" denoise_step "))
        .unwrap_or_default();
    assert!(
        location.contains("M=1") && location.contains("sampler.c:"),
        "{raw}"
    );
    let mapping = raw
        .lines()
        .skip_while(|l| !l.starts_with("Mappings"))
        .nth(1)
        .unwrap_or_default();
    // "1: start/limit/offset PATH BUILD_ID [FN]...": the sampler, with the build id the hook
    // recorded for it.
    let fields: Vec<&str> = mapping.split_whitespace().collect();
    assert!(
        fields.get(2).is_some_and(|p| p.ends_with("/sampler")),
        "{raw}"
    );
    assert_eq!(
        fields.get(3).copied(),
        Some(recorded_build_id(run.trace(), "/sampler").as_str())
    );

    // --what allocated opens on alloc_space; --what leaked keeps the leak only.
    let all = export(
        run.trace(),
        "pprof",
        &[
            "--what",
            "allocated",
            "-o",
            &beside(run.trace(), "all.pb.gz"),
        ],
    );
    let default_top = run_tool(
        Command::new(&go)
            .args(["tool", "pprof", "-top", "-unit=B"])
            .arg(&all)
            .env("HOME", std::env::temp_dir()),
    );
    assert!(default_top.contains("Type: alloc_space"), "{default_top}");
    let leaked = export(
        run.trace(),
        "pprof",
        &[
            "--what",
            "leaked",
            "-o",
            &beside(run.trace(), "leaked.pb.gz"),
        ],
    );
    let leaked_top = run_tool(
        Command::new(&go)
            .args([
                "tool",
                "pprof",
                "-top",
                "-unit=B",
                "-sample_index=alloc_space",
            ])
            .arg(&leaked)
            .env("HOME", std::env::temp_dir()),
    );
    assert_eq!(pprof_row(&leaked_top, "step_scratch"), None, "{leaked_top}");
    assert!(
        pprof_row(&leaked_top, "denoise_step").is_some(),
        "{leaked_top}"
    );
}

/// The GNU build id the trace recorded for the module whose path ends with `suffix`, in hex.
fn recorded_build_id(trace: &Path, suffix: &str) -> String {
    let mut reader = gpuleak_trace::open(trace).unwrap();
    while let Some(record) = reader.next_record().unwrap() {
        if let gpuleak_trace::Record::Module(m) = record
            && m.path.ends_with(suffix)
        {
            assert!(!m.build_id.is_empty(), "{m:?}");
            return m.build_id.iter().map(|b| format!("{b:02x}")).collect();
        }
    }
    panic!("no module {suffix} in {}", trace.display());
}

/// The python_sampler.py of the source tree (a Python program needs no build step).
fn python_sampler() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/python_sampler.py")
}

/// The line of python_sampler.py that carries `# site: NAME`.
fn python_line(name: &str) -> usize {
    let src = std::fs::read_to_string(python_sampler()).unwrap();
    let tag = format!("# site: {name}");
    src.lines()
        .position(|l| l.trim_end().ends_with(&tag))
        .map(|i| i + 1)
        .expect("the tagged line")
}

#[test]
fn python_frames_are_functions_of_their_file_in_pprof_and_memory_viz() {
    if !gpuleak_tests::have_python() {
        eprintln!("python frames: skipped: no python3 here");
        return;
    }
    let run = Run::new("python3")
        .arg(python_sampler())
        .args(["--steps", "8"])
        .hook()
        .run();
    run.assert_success();
    let leak_line = python_line("leak");

    // The pickle, read back here: the leaking line's frames as PyTorch writes frames.
    let pickle = export(run.trace(), "memory-viz", &["--what", "leaked"]);
    let snapshot: serde_pickle::Value =
        serde_pickle::value_from_slice(&std::fs::read(&pickle).unwrap(), Default::default())
            .expect("a pickle");
    let text = format!("{snapshot:?}");
    let frame = format!(
        "Dict({{String(\"filename\"): String(\"{}\"), String(\"line\"): I64({leak_line}), \
         String(\"name\"): String(\"Sampler.denoise_step\")}})",
        python_sampler().display()
    );
    // In the segment and its block, and in the history's segment_alloc and alloc: 8 steps.
    assert_eq!(text.matches(&frame).count(), 4 * 8, "{frame} in the pickle");

    let Some(go) = tool("go", "python frames") else {
        return;
    };
    let profile = export(run.trace(), "pprof", &[]);
    let raw = run_tool(
        Command::new(&go)
            .args(["tool", "pprof", "-raw"])
            .arg(&profile)
            .env("HOME", std::env::temp_dir()),
    );
    // A Python frame: a location without a mapping whose function is in the .py file.
    let location = raw
        .lines()
        .find(|l| l.contains(&format!("python_sampler.py:{leak_line}")))
        .unwrap_or_else(|| panic!("no location at line {leak_line}: {raw}"));
    assert!(location.contains(" Sampler.denoise_step "), "{location}");
    assert!(!location.contains("M="), "{location}");
    let top = run_tool(
        Command::new(&go)
            .args([
                "tool",
                "pprof",
                "-top",
                "-unit=B",
                "-sample_index=inuse_space",
            ])
            .arg(&profile)
            .env("HOME", std::env::temp_dir()),
    );
    // 1 MiB kept per step, under the line of denoise_step (inside it, ctypes and libffi).
    assert_eq!(
        pprof_row(&top, "Sampler.denoise_step").map(|r| r.1),
        Some(8 * MIB),
        "{top}"
    );
}

// ------------------------------------------------------------------------------------------------
// folded, flamegraph, speedscope

#[test]
fn folded_stacks_are_root_first_with_the_bytes_live_at_the_end() {
    let run = leaky_run();
    let folded = std::fs::read_to_string(export(run.trace(), "folded", &[])).unwrap();
    let lines: Vec<&str> = folded.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "only the leak holds memory at the end: {folded}"
    );
    let (stack, weight) = lines[0].rsplit_once(' ').unwrap();
    assert_eq!(weight.parse::<u64>().unwrap(), LEAK * ITERATIONS);
    let frames: Vec<&str> = stack.split(';').collect();
    assert!(frames[0].starts_with("main (sampler.c:"), "{folded}");
    assert!(
        frames
            .last()
            .unwrap()
            .starts_with("denoise_step (sampler.c:"),
        "{folded}"
    );

    let all = std::fs::read_to_string(export(
        run.trace(),
        "folded",
        &[
            "--what",
            "allocated",
            "-o",
            &beside(run.trace(), "all.folded"),
        ],
    ))
    .unwrap();
    let weights: u64 = all
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(weights, (LEAK + SCRATCH) * ITERATIONS, "{all}");
}

#[test]
fn the_flame_graph_is_an_svg_with_a_box_for_the_leak_and_its_bytes() {
    let run = leaky_run();
    let svg = std::fs::read_to_string(export(run.trace(), "flamegraph", &[])).unwrap();
    // flamegraph.pl's SVGs (and inferno's) carry an SVG 1.1 DOCTYPE.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&svg, options).expect("the SVG parses");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // inferno's boxes say "frame (N bytes, P%)" in their titles.
    let titles: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    let leak = titles
        .iter()
        .find(|t| t.starts_with("denoise_step (sampler.c:"))
        .unwrap_or_else(|| panic!("no box for denoise_step: {titles:?}"));
    let digits: String = format!("{}", LEAK * ITERATIONS);
    let with_commas = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        leak.contains(&format!("{with_commas} bytes, 100")),
        "{leak}"
    );
}

#[test]
fn the_speedscope_file_validates_against_its_schema_with_one_profile_per_measure() {
    let run = leaky_run();
    let file = export(run.trace(), "speedscope", &["--what", "allocated"]);
    assert!(file.to_string_lossy().ends_with(".speedscope.json"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("data/speedscope-file-format-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // ... and the schema is strict enough to refuse a broken file.
    let mut broken = doc.clone();
    broken["profiles"][0]["unit"] = Value::from("parsecs");
    assert!(!validator.is_valid(&broken));

    let profiles = doc["profiles"].as_array().unwrap();
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(profiles.len(), 4, "{names:?}");
    let total = |i: usize| -> u64 {
        profiles[i]["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().unwrap())
            .sum()
    };
    assert!(names[0].ends_with("bytes live at the end"), "{names:?}");
    assert_eq!(total(0), LEAK * ITERATIONS);
    assert_eq!(total(2), (LEAK + SCRATCH) * ITERATIONS);
    assert_eq!(total(3), 2 * ITERATIONS);
    // --what allocated opens on the bytes allocated.
    assert_eq!(doc["activeProfileIndex"], 2);
    // Samples are root first: main, then the allocating function.
    let frames = doc["shared"]["frames"].as_array().unwrap();
    let sample = profiles[0]["samples"][0].as_array().unwrap();
    let name = |v: &Value| {
        frames[v.as_u64().unwrap() as usize]["name"]
            .as_str()
            .unwrap()
    };
    assert_eq!(name(&sample[0]), "main");
    assert_eq!(name(sample.last().unwrap()), "denoise_step");
    assert!(
        frames
            .iter()
            .all(|f| f["file"].as_str().is_some_and(|p| p.ends_with("sampler.c")))
    );
}

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

// ------------------------------------------------------------------------------------------------
// The HTML report

/// A proxy that only notes what is asked of it: any request a page makes for the network goes
/// through it (`--proxy-server`, loopback included), and it answers none.
struct Proxy {
    port: u16,
    /// The host of each request (`GET http://host/...` or `CONNECT host:443`).
    hosts: Arc<Mutex<Vec<String>>>,
}

/// The domains of Chromium's own services, which it calls whatever the page (seen here:
/// update.googleapis.com and accounts.google.com, its component updater and sign-in, which
/// its switches do not silence in headless mode): not the page's requests. A request to any
/// other host fails the test; the page itself names no URL at all (checked above).
const BROWSER_DOMAINS: [&str; 3] = ["google.com", "googleapis.com", "gvt1.com"];

fn browser_host(host: &str) -> bool {
    BROWSER_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let seen = hosts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let target = request.split_whitespace().nth(1).unwrap_or("?").to_string();
                let host = target
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("?")
                    .to_string();
                seen.lock().unwrap().push(host);
            }
        });
        Proxy { port, hosts }
    }

    /// Hosts asked for that are not the browser's own services.
    fn page_requests(&self) -> Vec<String> {
        let hosts = self.hosts.lock().unwrap();
        let own = hosts.iter().filter(|h| browser_host(h)).count();
        if own > 0 {
            eprintln!("html report: {own} requests of chromium's own services (not the page's)");
        }
        hosts.iter().filter(|h| !browser_host(h)).cloned().collect()
    }
}

/// Headless Chromium on a local page, through the proxy, with as few of its own background
/// requests as its switches allow.
fn chromium(browser: &Path, proxy: &Proxy, profile: &Path, args: &[&str], page: &Path) -> Output {
    Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-pings",
            "--metrics-recording-only",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,\
             Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_renders_in_chromium_without_the_network_and_names_the_leak() {
    let run = leaky_run();
    let d = common::scratch("export-html");
    let page = d.join("report.html");
    let o = gpuleak(
        &["report", "--format", "html", "-o", page.to_str().unwrap()],
        run.trace(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no resource from anywhere (the SVG namespace is a name, not a fetch).
    for attr in [
        "src=",
        "href=\"http",
        "href='http",
        "url(",
        "@import",
        "<link",
        "<script",
    ] {
        assert!(!html.contains(attr), "{attr} in the page");
    }
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count(),
        "a URL other than the SVG namespace"
    );
    // The diagnosis comes first, then the chart, then the findings.
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("no {s:?}"));
    assert!(at("<h2>Diagnosis</h2>") < at("<svg") && at("<svg") < at("<h2>Findings</h2>"));
    assert!(at("<h2>Findings</h2>") < at("<h2>Iterations</h2>"));
    // The chart's leak layer ends at the 30 MiB the site holds; the table has every iteration.
    assert!(
        html.contains("denoise_step (sampler.c:154)</code>: 30.0 MiB at the last iteration's end")
            || html.contains("30.0 MiB at the last iteration's end, peak 30.0 MiB"),
        "chart layer"
    );
    // +3.00 MiB: the finding's rate, and the net of every iteration in the table.
    assert_eq!(
        html.matches("<td class=\"num\">+3.00 MiB</td>").count() as u64,
        ITERATIONS + 1
    );

    let Some(browser) = tool("chromium", "html report") else {
        return;
    };
    let proxy = Proxy::start();
    let profile = d.join("chromium-profile");
    let shot = d.join("report.png");
    let o = chromium(
        &browser,
        &proxy,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
        ],
        &page,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // 1200 x 1600, as asked (the IHDR chunk), and far from one flat colour.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1200);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 1600);
    assert!(png.len() > 30_000, "{} bytes: an empty page?", png.len());
    let dom = chromium(&browser, &proxy, &profile, &["--dump-dom"], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("denoise_step (sampler.c:"), "{dom}");
    assert!(dom.contains("leak"), "{dom}");
    assert_eq!(
        proxy.page_requests(),
        Vec::<String>::new(),
        "the report made network requests"
    );

    // The check can fail: a page that loads an image from the network reaches the proxy.
    let control = d.join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://gpuleak.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let o = chromium(&browser, &proxy, &profile, &["--dump-dom"], &control);
    assert!(o.status.success());
    let asked = proxy.page_requests();
    assert!(
        !asked.is_empty() && asked.iter().all(|h| h == "gpuleak.invalid"),
        "the proxy did not see the request of a page that fetches ({asked:?}): the check above \
         proves nothing"
    );
}
