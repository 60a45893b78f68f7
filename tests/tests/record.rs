//! The recording core, end to end: unmodified programs run on the fake CUDA with the hook
//! preloaded, and their traces hold exactly the calls they made, with the stacks that made them.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use gpuleak_tests::{Call, Run, RunOutput};
use gpuleak_trace::{Api, Event, Record};

use common::*;

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
