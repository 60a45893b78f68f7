//! The recording core, end to end: unmodified programs run on the fake CUDA with the hook
//! preloaded, and their traces hold exactly the calls they made.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use gpuleak_analysis::replay::Replay;
use gpuleak_tests::{Call, Run, RunOutput};
use gpuleak_trace::{Api, Event, Record};

/// Every record of a trace, and whether it ended cleanly (no cut record).
fn records(path: &Path) -> (Vec<Record>, bool) {
    let mut r = gpuleak_trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(rec) = r
        .next_record()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        out.push(rec);
    }
    (out, r.truncated().is_none())
}

fn events(path: &Path) -> Vec<Event> {
    records(path)
        .0
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn replay(path: &Path) -> Replay {
    let mut r = gpuleak_trace::open(path).unwrap();
    Replay::from_reader(&mut r).unwrap()
}

/// The API names the hook records, as a program prints them (`cuMemAlloc_v2` is `cuMemAlloc`).
fn recorded_name(api: &str) -> Option<&'static str> {
    let base = api.trim_end_matches("_v2").trim_end_matches("_ptsz");
    Api::ALL.iter().map(|a| a.name()).find(|n| *n == base)
}

/// The calls a program reported that the trace must hold, in order: allocation APIs, and frees
/// of anything but NULL (freeing NULL is a no-op the hook skips).
fn expected(calls: &[Call]) -> Vec<(String, i64, u64, u64)> {
    calls
        .iter()
        .filter(|c| !c.child)
        .filter_map(|c| {
            let name = recorded_name(&c.api)?;
            let is_free = name.contains("Free");
            if is_free && c.ptr == 0 {
                return None;
            }
            Some((
                name.to_string(),
                c.code,
                c.ptr,
                if is_free { 0 } else { c.size },
            ))
        })
        .collect()
}

fn seen(evs: &[Event]) -> Vec<(String, i64, u64, u64)> {
    evs.iter()
        .map(|e| (e.api.name().to_string(), e.result as i64, e.address, e.size))
        .collect()
}

fn hooked(program: &str) -> RunOutput {
    let out = Run::program(program).hook().run();
    out.assert_success();
    out
}

#[test]
fn every_runtime_allocation_of_a_linked_program_is_recorded_exactly() {
    let out = hooked("runtime_basic");
    let evs = events(out.trace());
    assert_eq!(seen(&evs), expected(&out.calls()), "{out}");
    // The fake runtime reaches the driver through cuGetProcAddress, which the hook wraps; each
    // runtime call is still one event, under the runtime's name.
    assert!(evs.iter().all(|e| e.api.is_runtime()), "{evs:#?}");
    let live: u64 = replay(out.trace()).device().live_bytes;
    assert_eq!(live, 1048576 + 524288 + 10240);
}

#[test]
fn the_program_sees_the_same_codes_and_pointers_with_and_without_the_hook() {
    for program in [
        "runtime_basic",
        "driver_linked",
        "driver_dlopen",
        "runtime_dlopen",
    ] {
        let plain = Run::program(program).run();
        plain.assert_success();
        let with = hooked(program);
        let lines = |o: &RunOutput| o.calls().iter().map(Call::without_ptr).collect::<Vec<_>>();
        assert_eq!(lines(&plain), lines(&with), "{program}");
        // The pointers the program printed are the ones the driver handed out, as recorded.
        assert_eq!(
            seen(&events(with.trace())),
            expected(&with.calls()),
            "{program}"
        );
    }
}

#[test]
fn a_program_linked_to_the_driver_is_recorded_through_interposition() {
    let out = hooked("driver_linked");
    let evs = events(out.trace());
    assert_eq!(seen(&evs), expected(&out.calls()), "{out}");
    assert!(evs.iter().any(|e| e.api == Api::CuMemAllocPitch));
    assert_eq!(
        replay(out.trace()).device().live_bytes,
        1048576 + 262144 + 10240
    );
}

