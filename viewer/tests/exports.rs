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

use std::path::{Path, PathBuf};
use std::process::Command;

use common::MIB;
use gpuleak_tests::Run;
use serde_json::Value;

use common::exports::*;

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

#[test]
fn leaked_is_what_the_leak_held_at_the_last_iteration_when_the_program_frees_it_at_exit() {
    let d = common::scratch("export-freed-at-exit");
    let trace = d.join("a.trace");
    std::fs::write(&trace, common::freed_at_exit_trace(10, 3 * MIB)).unwrap();
    let report = gpuleak(&["report"], &trace);
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(
        text.contains("held at the last iteration, freed at exit"),
        "{text}"
    );
    // The leak's 10 buffers of 3 MiB (or the 9 of them held when the last iteration began).
    let o = gpuleak(
        &[
            "export", "--format", "folded", "--what", "leaked", "-o", "-",
        ],
        &trace,
    );
    let folded = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = folded
        .lines()
        .find(|l| l.contains("sampler+0x1200"))
        .unwrap_or_else(|| panic!("no leak in {folded:?} (report: {text})"));
    let held: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(held >= 9 * 3 * MIB, "{line}");
    assert_eq!(folded.lines().count(), 1, "{folded}");
    // The other formats choose the same stacks.
    let svg = export(&trace, "flamegraph", &["--what", "leaked"]);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("sampler+0x1200"), "{}", head(&svg));
}
