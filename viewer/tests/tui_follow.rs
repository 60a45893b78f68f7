//! The terminal UI's data model following trace files as they are written, and the screens it
//! leads to, without a terminal.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::screen::{press, screen, snapshot};
use common::{MIB, Steps, scratch, stepped_trace, unmarked_trace};
use crossterm::event::KeyCode;
use gpuleak::tui::App;
use gpuleak::tui::follow::Follower;
use gpuleak::tui::input::Action;
use gpuleak::tui::state::run::{Exit, RunInfo};
use gpuleak_analysis::ReportOptions;

/// Writes `bytes[..n]` to `path` (appending what is new since `done`).
fn grow(path: &Path, bytes: &[u8], done: &mut usize, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(&bytes[*done..n]).unwrap();
    f.flush().unwrap();
    *done = n;
}

#[test]
fn a_file_being_written_is_followed_as_it_grows() {
    let d = scratch("follow");
    let path = d.join("live.trace");
    let bytes = stepped_trace(40, 3 * MIB);
    let mut app = App::follow(std::slice::from_ref(&path), ReportOptions::default());
    app.ui.color = false;
    let mut now = Instant::now();
    let mut step = |app: &mut App| {
        // Past the analysis interval, so each tick that finds new data analyses it.
        now += Duration::from_secs(1);
        app.tick(now);
    };

    // Not there yet, then shorter than its prelude: waited for, no error.
    step(&mut app);
    assert!(
        app.data.summary.status.contains("waiting"),
        "{:?}",
        app.data.summary
    );
    let mut done = 0;
    grow(&path, &bytes, &mut done, 5);
    step(&mut app);
    assert!(app.state.procs[0].follower.error.is_none());

    // A third of the file, cut inside a record: what is whole is shown, still recording.
    grow(&path, &bytes, &mut done, bytes.len() / 3);
    step(&mut app);
    let first = app.data.summary.iterations;
    assert!(first > 3 && first < 40, "{first}");
    // The trace's one failed allocation is said too.
    assert_eq!(app.data.summary.status, "recording, OOM");
    // Read up to the last whole record: the cut record waits for its rest, without an error.
    let at = app.state.procs[0]
        .follower
        .truncated_at
        .expect("the cut is inside a record");
    let cut = (bytes.len() / 3) as u64;
    assert!(at < cut && cut - at < 64, "read to {at}, cut at {cut}");

    // Two thirds: more iterations, and the leak is flagged while the file grows.
    grow(&path, &bytes, &mut done, bytes.len() * 2 / 3);
    step(&mut app);
    let second = app.data.summary.iterations;
    assert!(second > first, "{first} then {second}");
    assert!(
        app.findings().iter().any(|s| s.leaks()),
        "{:?}",
        app.data.sites
    );

    // Paused, the display keeps its figures while the data is still read.
    app.apply(Action::Pause);
    grow(&path, &bytes, &mut done, bytes.len() * 5 / 6);
    step(&mut app);
    assert_eq!(app.data.summary.iterations, second);
    let read = app.state.procs[0].follower.replay.markers();
    assert!(read > second, "still read: {read} markers");
    app.apply(Action::Pause);
    assert_eq!(app.data.summary.iterations, read);

    // The rest, with the trailer: complete, every iteration.
    grow(&path, &bytes, &mut done, bytes.len());
    step(&mut app);
    assert_eq!(app.data.summary.iterations, 40);
    assert_eq!(app.data.summary.status, "complete, OOM");
    let all = screen(&app, 120, 30).join("\n");
    assert!(all.contains("iter 40 (marker)"), "{all}");
}

#[test]
fn iterations_found_in_launches_keep_their_figures_while_the_file_grows() {
    let d = scratch("follow-launches");
    let path = d.join("live.trace");
    let bytes = unmarked_trace(40, 3 * MIB, Steps::Launches);
    let mut app = App::follow(std::slice::from_ref(&path), ReportOptions::default());
    app.ui.color = false;
    let mut now = Instant::now();
    let mut done = 0;
    let mut seen_auto = 0;
    // Cut anywhere, inside records too: what a poll stops at must not change the figures.
    for k in 1..=7 {
        grow(&path, &bytes, &mut done, bytes.len() * k / 7);
        now += Duration::from_secs(1);
        app.tick(now);
        if app.data.summary.iteration_source != "auto" {
            continue;
        }
        seen_auto += 1;
        let n = app.data.iterations.len();
        assert_eq!(n as u64, app.data.summary.iterations);
        // Every iteration but the one under way is whole.
        for r in &app.data.iterations[..n - 1] {
            assert_eq!(r.allocated, Some(67 * MIB), "piece {k}: {r:?}");
            assert_eq!(r.freed, Some(64 * MIB), "piece {k}: {r:?}");
        }
    }
    assert!(seen_auto >= 5, "auto iterations in {seen_auto} of 7 pieces");
    let whole = App::from_bytes(bytes, ReportOptions::default());
    assert_eq!(app.data.iterations, whole.data.iterations);
    assert_eq!(app.data.iterations.len(), 40);
}

