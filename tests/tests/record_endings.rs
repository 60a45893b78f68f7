//! However a recorded process ends (`_exit`, SIGKILL, an abort, a fork, an exit while other
//! threads allocate), its trace keeps every allocation made before, and the program never hangs.

mod common;

use std::time::Duration;

use gpuleak_tests::Run;
use gpuleak_trace::{Event, Record};

use common::*;

#[test]
fn a_process_that_ends_with_exit_underscore_keeps_every_allocation() {
    // _exit skips every exit handler: before, the events of the last 50 ms were lost, here all.
    for how in ["_exit", "_Exit"] {
        let out = Run::program("exit_now").args(["500", how]).hook().run();
        out.assert_success();
        assert!(out.stdout.contains("allocated 500"), "{out}");
        let r = replay(out.trace());
        assert_eq!(r.device().allocations, 500, "{how}");
        assert_eq!(r.device().live_bytes, 500 * 4096, "{how}");
        assert!(
            !r.complete(),
            "{how}: no trailer, as no clean exit happened"
        );
    }
}

#[test]
fn a_program_killed_right_after_its_last_allocation_keeps_every_one() {
    // SIGKILL runs no handler at all: what survives is what is in the file when the call
    // returns. Before the trace was mapped, 0 of 500 survived a kill this early.
    let out = Run::program("exit_now").args(["500", "kill"]).hook().run();
    assert_eq!(out.signal(), Some(libc::SIGKILL), "{out}");
    assert!(out.stdout.contains("allocated 500"), "{out}");
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 500);
    assert_eq!(r.device().live_bytes, 500 * 4096);
    assert!(!r.complete(), "no trailer: the process did not exit");
    // The space reserved past the last record is still there, and reads as unwritten, not as
    // a damaged record.
    let mut reader = gpuleak_trace::open(out.trace()).unwrap();
    while reader.next_record().unwrap().is_some() {}
    let end = reader.unwritten().expect("stopped at reserved space");
    assert!(std::fs::metadata(out.trace()).unwrap().len() > end);
    assert_eq!(reader.truncated(), None);
}

#[test]
fn a_program_killed_while_it_sleeps_leaves_every_allocation() {
    let mut running = Run::program("sleeper").arg("200").hook().spawn();
    running.wait_for_line("ready");
    std::thread::sleep(Duration::from_millis(150));
    let out = running.kill(libc::SIGKILL);
    assert_eq!(out.signal(), Some(libc::SIGKILL));
    let (recs, _) = records(out.trace());
    assert!(
        !recs.iter().any(|r| matches!(r, Record::Trailer(_))),
        "a killed process wrote a trailer?"
    );
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 200);
    assert_eq!(r.device().live_bytes, 200 * 4096);
    assert!(!r.complete());
}

#[test]
fn a_forked_child_never_hangs_and_records_into_its_own_file() {
    for how in ["exit", "_exit"] {
        let out = Run::program("forker")
            .arg(how)
            .hook()
            .timeout(Duration::from_secs(30))
            .run();
        out.assert_success();
        let mut parent = None;
        let mut child = None;
        for t in &out.traces {
            let (recs, _) = records(t);
            let Some(Record::Header(h)) = recs.first() else {
                panic!("{}: no header", t.display())
            };
            let evs: Vec<&Event> = recs
                .iter()
                .filter_map(|r| match r {
                    Record::Event(e) => Some(e),
                    _ => None,
                })
                .collect();
            if h.ppid == std::process::id() || evs.iter().any(|e| e.size == 4096) {
                parent = Some((h.pid, evs.iter().map(|e| e.size).collect::<Vec<_>>()));
            } else {
                child = Some((h.pid, h.ppid, evs.len()));
            }
        }
        let (ppid, psizes) = parent.expect("parent trace");
        // The parent's trace holds its own 4096-byte allocation and free, nothing of the child's.
        assert_eq!(psizes, vec![4096, 0], "{how}\n{out}");
        let (_, cppid, cevents) = child.expect("the child's own trace");
        assert_eq!(cppid, ppid, "{how}");
        // Its 8192-byte allocation and free, even when it leaves with _exit.
        assert_eq!(cevents, 2, "{how}\n{out}");
    }
}

#[test]
fn exit_while_other_threads_allocate_does_not_hang_and_leaves_a_readable_trace() {
    for how in ["main", "thread"] {
        let out = Run::program("exit_thread")
            .arg(how)
            .hook()
            .timeout(Duration::from_secs(30))
            .run();
        out.assert_success();
        let (recs, clean) = records(out.trace());
        assert!(clean, "{how}: trace ends inside a record");
        assert!(
            recs.iter().any(|r| matches!(r, Record::Trailer(_))),
            "{how}: no trailer after exit()"
        );
        assert!(replay(out.trace()).device().allocations >= 4);
    }
}

#[test]
fn an_abort_after_an_uncaught_exception_flushes_the_trace() {
    let out = Run::program("abort_uncaught").hook().run();
    assert_eq!(out.signal(), Some(libc::SIGABRT), "{out}");
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 3, "{out}");
    assert_eq!(r.device().live_bytes, 3 << 20);
}

#[test]
fn a_program_that_never_touches_cuda_leaves_no_file() {
    let out = hooked("no_cuda");
    assert!(out.stdout.contains("hello"));
    assert!(out.traces.is_empty(), "{:?}", out.traces);
    assert_eq!(std::fs::read_dir(out.dir.path()).unwrap().count(), 0);
}
