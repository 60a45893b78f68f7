//! `gpuleak holders`: what keeps device memory alive, from a finished trace's walks and from a
//! running process asked for one (here the test plays the process: it watches for the request
//! file and appends the walk's record, as the hook does).

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::python::{Live, gallery_server, image, native_program};
use common::{gpuleak, scratch, stderr, stdout};
use gpuleak_trace::HoldersReason;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// `gpuleak holders run.trace` in `dir` while the test plays the running server of
/// `trace`: the request appears beside that trace; the server takes it and appends its walk, as
/// the hook does. What the command printed.
fn asked_and_answered(dir: &Path, trace: &Path, server: &mut Live) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(["holders", "--wait", "20", "run.trace"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut request = trace.as_os_str().to_owned();
    request.push(".want-holders");
    let request = std::path::PathBuf::from(request);
    let until = Instant::now() + Duration::from_secs(20);
    while !request.exists() {
        assert!(
            Instant::now() < until,
            "no request came beside {}",
            trace.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::remove_file(&request).unwrap();
    let record = server.holders(HoldersReason::OnDemand, 2);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(trace)
        .unwrap();
    f.write_all(&record).unwrap();
    drop(f);
    child.wait_with_output().unwrap()
}

#[test]
fn a_finished_trace_names_the_gallery_that_keeps_every_image() {
    let dir = scratch("holders-finished");
    let mut server = gallery_server(std::process::id(), 3);
    server.holders(HoldersReason::Exit, 3);
    write(&dir.join("run.trace"), &server.end());

    let out = gpuleak(&["holders", "run.trace"], &dir);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("pid ") && lines[0].ends_with("(python app.py) [finished]:"),
        "{text}"
    );
    // The walk as the report's Holders section says it.
    assert!(
        text.contains("Holders at exit (1234567 Python objects visited in 420 ms):"),
        "{text}"
    );
    assert!(
        text.contains("by role: weights 512 MiB (1), held by user code 4.50 MiB (3)"),
        "{text}"
    );
    // Largest first: the weight, then the gallery's images as one group, with root and owner.
    let weight = lines
        .iter()
        .position(|l| l.contains("`pipe.unet.conv_in.weight`"));
    let gallery = lines.iter().position(|l| l.contains("`GALLERY[*]`"));
    assert!(weight < gallery, "{text}");
    assert_eq!(
        lines[gallery.unwrap()],
        "  `GALLERY[*]` ×3, 4.50 MiB: held by user code; /srv/app.py, a module global (Tensor \
         float16[1, 3, 512, 512])"
    );
    // Nobody was asked: a finished trace is read as it is.
    assert!(!dir.join("run.trace.want-holders").exists());

    let out = gpuleak(&["holders", "--json", "run.trace"], &dir);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let p = &v["processes"][0];
    assert_eq!(p["state"], "finished");
    // The report's `holders[]` object for the walk.
    let snap = &p["snapshots"][0];
    assert_eq!(snap["reason"], "exit");
    assert_eq!(snap["end"], "complete");
    assert_eq!(snap["visited"], 1_234_567);
    assert_eq!(snap["entries"][1]["path"], "GALLERY[0]");
    assert_eq!(snap["entries"][1]["role"], "user_held");
    assert_eq!(snap["entries"][1]["root"], "module_global");
    assert_eq!(snap["entries"][1]["address"], image(0));
    assert_eq!(snap["groups"][1]["path"], "GALLERY[*]");
    assert_eq!(snap["groups"][1]["count"], 3);
    assert_eq!(
        snap["by_model"][0]["model"],
        "pipe.unet (UNet2DConditionModel)"
    );
    assert_eq!(snap["by_role"][1]["role"], "user_held");
}

#[test]
fn a_finished_trace_shows_the_walks_its_report_shows_in_the_reports_words() {
    // Asked once while it ran, then walked at exit: both walks, as `gpuleak report` says them.
    let dir = scratch("holders-as-report");
    let mut server = gallery_server(std::process::id(), 2);
    server.holders(HoldersReason::OnDemand, 1);
    server.holders(HoldersReason::Exit, 2);
    write(&dir.join("run.trace"), &server.end());

    let out = gpuleak(&["holders", "run.trace"], &dir);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let report = stdout(&gpuleak(&["report", "run.trace"], &dir));
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("Holders ")).collect();
    assert_eq!(
        headings,
        [
            "Holders when asked (1234567 Python objects visited in 420 ms):",
            "Holders at exit (1234567 Python objects visited in 420 ms):"
        ],
        "{text}"
    );
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        assert!(
            report.contains(line),
            "{line:?} is not the report's:\n{report}"
        );
    }
}