#[test]
fn the_analysis_is_redone_at_most_every_interval_not_on_every_tick() {
    let d = scratch("throttle");
    let path = d.join("t.trace");
    let bytes = stepped_trace(40, 3 * MIB);
    let mut app = App::follow(std::slice::from_ref(&path), ReportOptions::default());
    let t0 = Instant::now();
    let mut done = 0;
    grow(&path, &bytes, &mut done, bytes.len() / 2);
    app.tick(t0);
    let first = app.data.summary.iterations;
    grow(&path, &bytes, &mut done, bytes.len());
    // Read at once, analysed only once the interval has passed.
    app.tick(t0 + Duration::from_millis(10));
    assert_eq!(app.state.procs[0].follower.replay.markers(), 40);
    assert_eq!(app.data.summary.iterations, first);
    app.tick(t0 + gpuleak::tui::state::ANALYSIS_EVERY + Duration::from_millis(10));
    assert_eq!(app.data.summary.iterations, 40);
}

#[test]
fn a_file_that_is_not_a_trace_is_reported_not_a_panic() {
    let d = scratch("garbage");
    let path = d.join("g.trace");
    std::fs::write(&path, b"this is certainly not a gpuleak trace file").unwrap();
    let mut app = App::follow(std::slice::from_ref(&path), ReportOptions::default());
    app.tick(Instant::now());
    let err = app.state.procs[0].follower.error.clone().expect("an error");
    assert!(err.contains("bad magic"), "{err}");
    assert!(
        app.status_line().contains("unreadable"),
        "{}",
        app.status_line()
    );
    let _ = screen(&app, 120, 30);
}

#[test]
fn every_process_of_a_run_can_be_chosen() {
    let d = scratch("procs");
    let main = d.join("run.trace");
    let child: PathBuf = d.join("run.trace.4321");
    std::fs::write(&main, stepped_trace(10, 3 * MIB)).unwrap();
    let found = Arc::new(Mutex::new(vec![main.clone()]));
    let f2 = found.clone();
    let mut app = App::follow(std::slice::from_ref(&main), ReportOptions::default())
        .with_discovery(Box::new(move || f2.lock().unwrap().clone()));
    app.ui.color = false;
    let mut now = Instant::now();
    app.tick(now);
    assert_eq!(app.state.procs.len(), 1);
    assert!(app.process_label().is_none());

    // A child starts writing its own trace: found on a later tick.
    std::fs::write(&child, common::leaky_trace(5, false)).unwrap();
    found.lock().unwrap().push(child.clone());
    now += Duration::from_secs(1);
    app.tick(now);
    assert_eq!(app.state.procs.len(), 2);
    assert_eq!(app.process_label().as_deref(), Some("proc 1/2"));
    assert_eq!(app.data.summary.pid, Some(77));

    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.state.current, 1);
    assert_eq!(app.data.summary.pid, Some(4242));
    let all = screen(&app, 140, 30).join("\n");
    assert!(all.contains("proc 2/2 (n switches)"), "{all}");
    assert!(all.contains("pid 4242"), "{all}");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(app.data.summary.pid, Some(77));
}

#[test]
fn a_main_trace_with_nothing_yet_gives_way_to_a_child_with_data() {
    let d = scratch("empty-main");
    let main = d.join("run.trace");
    let child = d.join("run.trace.55");
    std::fs::write(&child, common::leaky_trace(5, false)).unwrap();
    let c2 = child.clone();
    let mut app = App::follow(std::slice::from_ref(&main), ReportOptions::default())
        .with_discovery(Box::new(move || vec![c2.clone()]));
    app.tick(Instant::now());
    assert_eq!(app.state.procs.len(), 2);
    assert_eq!(app.state.current, 1);
    assert_eq!(app.data.summary.pid, Some(4242));
}