#[test]
fn the_trace_names_the_devices_the_driver_reported() {
    let out = hooked("driver_linked");
    let (recs, _) = records(out.trace());
    let Some(Record::Header(h)) = recs.first() else {
        panic!("no header\n{out}")
    };
    // The fake driver has one device, with this name.
    assert_eq!(h.devices, ["gpuleak fake GPU"], "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    assert_eq!(json["process"]["device"], "gpuleak fake GPU", "{json}");
}

#[test]
fn a_program_that_dlopens_the_driver_and_dlsyms_versioned_names_is_recorded() {
    let out = hooked("driver_dlopen");
    let evs = events(out.trace());
    assert!(!evs.is_empty(), "nothing recorded through dlsym\n{out}");
    assert_eq!(seen(&evs), expected(&out.calls()), "{out}");
}

#[test]
fn python_through_ctypes_is_recorded() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Run::python("ctypes_alloc.py").hook().run();
    out.assert_success();
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 3, "{out}");
    assert_eq!(r.device().frees, 1);
    assert_eq!(r.device().live_bytes, 4 << 20);

    // Leaving with os._exit right after: every event still there (gpuleak's _exit writes them).
    let out = Run::python("ctypes_alloc.py").arg("--os-exit").hook().run();
    out.assert_success();
    let r = replay(out.trace());
    assert_eq!((r.device().allocations, r.device().frees), (3, 1), "{out}");
    assert!(!r.complete(), "os._exit is no clean exit");
}

#[test]
fn a_driver_function_taken_through_cu_get_proc_address_is_recorded() {
    // What the CUDA runtime does: cuGetProcAddress_v2 by base name and version, then calls.
    let script = r#"
import ctypes
cuda = ctypes.CDLL("libcuda.so.1")
assert cuda.cuInit(0) == 0
ctx = ctypes.c_void_p()
assert cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), 0) == 0
assert cuda.cuCtxSetCurrent(ctx) == 0
gpa = cuda.cuGetProcAddress_v2
gpa.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p]
fn = ctypes.c_void_p()
assert gpa(b"cuMemAlloc", ctypes.byref(fn), 12000, 0, None) == 0
alloc = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t)(fn.value)
p = ctypes.c_uint64()
assert alloc(ctypes.byref(p), 12345) == 0
print("cuMemAlloc_v2 0 0x%x 12345" % p.value)
"#;
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Run::new("python3").arg("-c").arg(script).hook().run();
    out.assert_success();
    let evs = events(out.trace());
    assert_eq!(seen(&evs), expected(&out.calls()), "{out}");
    assert_eq!(evs.len(), 1);
}