#[test]
fn a_running_server_is_asked_and_its_answer_printed() {
    let dir = scratch("holders-live");
    let trace = dir.join("run.trace");
    let mut server = gallery_server(std::process::id(), 2);
    write(&trace, &server.buf);
    let out = asked_and_answered(&dir, &trace, &mut server);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("(python app.py) [running]:\n"), "{text}");
    assert!(
        text.contains("Holders when asked (1234567 Python objects visited in 420 ms):"),
        "{text}"
    );
    assert!(text.contains("`GALLERY[*]` ×2, 3.00 MiB"), "{text}");
}

#[test]
fn a_worker_of_a_run_is_asked_beside_its_own_trace_and_a_finished_one_is_not() {
    let dir = scratch("holders-run");
    // The launcher finished with its walk at exit; its worker (the test) still serves.
    let mut launcher = gallery_server(std::process::id() + 1, 1);
    launcher.holders(HoldersReason::Exit, 1);
    write(&dir.join("run.trace"), &launcher.end());
    let worker_trace = dir.join(format!("run.trace.{}", std::process::id()));
    let mut worker = gallery_server(std::process::id(), 2);
    write(&worker_trace, &worker.buf);
    let out = asked_and_answered(&dir, &worker_trace, &mut worker);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("[finished]:\n\nHolders at exit") && text.contains("`GALLERY[0]`, 1.50 MiB"),
        "{text}"
    );
    assert!(
        text.contains("[running]:\n\nHolders when asked") && text.contains("`GALLERY[*]` ×2"),
        "{text}"
    );
    assert!(
        !dir.join("run.trace.want-holders").exists(),
        "the finished one is not asked"
    );
}

#[test]
fn a_process_that_never_takes_the_request_is_named_with_why() {
    let dir = scratch("holders-silent");
    let trace = dir.join("run.trace");
    // A native program, running (the test's own pid): no Python frames, no walker to answer.
    write(&trace, &native_program(std::process::id()));
    let started = Instant::now();
    let out = gpuleak(&["holders", "--wait", "0.3", "run.trace"], &dir);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("did not answer in 0.3 s: not a Python program"),
        "{err}"
    );
    assert!(stdout(&out).contains("[running, no answer]: no holders"));
    // The request nobody took is not left behind.
    assert!(!dir.join("run.trace.want-holders").exists());
}

#[test]
fn a_missing_trace_a_gone_process_and_an_unknown_pid_are_one_line_each() {
    let dir = scratch("holders-errors");
    let out = gpuleak(&["holders", "nothing.trace"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "gpuleak: nothing.trace: no such file\n");

    // A process that ended without a clean exit: nobody to ask.
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let mut server = gallery_server(pid, 1);
    let _ = server.holders(HoldersReason::OnDemand, 1);
    write(&dir.join("gone.trace"), &server.buf);
    let out = gpuleak(&["holders", "gone.trace"], &dir);
    // What it recorded is still shown.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("[gone]:\n\nHolders when asked"),
        "{}",
        stdout(&out)
    );
    write(&dir.join("bare.trace"), &gallery_server(pid, 1).buf);
    let out = gpuleak(&["holders", "bare.trace"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is gone: its trace has no clean end and the process is not running"),
        "{}",
        stderr(&out)
    );

    let out = gpuleak(&["holders", "--pid", "1", "gone.trace"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("gpuleak: gone.trace: no process 1 in this run (its processes: {pid})\n")
    );
}