#[test]
fn the_status_tells_how_the_program_ended() {
    let exit = Arc::new(parking_lot::Mutex::new(None));
    let started = Instant::now();
    let mut app =
        App::from_bytes(stepped_trace(5, MIB), ReportOptions::default()).with_run(RunInfo {
            command: "sampler".into(),
            pid: 77,
            started,
            exit: exit.clone(),
            log: Some(PathBuf::from("/tmp/run.trace.log")),
            interrupt: None,
        });
    app.ui.color = false;
    app.tick(started + Duration::from_secs(72));
    // The trace has a failed allocation: OOM is said whatever the program's state.
    assert_eq!(app.data.summary.status, "running 00:01:12, OOM");
    assert!(app.data.summary.alarming);
    let line = app.status_line();
    assert!(line.contains("q detaches"), "{line}");
    assert!(
        line.contains("program output: /tmp/run.trace.log"),
        "{line}"
    );
    let all = screen(&app, 140, 30).join("\n");
    assert!(all.contains("● running 00:01:12, OOM"), "{all}");
    snapshot("overview_running", &screen(&app, 140, 30));

    // q while it runs detaches.
    let mut q =
        App::from_bytes(stepped_trace(5, MIB), ReportOptions::default()).with_run(RunInfo {
            command: "sampler".into(),
            pid: 77,
            started,
            exit: exit.clone(),
            log: None,
            interrupt: None,
        });
    q.apply(Action::Quit);
    assert!(q.ui.quit && q.ui.detached);

    *exit.lock() = Some(Exit::Signal(9));
    app.tick(started + Duration::from_secs(80));
    assert_eq!(app.data.summary.status, "killed by SIGKILL, OOM");
    assert!(app.status_line().contains("q quits"));
    *exit.lock() = Some(Exit::Code(0));
    app.tick(started + Duration::from_secs(81));
    assert_eq!(app.data.summary.status, "exited 0, OOM");
    app.apply(Action::Quit);
    assert!(app.ui.quit && !app.ui.detached);
}

#[test]
fn a_sites_table_of_thousands_draws_only_the_rows_that_fit() {
    let mut app = App::from_bytes(
        common::many_sites_trace(5_000, 5_000),
        ReportOptions::default(),
    );
    app.ui.color = false;
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.ui.order.len(), 5_000);
    for _ in 0..3 {
        press(&mut app, KeyCode::PageDown);
    }
    assert_eq!(app.ui.selected, 60);
    let text = screen(&app, 120, 30);
    let all = text.join("\n");
    assert!(all.contains("Sites 61/5000"), "{all}");
    assert!(text.iter().any(|l| l.contains("> ")), "{all}");
}

#[test]
fn a_view_behind_a_capped_run_starts_again_from_its_oldest_kept_segment() {
    use gpuleak_trace::{Api, Encoder, Event, Header, LiveEntry, Segment, encode};
    // Segments 0 and 1 are dropped while the view is still reading segment 1: it must not
    // wait forever at the zeros left there, but read on from segment 2, which says what is live.
    let header = Header {
        pid: 7,
        stacks: "off".into(),
        start_mono_ns: 1_000,
        ..Header::default()
    };
    let mut bytes = Vec::new();
    let mut enc = Encoder::start(&header, &mut bytes);
    let resume_at = bytes.len();
    enc.resume(0, &mut bytes);
    let mut live = Vec::new();
    let mut seq = 0u64;
    let mut segment_starts = Vec::new();
    let mut mid = 0;
    for (index, count) in [(0u64, 10u64), (1, 5), (2, 3)] {
        segment_starts.push(bytes.len());
        enc.segment(
            &Segment {
                index,
                time_ns: 10_000 * (index + 1),
                next_seq: seq,
                live: live.clone(),
                totals: vec![],
            },
            &mut bytes,
        );
        for i in 0..count {
            let e = Event {
                seq,
                time_ns: 10_000 * (index + 1) + i + 1,
                tid: 1,
                api: Api::CudaMalloc,
                device: 0,
                stream: 0,
                address: 0x7000_0000 + seq * 0x10_0000,
                size: MIB,
                result: 0,
                stack: 0,
                mem_info: None,
                aux: 0,
                pool_reserved: None,
            };
            enc.compact_event(&e, &mut bytes);
            live.push(LiveEntry {
                seq,
                time_ns: e.time_ns,
                api: e.api,
                device: 0,
                stream: 0,
                address: e.address,
                size: MIB,
                aux: 0,
                stack: 0,
            });
            seq += 1;
            if index == 1 && i == 1 {
                mid = bytes.len();
            }
        }
    }
    let d = scratch("capped-follow");
    let path = d.join("capped.trace");
    // The view reads up to the middle of segment 1; the rest is still reserved (zeros).
    let mut first = bytes[..mid].to_vec();
    first.resize(bytes.len() + 4096, 0);
    std::fs::write(&path, &first).unwrap();
    let mut f = Follower::new(&path);
    f.poll_all();
    assert_eq!(f.replay.device().live_bytes, 12 * MIB);

    // The writer goes on past segment 2 and gives segments 0 and 1 back.
    let mut later = bytes.clone();
    let kept = segment_starts[2];
    let data_start = resume_at + encode::RESUME_LEN;
    later[data_start..kept].fill(0);
    later[resume_at + encode::RESUME_OFFSET_AT..resume_at + encode::RESUME_LEN]
        .copy_from_slice(&encode::varint10(kept as u64));
    later.resize(bytes.len() + 4096, 0);
    std::fs::write(&path, &later).unwrap();
    f.poll_all();
    assert_eq!(
        f.replay.device().live_bytes,
        18 * MIB,
        "every allocation, from segment 2"
    );
    let dropped = f
        .replay
        .dropped_segments()
        .expect("read from a later segment");
    assert_eq!((dropped.segments, dropped.events), (2, 15));
}