#[test]
fn eight_threads_of_fifty_thousand_pairs_give_exact_totals() {
    let out = Run::program("threads")
        .args(["8", "50000", "256"])
        .hook()
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_success();
    assert!(out.stdout.contains("total 400000 400000"), "{out}");
    let r = replay(out.trace());
    let t = r.device();
    assert_eq!((t.allocations, t.frees), (400_000, 400_000));
    assert_eq!(t.bytes_allocated, 400_000 * 256);
    assert_eq!(t.live_bytes, 0);
    assert_eq!(r.dropped(), 0);
    assert!(r.complete(), "no trailer after a clean exit");
    assert_eq!(r.trailer().map(|t| t.events), Some(800_000));
    // Sequence numbers: every event once, in order.
    let seqs: Vec<u64> = events(out.trace()).iter().map(|e| e.seq).collect();
    assert!(seqs.iter().copied().eq(0..800_000));
    let threads: HashSet<u32> = events(out.trace()).iter().map(|e| e.tid).collect();
    assert_eq!(threads.len(), 8);
}

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
            && l.contains("+4.00 KiB/iteration")
            // The device's total came with the first allocation, in a dropped segment: the
            // kept ones carry it.
            && l.contains("the device is full at iteration")),
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
fn sixteen_threads_reusing_each_others_addresses_give_exact_totals() {
    // 16 × 100,000 cudaMalloc/cudaFree pairs of 4 KiB: the fake's allocator hands a freed block
    // to another thread at once, so a free's event must be recorded before the allocation that
    // reuses its address (before, 50 frees of 1.6 million were lost so).
    let out = Run::program("threads")
        .args(["16", "100000", "4096"])
        .hook()
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_success();
    assert!(out.stdout.contains("total 1600000 1600000"), "{out}");
    let r = replay(out.trace());
    let t = r.device();
    assert_eq!((t.allocations, t.frees), (1_600_000, 1_600_000));
    assert_eq!(t.live_bytes, 0);
    assert_eq!(r.replaced_allocations(), 0);
    assert_eq!(r.unmatched_frees(), 0);
    assert_eq!(r.dropped(), 0);
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
fn an_out_of_memory_failure_records_the_request_and_the_devices_memory() {
    let out = Run::program("oom")
        .env("FAKE_CUDA_CAPACITY", "8M")
        .hook()
        .run();
    out.assert_success();
    let evs = events(out.trace());
    let failed: Vec<&Event> = evs.iter().filter(|e| !e.ok()).collect();
    assert_eq!(failed.len(), 1, "{evs:#?}");
    let f = failed[0];
    assert_eq!(
        (f.api, f.result, f.size, f.address),
        (Api::CudaMalloc, 2, 1 << 20, 0)
    );
    let m = f
        .mem_info
        .expect("free/total recorded with an out-of-memory failure");
    assert_eq!(m.total, 8 << 20);
    assert!(
        m.free < 1 << 20,
        "free {} should be below the request",
        m.free
    );
    let r = replay(out.trace());
    assert_eq!(r.ooms().len(), 1);
    assert_eq!(r.ooms()[0].live_bytes, 8 << 20);
    // Successful calls carry the device's memory only once, the first, for the device total.
    let ok: Vec<&Event> = evs.iter().filter(|e| e.ok()).collect();
    assert_eq!(ok[0].mem_info.map(|m| m.total), Some(8 << 20));
    assert!(ok[1..].iter().all(|e| e.mem_info.is_none()));
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
fn stacks_name_the_allocating_functions_and_leave_the_hook_out() {
    let out = hooked("runtime_basic");
    let json = gpuleak_tests::report_json(out.trace());
    let sites = json["sites"].as_array().unwrap();
    let innermost: Vec<&str> = sites
        .iter()
        .filter_map(|s| s["frames"][0].as_str())
        .collect();
    for f in ["alloc_weights", "alloc_managed", "alloc_pitched"] {
        assert!(
            innermost
                .iter()
                .any(|s| s.starts_with(f) && s.contains("runtime_basic.c:")),
            "{f} not an innermost frame with file:line: {innermost:#?}"
        );
    }
    let all = json.to_string();
    assert!(
        !all.contains("gpuleak_hook"),
        "hook frames leaked into the report"
    );
}

#[test]
fn a_program_started_through_the_dynamic_loader_still_names_its_own_frames() {
    // How one runs an interpreter built for a newer glibc: /proc/self/exe is then the loader.
    let loader = Path::new("/lib64/ld-linux-x86-64.so.2");
    if !loader.exists() {
        eprintln!("skipped: no {}", loader.display());
        return;
    }
    let out = Run::new(loader)
        .arg(gpuleak_tests::program("runtime_basic"))
        .hook()
        .run();
    out.assert_success();
    let json = gpuleak_tests::report_json(out.trace());
    let innermost: Vec<&str> = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["frames"][0].as_str())
        .collect();
    assert!(
        innermost
            .iter()
            .any(|f| f.starts_with("alloc_weights (") && f.contains("runtime_basic.c:")),
        "the program's frames should be named: {innermost:#?}"
    );
}

#[test]
fn stacks_off_records_the_same_events_without_stacks() {
    let out = Run::program("runtime_basic")
        .env("GPULEAK_STACKS", "off")
        .hook()
        .run();
    out.assert_success();
    let evs = events(out.trace());
    assert_eq!(seen(&evs), expected(&out.calls()));
    assert!(evs.iter().all(|e| e.stack == gpuleak_trace::NO_STACK));
}

#[test]
fn another_preload_that_interposes_cu_mem_alloc_works_in_either_order() {
    let hook = gpuleak_tests::hook_path();
    let other = gpuleak_tests::programs_dir().join("libinterposer.so");
    for order in [
        format!("{}:{}", hook.display(), other.display()),
        format!("{}:{}", other.display(), hook.display()),
    ] {
        let out = Run::program("driver_linked")
            .env("LD_PRELOAD", &order)
            .timeout(Duration::from_secs(20))
            .run();
        out.assert_success();
        assert!(
            out.stderr.contains("interposed cuMemAlloc_v2"),
            "{order}\n{out}"
        );
        let evs = events(out.trace());
        assert_eq!(seen(&evs), expected(&out.calls()), "{order}");
    }
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
