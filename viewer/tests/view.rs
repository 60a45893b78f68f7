//! `gpuleak view FILE` as a user starts it: what it refuses before taking the terminal, and
//! the processes of a run it shows.

mod common;

use std::time::{Duration, SystemTime};

use common::{MIB, gpuleak, scratch, stderr, stepped_trace};
use crossterm::event::KeyCode;
use gpuleak::cli::ViewArgs;
use gpuleak::commands::view::app;

/// `gpuleak view ARGS` refused at once: exit 2, one line starting with `starts` that says `says`.
fn refused(args: &[&str], dir: &std::path::Path, starts: &str, says: &str) {
    let o = gpuleak(args, dir);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("gpuleak: {starts}")), "{err}");
    assert!(err.contains(says), "{err}");
}

#[test]
fn a_short_text_file_is_refused_not_waited_for() {
    let d = scratch("view-notes");
    std::fs::write(d.join("notes.txt"), b"hello\n").unwrap();
    refused(
        &["view", "notes.txt"],
        &d,
        "notes.txt: ",
        "not a gpuleak trace",
    );
}

#[test]
fn an_old_empty_file_is_refused_a_new_one_is_waited_for() {
    let d = scratch("view-empty");
    let old = d.join("old.trace");
    let f = std::fs::File::create(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);
    refused(&["view", "old.trace"], &d, "old.trace: ", "prelude");
    // A file just created by the hook, still without its prelude, gets past the checks: here,
    // with no terminal, to the one that asks for a terminal.
    std::fs::write(d.join("new.trace"), &gpuleak_trace::encode::MAGIC[..5]).unwrap();
    refused(
        &["view", "new.trace"],
        &d,
        "view needs a terminal",
        "gpuleak report",
    );
}

#[test]
fn without_a_terminal_view_says_it_needs_one_and_points_to_report() {
    let d = scratch("view-no-tty");
    std::fs::write(d.join("run.trace"), stepped_trace(4, MIB)).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(["view", "run.trace"])
        .current_dir(&d)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("gpuleak: view needs a terminal"), "{err}");
    assert!(err.contains("gpuleak report run.trace"), "{err}");
}

#[test]
fn a_launchers_trace_is_viewed_with_its_workers_and_n_shows_the_leaking_one() {
    let d = scratch("view-workers");
    let launcher = d.join("run.trace");
    std::fs::write(&launcher, stepped_trace(8, 0)).unwrap();
    std::fs::write(d.join("run.trace.4242"), stepped_trace(8, 3 * MIB)).unwrap();
    let args = ViewArgs {
        file: launcher.clone(),
        iteration_range: None,
    };
    let mut app = app(&args).unwrap_or_else(|f| panic!("{}", f.message));
    app.ui.color = false;
    let mut now = std::time::Instant::now();
    for _ in 0..5 {
        now += Duration::from_secs(1);
        app.tick(now);
    }
    assert_eq!(
        app.state.procs.len(),
        2,
        "the worker is one of the run's processes"
    );
    assert!(app.findings().is_empty(), "the launcher leaks nothing");
    common::screen::press(&mut app, KeyCode::Char('n'));
    now += Duration::from_secs(1);
    app.tick(now);
    assert_eq!(app.state.current, 1);
    assert!(!app.findings().is_empty(), "the worker's leak is shown");
}
