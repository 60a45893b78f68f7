//! Where the trace goes: a file made private and never overwritten, kept under a size cap, cut
//! to its last record at a clean exit; a pipe or FIFO that never blocks the program.

mod common;

use std::path::Path;
use std::time::Duration;

use gpuleak_analysis::replay::Replay;
use gpuleak_tests::Run;
use gpuleak_trace::Record;

use common::*;

#[test]
fn a_million_events_under_a_cap_of_4_mib_keep_exact_live_bytes_and_the_leak_flagged() {
    use std::os::unix::fs::MetadataExt;
    // 5000 steps of 100 scratch pairs and 4 KiB kept: 1,005,001 events, about 21 MB uncapped.
    let out = Run::program("long_run")
        .args(["5000", "100", "4096"])
        .env("GPULEAK_MAX_SIZE", "4M")
        .hook()
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_success();
    let summary: Vec<u64> = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary "))
        .map(|l| l.split(' ').map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(summary[1], 1_005_001);
    let on_disk = std::fs::metadata(out.trace()).unwrap().blocks() * 512;
    assert!(on_disk <= 4 << 20, "{on_disk} bytes on disk");
    // What `ls`, a copy or an attachment sees: the kept segments only, not the dropped ones
    // as holes.
    let size = std::fs::metadata(out.trace()).unwrap().len();
    assert!(size <= (4 << 20) + (64 << 10), "{size} bytes long");
    let mut beside = out.trace().as_os_str().to_owned();
    beside.push(".compacting");
    assert!(
        !std::path::Path::new(&beside).exists(),
        "the copy was renamed"
    );
    let r = replay(out.trace());
    let dropped = r.dropped_segments().expect("old segments were dropped");
    assert!(dropped.events > 500_000, "{dropped:?}");
    assert_eq!(r.device().live_bytes, summary[2], "live bytes exact");
    assert!(r.complete());
    let report = Run::gpuleak().arg("report").arg(out.trace()).run();
    report.assert_success();
    assert!(
        report.stdout.lines().any(|l| l.contains("leak")
            && l.contains("leak_step (long_run.c")
            // long_run marks each pair gpuleak_mark_iteration("step"): its unit is a step.
            && l.contains("+4.00 KiB/step")
            // The device's total came with the first allocation, in a dropped segment: the
            // kept ones carry it.
            && l.contains("the device is full at step")),
        "{report}"
    );
    assert!(report.stdout.contains("were dropped"), "{report}");
}

#[test]
fn a_cap_below_one_mebibyte_is_refused_with_a_reason() {
    let out = Run::gpuleak()
        .args(["run", "--no-tui", "--max-size", "512K", "--", "true"])
        .run();
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(out.stderr.contains("the smallest cap is 1M"), "{out}");
}

#[test]
fn a_clean_exit_leaves_the_trace_cut_to_its_last_record() {
    let out = Run::program("runtime_basic").hook().run();
    out.assert_success();
    let mut reader = gpuleak_trace::open(out.trace()).unwrap();
    let mut trailers = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        trailers += matches!(rec, Record::Trailer(_)) as usize;
    }
    assert!(trailers >= 1);
    assert_eq!((reader.unwritten(), reader.truncated()), (None, None));
    assert_eq!(
        std::fs::metadata(out.trace()).unwrap().len(),
        reader.offset(),
        "no reserved space left after the last record"
    );
}

#[test]
fn a_trace_written_to_a_pipe_says_a_kill_may_lose_its_last_events() {
    use std::io::Read;
    let dir = gpuleak_tests::TempDir::new("read-pipe");
    let (fifo, mut reader) = fifo_with_reader(dir.path());
    let collect = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 65536];
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        // Non-blocking: 0 before the writer opens the FIFO as after it closed it; the trace
        // is whole once something was read and the writer is gone.
        while std::time::Instant::now() < deadline {
            match reader.read(&mut chunk) {
                Ok(0) if !bytes.is_empty() => return bytes,
                Ok(n) if n > 0 => bytes.extend_from_slice(&chunk[..n]),
                Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!(
            "no whole trace through the FIFO in 60 s ({} bytes)",
            bytes.len()
        );
    });
    let out = Run::program("runtime_basic")
        .env("GPULEAK_OUTPUT", &fifo)
        .hook()
        .run();
    out.assert_success();
    let bytes = collect.join().unwrap();
    let r = Replay::from_reader(&mut gpuleak_trace::Reader::new(&bytes[..]).unwrap()).unwrap();
    assert!(r.complete());
    assert!(
        r.notes()
            .iter()
            .any(|n| n.contains("may lose its last 50 ms")),
        "{:?}",
        r.notes()
    );
}

