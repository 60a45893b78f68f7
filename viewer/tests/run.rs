//! `gpuleak run` without the real hook: a stand-in program writes the trace the hook would,
//! which shows what gpuleak itself does (environment, exit codes, signals, the summary).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A file with only the hook's version marker in its place: gpuleak takes it for the hook, the
/// loader skips it with a warning, and the program runs.
fn fake_hook(d: &Path) -> PathBuf {
    let h = d.join("libgpuleak_hook.so");
    let marker = concat!("GPULEAK_HOOK_VERSION=", env!("CARGO_PKG_VERSION"), "\0");
    std::fs::write(&h, marker).unwrap();
    h
}

fn run(d: &Path, args: &[&str]) -> std::process::Output {
    let hook = fake_hook(d);
    let mut all = vec!["run", "--hook", hook.to_str().unwrap()];
    all.extend_from_slice(args);
    gpuleak(&all, d)
}

/// stderr without the loader's complaints about the stand-in hook.
fn ours(o: &std::process::Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| !l.contains("ld.so"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_program_sees_the_hook_first_in_ld_preload_and_an_absolute_output() {
    let d = scratch("env");
    let hook = fake_hook(&d);
    let o = gpuleak(
        &[
            "run",
            "--hook",
            hook.to_str().unwrap(),
            "-o",
            "x.trace",
            "--",
            "sh",
            "-c",
            "echo \"$LD_PRELOAD|$GPULEAK_OUTPUT\" > env.txt",
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let env = std::fs::read_to_string(d.join("env.txt")).unwrap();
    let canon = std::fs::canonicalize(&d).unwrap();
    let (preload, output) = env.trim().split_once('|').unwrap();
    assert!(
        preload.starts_with(canon.join("libgpuleak_hook.so").to_str().unwrap()),
        "{env}"
    );
    assert_eq!(Path::new(output), d.join("x.trace"));
}

#[test]
fn a_program_that_never_touches_cuda_leaves_no_trace_and_its_exit_code() {
    let d = scratch("exit");
    let o = run(&d, &["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        ours(&o),
        vec!["gpuleak: sh made no CUDA calls; no trace written"]
    );
}

#[test]
fn a_program_killed_by_a_signal_exits_128_plus_the_signal() {
    let d = scratch("killed");
    let o = run(&d, &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15));
}

/// The exit status of `gpuleak run -- sleep 30` after `sig` is sent to gpuleak (not the
/// terminal's: the program has not seen it, so gpuleak must pass it on).
fn status_after_signal_to_gpuleak(name: &str, sig: i32) -> Option<i32> {
    let d = scratch(name);
    let hook = fake_hook(&d);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(["run", "--hook", hook.to_str().unwrap(), "--", "sleep", "30"])
        .current_dir(&d)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Long enough for gpuleak to start sleep; a signal before that is delivered once it has.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) of the process this test started.
    unsafe { libc::kill(child.id() as i32, sig) };
    child.wait().unwrap().code()
}

#[test]
fn sigterm_sent_to_gpuleak_reaches_the_program() {
    assert_eq!(
        status_after_signal_to_gpuleak("forward", libc::SIGTERM),
        Some(128 + 15),
        "sleep was terminated and gpuleak said so"
    );
}

#[test]
fn a_command_that_does_not_exist_exits_127() {
    let d = scratch("notfound");
    let o = run(&d, &["no-such-command-anywhere"]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        ours(&o),
        vec!["gpuleak: no-such-command-anywhere: command not found"]
    );
}

#[test]
fn a_missing_hook_is_one_line_naming_where_it_looked() {
    let d = scratch("nohook");
    let o = gpuleak(&["run", "--hook", "missing.so", "--", "true"], &d);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains("missing.so") && err.contains("--hook"),
        "{err}"
    );
}

#[test]
fn an_unwritable_output_directory_is_refused_before_the_program_runs() {
    let d = scratch("unwritable");
    let o = run(&d, &["-o", "no/such/dir/t.trace", "--", "touch", "ran"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.join("ran").exists(), "the program must not run");
    assert_eq!(ours(&o).len(), 1, "{:?}", ours(&o));
}

#[test]
fn the_summary_counts_what_the_trace_holds_and_lists_child_traces() {
    let d = scratch("summary");
    std::fs::write(d.join("leak.bin"), leaky_trace(3, true)).unwrap();
    let o = run(
        &d,
        &[
            "-o",
            "old.trace",
            "--",
            "sh",
            "-c",
            "cp leak.bin \"$GPULEAK_OUTPUT\" && cp leak.bin \"$GPULEAK_OUTPUT.777\"",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = ours(&o);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(
        lines[0],
        "gpuleak: 6 allocations (9.00 MiB), peak 6.00 MiB live, 3 still live at exit (6.00 MiB), 1 failed; trace: old.trace"
    );
    // The main trace's diagnosis: its failure came with the device nearly full of memory the
    // process did not hold.
    assert!(
        lines[1].starts_with("gpuleak: Out of memory in ")
            && lines[1].contains("this process held only 6.00 MiB of the device's 1.00 GiB")
            && lines[1].ends_with("(details: gpuleak report old.trace)"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "gpuleak: child 777: 6 allocations (9.00 MiB), peak 6.00 MiB live, 3 still live at exit (6.00 MiB), 1 failed; trace: old.trace.777"
    );
    // The child leaks too (2 MiB a step): its diagnosis follows its line.
    assert!(
        lines[3].starts_with("gpuleak: child 777: Out of memory in ")
            && lines[3].ends_with("(details: gpuleak report old.trace.777)"),
        "{}",
        lines[3]
    );
    // A run of several processes says which leak, and how to read them all.
    assert!(
        lines[4].starts_with("gpuleak: 2 processes recorded, pid ")
            && lines[4].ends_with(", child 777 leak; `gpuleak report old.trace` reports them all"),
        "{}",
        lines[4]
    );
}

#[test]
fn the_default_trace_name_holds_the_command_and_gpuleaks_pid() {
    let d = scratch("default");
    std::fs::write(d.join("leak.bin"), leaky_trace(1, true)).unwrap();
    let o = run(&d, &["sh", "-c", "cp leak.bin \"$GPULEAK_OUTPUT\""]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gpuleak-sh-") && n.ends_with(".trace"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        ours(&o)[0].ends_with(&format!("; trace: {}", names[0])),
        "{:?}",
        ours(&o)
    );
}

#[test]
fn sigint_sent_to_gpuleak_by_another_process_reaches_the_program() {
    assert_eq!(
        status_after_signal_to_gpuleak("forward-int", libc::SIGINT),
        Some(128 + 2)
    );
}

#[test]
fn without_a_terminal_the_run_is_headless_and_the_program_keeps_its_output() {
    // The tests' stdout is a pipe: no live view, as with --no-tui, and no log.
    let d = scratch("headless");
    let o = run(
        &d,
        &[
            "-o",
            "h.trace",
            "--",
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "to-stdout\n");
    assert!(stderr(&o).contains("to-stderr"), "{}", stderr(&o));
    assert!(!d.join("h.trace.log").exists());
}

#[test]
fn an_existing_trace_is_never_replaced_the_program_does_not_run() {
    let d = scratch("existing");
    std::fs::write(d.join("kept.trace"), b"an earlier run").unwrap();
    let o = run(&d, &["-o", "kept.trace", "--", "touch", "ran"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = ours(&o);
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].starts_with("gpuleak: kept.trace: already exists") && err[0].contains("-o"),
        "{err:?}"
    );
    assert!(!d.join("ran").exists(), "the program must not run");
    assert_eq!(
        std::fs::read(d.join("kept.trace")).unwrap(),
        b"an earlier run"
    );
}

#[test]
fn a_second_demo_keeps_the_first_demos_trace() {
    let d = scratch("demo-twice");
    let demo = ["demo", "--no-tui", "--steps", "2", "--images", "1"];
    let first = gpuleak(&demo, &d);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let kept = std::fs::read(d.join("gpuleak-demo.trace")).unwrap();
    let second = gpuleak(&demo, &d);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("trace saved in gpuleak-demo-2.trace"),
        "{}",
        stderr(&second)
    );
    assert_eq!(std::fs::read(d.join("gpuleak-demo.trace")).unwrap(), kept);
    assert!(d.join("gpuleak-demo-2.trace").is_file());
    // Named with -o, a trace that is there is refused as by `gpuleak run`.
    let named = gpuleak(&["demo", "--no-tui", "-o", "gpuleak-demo.trace"], &d);
    assert_eq!(named.status.code(), Some(2), "{}", stderr(&named));
    assert_eq!(std::fs::read(d.join("gpuleak-demo.trace")).unwrap(), kept);
}