#[test]
fn the_trace_file_is_private_and_never_overwrites_an_existing_one() {
    use std::os::unix::fs::PermissionsExt;
    let out = Run::program("runtime_dlopen")
        .trace_name(Some("fixed.trace"))
        .hook()
        .run();
    out.assert_success();
    let first = out.dir.path().join("fixed.trace");
    let mode = std::fs::metadata(&first).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second process given the same path writes beside it.
    let again = Run::new(gpuleak_tests::program("runtime_dlopen"))
        .env("GPULEAK_OUTPUT", &first)
        .hook()
        .run();
    again.assert_success();
    let before = std::fs::read(&first).unwrap();
    let sibling = std::fs::read_dir(out.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("fixed.trace."));
    assert!(sibling.is_some(), "no fixed.trace.<pid> written");
    assert_eq!(std::fs::read(&first).unwrap(), before);
}

#[test]
fn a_symbolic_link_planted_at_the_trace_path_is_never_followed() {
    // Aimed at a device that swallows writes, it would lose the trace; aimed at a file the
    // user owns, it would write there. Either way the link stays, and the trace goes beside it.
    let dir = gpuleak_tests::TempDir::new("symlink");
    let path = dir.path().join("planted.trace");
    std::os::unix::fs::symlink("/dev/null", &path).unwrap();
    let out = Run::new(gpuleak_tests::program("runtime_dlopen"))
        .env("GPULEAK_OUTPUT", &path)
        .hook()
        .run();
    out.assert_success();
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("planted.trace.")
        })
        .collect();
    assert_eq!(beside.len(), 1, "{out}");
    let json = gpuleak_tests::report_json(&beside[0].path());
    assert_eq!(json["totals"]["allocations"], 3, "{:#}", json["totals"]);
}

#[test]
fn gpuleak_run_records_a_program_and_passes_its_exit_code_through() {
    let dir = gpuleak_tests::TempDir::new("gpuleak-run");
    let trace = dir.path().join("run.trace");
    let out = Run::gpuleak()
        .args(["run", "--no-tui", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(gpuleak_tests::program("runtime_basic"))
        .run();
    out.assert_success();
    assert!(out.stderr.contains("trace: "), "{out}");
    let json = gpuleak_tests::report_json(&trace);
    let t = &json["totals"];
    assert_eq!(t["live_bytes_at_end"], 1048576 + 524288 + 10240);
    assert_eq!(t["live_allocations_at_end"], 3);
    assert_eq!(json["schema"], 1);

    let failing = Run::gpuleak()
        .args(["run", "--no-tui", "-o"])
        .arg(dir.path().join("abort.trace"))
        .arg("--")
        .arg(gpuleak_tests::program("abort_uncaught"))
        .run();
    assert_eq!(failing.code(), Some(128 + libc::SIGABRT), "{failing}");
}

/// A FIFO in `dir` with its read end held open (and never read) by the test.
fn fifo_with_reader(dir: &Path) -> (std::path::PathBuf, std::fs::File) {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("live.fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    (path, reader)
}

#[test]
fn a_pipe_nobody_reads_never_blocks_the_program_without_bound() {
    let dir = gpuleak_tests::TempDir::new("stuck-pipe");
    let (fifo, _reader) = fifo_with_reader(dir.path());
    // 4 million events, more than the pipe and the hook's 64 MiB buffer hold.
    let out = Run::program("threads")
        .args(["1", "2000000", "16"])
        .env("GPULEAK_OUTPUT", &fifo)
        .env("GPULEAK_STACKS", "off")
        .env("GPULEAK_MAX_WAIT_MS", "100")
        .hook()
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    assert!(out.stdout.contains("total 2000000 2000000"), "{out}");
    assert!(out.stderr.contains("is stuck"), "{out}");
}

#[test]
fn a_reader_that_goes_away_stops_the_recording_not_the_program() {
    let dir = gpuleak_tests::TempDir::new("gone-pipe");
    let (fifo, reader) = fifo_with_reader(dir.path());
    let running = Run::program("threads")
        .args(["1", "2000000", "16"])
        .env("GPULEAK_OUTPUT", &fifo)
        .env("GPULEAK_STACKS", "off")
        .hook()
        .timeout(Duration::from_secs(60))
        .spawn();
    // The pipe fills within milliseconds; then its only reader goes away mid-write.
    std::thread::sleep(Duration::from_millis(100));
    drop(reader);
    let out = running.wait();
    // SIGPIPE must not reach the program: it finishes its work and exits 0.
    out.assert_success();
    assert!(out.stdout.contains("total 2000000 2000000"), "{out}");
    assert!(out.stderr.contains("cannot write trace"), "{out}");
}
