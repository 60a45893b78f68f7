//! Every path a CUDA allocation can take to the driver, each proven end to end: an unmodified test
//! program runs on the fake CUDA with the hook preloaded, and its trace must hold exactly the
//! calls the program reports making (API, result, address, size, and `aux` where the event model
//! gives it a meaning), with totals checked through the analysis' replay.
//!
//! Paths (see /work/shared/DESIGN.md, "Interception"):
//! - G: the static runtime's way, everything through `cuGetProcAddress_v2`, `_ptsz` included;
//! - D: cudarc's way, `dlopen` + `dlsym` of exact names;
//! - runtime entry points (`cudaGetDriverEntryPoint[ByVersion]`), and a `cudaMalloc` whose driver
//!   call goes through `cuGetProcAddress`: one event each;
//! - S: symbol interposition for the VMM, pool, graph, array, host-register and IPC families;
//! - a driver loaded late, unloaded and loaded again;
//! - another LD_PRELOAD beside the hook, in both orders;
//! - a program that never loads CUDA.

use std::path::Path;
use std::time::Duration;

use gpuleak_analysis::replay::{MemoryClass, Replay};
use gpuleak_tests::{Call, Run, RunOutput};
use gpuleak_trace::{Api, Event, LaunchApi, MemoryKind, Op, Record};

const MIB: u64 = 1 << 20;

// ------------------------------------------------------------------------------------------------
// Helpers

fn events(path: &Path) -> Vec<Event> {
    let mut r = gpuleak_trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(rec) = r
        .next_record()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        if let Record::Event(e) = rec {
            out.push(e);
        }
    }
    out
}

/// The trace's launches: (api, function, stream).
fn launches(path: &Path) -> Vec<(LaunchApi, u64, u64)> {
    let mut r = gpuleak_trace::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Launch(l) = rec {
            out.push((l.api, l.function, l.stream));
        }
    }
    out
}

/// A program's calls as it saw them, without the pointers (which may differ run to run).
fn codes_and_sizes(o: &RunOutput) -> Vec<(String, i64, u64)> {
    o.calls()
        .into_iter()
        .map(|c| (c.api, c.code, c.size))
        .collect()
}

fn replay(path: &Path) -> Replay {
    let mut r = gpuleak_trace::open(path).unwrap();
    Replay::from_reader(&mut r).unwrap()
}

/// The recorded API of a name a program printed (`cuMemAllocAsync_ptsz` is `CuMemAllocAsync`,
/// `cuIpcOpenMemHandle_v2` is `CuIpcOpenMemHandle`); `None` for calls the hook does not record.
fn api_of(printed: &str) -> Option<Api> {
    let base = printed.trim_end_matches("_ptsz").trim_end_matches("_v2");
    Api::ALL.iter().copied().find(|a| a.name() == base)
}

/// One event as the tests compare it: (api, result, address, size).
type Seen = (Api, u32, u64, u64);

/// What the trace must hold for the calls a program printed, in order: every recorded API, except
/// frees of NULL (a no-op the hook skips). Sizes are as printed: 0 for frees, the range length
/// for cuMemUnmap / cuMemAddressFree, the threshold for cuMemPoolSetAttribute.
fn expected(calls: &[Call]) -> Vec<Seen> {
    calls
        .iter()
        .filter(|c| !c.child)
        .filter_map(|c| {
            let api = api_of(&c.api)?;
            if api.op() == Op::Free && c.ptr == 0 {
                return None;
            }
            Some((api, c.code as u32, c.ptr, c.size))
        })
        .collect()
}

fn seen(evs: &[Event]) -> Vec<Seen> {
    evs.iter()
        .map(|e| (e.api, e.result, e.address, e.size))
        .collect()
}

/// Runs `program` with the hook; it must succeed and leave exactly one trace.
fn hooked(program: &str, args: &[&str]) -> (RunOutput, Vec<Event>) {
    let out = Run::program(program).args(args).hook().run();
    out.assert_success();
    let evs = events(out.trace());
    (out, evs)
}

/// The first printed call named `api` (panics if none).
fn call<'a>(calls: &'a [Call], api: &str) -> &'a Call {
    calls
        .iter()
        .find(|c| c.api == api)
        .unwrap_or_else(|| panic!("no {api} line in {calls:#?}"))
}

/// The program's non-call lines (`lookup ...`, `entry ...`, `pool-reserved ...`).
fn other_lines(out: &RunOutput) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| gpuleak_tests::parse_calls(l).is_empty())
        .map(String::from)
        .collect()
}

/// Asserts the trace holds exactly the program's calls, with a readable diff on failure.
fn assert_exact(out: &RunOutput, evs: &[Event]) {
    assert_eq!(
        seen(evs),
        expected(&out.calls()),
        "events (left) vs the program's calls (right)\n{out}"
    );
}

// ------------------------------------------------------------------------------------------------
// G: everything through cuGetProcAddress_v2, like the static runtime

#[test]
fn path_g_static_runtime_through_cu_get_proc_address_v2_including_ptsz() {
    let plain = Run::program("static_runtime").run();
    plain.assert_success();
    let (out, evs) = hooked("static_runtime", &[]);
    // The program got the same variants (the hook's wrappers stand for them).
    assert_eq!(other_lines(&out), other_lines(&plain), "{out}");
    assert!(
        out.stdout
            .contains("lookup cuMemAllocAsync 11020 2 cuMemAllocAsync_ptsz"),
        "{out}"
    );
    assert_exact(&out, &evs);
    let apis: Vec<Api> = evs.iter().map(|e| e.api).collect();
    assert_eq!(
        apis,
        [
            Api::CuMemAlloc,
            Api::CuMemAlloc,
            Api::CuMemFree,
            Api::CuMemAllocAsync,
            Api::CuMemFreeAsync,
            Api::CuMemAllocAsync,
            Api::CuMemHostAlloc,
            Api::CuMemFreeHost,
            // Through the pointer "cuGetProcAddress"@12000 returned.
            Api::CuMemAlloc,
        ]
    );
    let r = replay(out.trace());
    assert_eq!(r.device().live_bytes, 1048576 + 262144 + 8192);
    assert_eq!(r.device().allocations, 5);
    assert_eq!(r.pinned_host().allocations, 1);
    assert_eq!(r.pinned_host().live_bytes, 0);
    assert_eq!(r.unmatched_frees(), 0);
}

// ------------------------------------------------------------------------------------------------
// D: cudarc's dlopen + dlsym of exact names

#[test]
fn path_d_cudarc_style_dlsym_of_cu_mem_alloc_async_and_cu_mem_free_async() {
    let (out, evs) = hooked("cudarc_style", &[]);
    assert_exact(&out, &evs);
    assert_eq!(evs.len(), 5, "{evs:#?}");
    // Each carries the stream cuStreamCreate made.
    let stream = call(&out.calls(), "cuStreamCreate").ptr;
    assert!(evs.iter().all(|e| e.stream == stream), "{evs:#?}");
    let r = replay(out.trace());
    assert_eq!(r.device().live_bytes, 4096);
    assert_eq!(r.device().allocations, 3);
    assert_eq!(r.device().frees, 2);
    // Async frees hand memory back to a pool.
    assert_eq!(r.pools().returned_frees, 2);
    assert_eq!(r.pools().returned_bytes, 1048576 + 2097152);
}

#[test]
fn path_d_a_real_cudarc_program_allocating_on_a_cuda_stream() {
    // cudarc (dynamic loading) opens libcuda with libloading and takes each function by name.
    let out = Run::new(env!("CARGO_BIN_EXE_cudarc_stream")).hook().run();
    out.assert_success();
    let evs = events(out.trace());
    assert_exact(&out, &evs);
    assert_eq!(evs.len(), 7, "{evs:#?}");
    assert!(
        evs.iter().all(|e| e.stream != 0),
        "stream-ordered calls carry their stream"
    );
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 4);
    assert_eq!(r.device().frees, 3);
    assert_eq!(r.device().live_bytes, MIB, "the 1 MiB buffer kept to exit");
}

// ------------------------------------------------------------------------------------------------
// Runtime entry points and cudaMalloc's own driver call

#[test]
fn path_runtime_entry_points_cuda_get_driver_entry_point_by_version_counted_once() {
    let plain = Run::program("runtime_entry_point").run();
    plain.assert_success();
    let (out, evs) = hooked("runtime_entry_point", &[]);
    assert_eq!(other_lines(&out), other_lines(&plain), "{out}");
    assert_exact(&out, &evs);
    // cudaMalloc once (its driver call is inside it), each driver call once.
    let apis: Vec<Api> = evs.iter().map(|e| e.api).collect();
    assert_eq!(
        apis,
        [
            Api::CudaMalloc,
            Api::CuMemAlloc,
            Api::CuMemAlloc,
            Api::CuMemFree
        ]
    );
    let r = replay(out.trace());
    assert_eq!(r.device().live_bytes, 4096 + 1048576);
    assert_eq!(r.device().allocations, 3);
}

#[test]
fn path_cuda_malloc_whose_driver_call_goes_through_cu_get_proc_address_counted_once() {
    // runtime_dlopen: dlopen libcudart + dlsym cudaMalloc; the runtime reaches cuMemAlloc_v2
    // through the pointer cuGetProcAddress_v2 gave it (the hook's wrapper): one event per call,
    // under the runtime's name.
    let (out, evs) = hooked("runtime_dlopen", &[]);
    assert_exact(&out, &evs);
    let apis: Vec<Api> = evs.iter().map(|e| e.api).collect();
    assert_eq!(
        apis,
        [
            Api::CudaMalloc,
            Api::CudaMalloc,
            Api::CudaMalloc,
            Api::CudaFree
        ]
    );
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 3);
    assert_eq!(r.device().live_bytes, 4096 + 16384);
}

#[test]
fn a_driver_that_hands_out_gpuleaks_own_export_from_a_local_load_runs_unchanged() {
    // A stub built without -Bsymbolic, opened RTLD_LOCAL: its cuGetProcAddress_v2 hands out
    // what the global scope binds cuMemAlloc_v2 to, gpuleak's export, whose next definition is
    // invisible to RTLD_NEXT. The export must find the stub's own; before, every call was 999.
    let dir = gpuleak_tests::TempDir::new("unbound");
    let driver = dir.path().join("libcuda.so.1");
    gpuleak_tests::cc([
        "-shared".as_ref(),
        "-fPIC".as_ref(),
        "-O0".as_ref(),
        "-Wl,-soname,libcuda.so.1".as_ref(),
        "-o".as_ref(),
        driver.as_os_str(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("programs/unbound_driver.c")
            .as_os_str(),
    ]);
    let plain = Run::program("unbound_user")
        .arg(&driver)
        .fake_cuda(false)
        .run();
    plain.assert_success();
    let out = Run::program("unbound_user")
        .arg(&driver)
        .fake_cuda(false)
        .hook()
        .run();
    out.assert_success();
    // The same return codes and sizes (pointers are malloc's, so they may differ).
    let strip = codes_and_sizes;
    assert_eq!(strip(&out), strip(&plain), "{out}");
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 2);
    assert_eq!(r.device().frees, 1);
    assert_eq!(r.device().live_bytes, 2 << 20);

    // Closed, and a second copy opened: the export goes on working through it. (The loader
    // maps the copy where the first was, so this does not show that no pointer into the first
    // is kept; the code looks the definition up on every call for that.)
    let other = dir.path().join("again");
    std::fs::create_dir_all(&other).unwrap();
    let driver2 = other.join("libcuda.so.1");
    std::fs::copy(&driver, &driver2).unwrap();
    let plain = Run::program("unbound_user")
        .arg(&driver)
        .arg(&driver2)
        .fake_cuda(false)
        .run();
    plain.assert_success();
    assert!(plain.stdout.contains("unloaded 1"), "{plain}");
    let out = Run::program("unbound_user")
        .arg(&driver)
        .arg(&driver2)
        .fake_cuda(false)
        .hook()
        .run();
    out.assert_success();
    assert_eq!(strip(&out), strip(&plain), "{out}");
    let r = replay(out.trace());
    assert_eq!((r.device().allocations, r.device().frees), (4, 2));
    assert_eq!(r.device().live_bytes, 4 << 20);
}

#[test]
fn two_copies_of_the_runtime_in_one_process_each_keep_their_own_calls() {
    // Two extensions that bundle their own libcudart: each copy's calls must reach that copy
    // (each keeps its own last error), and every allocation through either is counted once.
    let dir = gpuleak_tests::TempDir::new("two-runtimes");
    let first = gpuleak_tests::fake_cuda_dir().join("libcudart.so.12");
    let second = dir.path().join("libcudart.so.12");
    std::fs::copy(&first, &second).unwrap();
    let run = |hook: bool| {
        let mut r = Run::program("two_runtimes").arg(&first).arg(&second);
        if hook {
            r = r.hook();
        }
        let out = r.run();
        out.assert_success();
        out
    };
    let plain = run(false);
    assert!(plain.stdout.contains("distinct 1"), "{plain}");
    let out = run(true);
    assert_eq!(codes_and_sizes(&out), codes_and_sizes(&plain), "{out}");
    let last = |o: &RunOutput| {
        o.stdout
            .lines()
            .find(|l| l.starts_with("last_error"))
            .map(str::to_string)
    };
    assert_eq!(last(&out), last(&plain));
    assert!(
        last(&plain)
            .unwrap()
            .starts_with("last_error first 0 second 2"),
        "{plain}"
    );
    let r = replay(out.trace());
    assert_eq!((r.device().allocations, r.device().frees), (4, 2));
    assert_eq!(r.device().live_bytes, 7 << 20);
}

// ------------------------------------------------------------------------------------------------
// S: the families interposed by symbol

#[test]
fn path_vmm_create_reserve_map_unmap_release() {
    for mode in [&[][..], &["release-first"][..]] {
        let (out, evs) = hooked("vmm", mode);
        assert_exact(&out, &evs);
        let calls = out.calls();
        // Each cuMemMap names the handle it maps.
        let handles: Vec<u64> = calls
            .iter()
            .filter(|c| c.api == "cuMemCreate")
            .map(|c| c.ptr)
            .collect();
        let map_aux: Vec<u64> = evs
            .iter()
            .filter(|e| e.api == Api::CuMemMap)
            .map(|e| e.aux)
            .collect();
        assert_eq!(map_aux, handles, "{mode:?}");
        // One unmap covers both 4 MiB mappings.
        let unmaps: Vec<&Event> = evs.iter().filter(|e| e.api == Api::CuMemUnmap).collect();
        assert_eq!(unmaps.len(), 1);
        assert_eq!(unmaps[0].size, 8 * MIB);

        let r = replay(out.trace());
        let t = |c: MemoryClass| *r.totals(c);
        // Physical: 4 + 4 created and released, 2 left (the leak).
        assert_eq!(t(MemoryClass::Physical).allocations, 3, "{mode:?}");
        assert_eq!(t(MemoryClass::Physical).live_bytes, 2 * MIB, "{mode:?}");
        assert_eq!(
            t(MemoryClass::Physical).peak_live_bytes,
            8 * MIB,
            "{mode:?}"
        );
        // Mappings are views of it, reservations no memory at all.
        assert_eq!(t(MemoryClass::Mapped).live_bytes, 2 * MIB, "{mode:?}");
        assert_eq!(
            t(MemoryClass::AddressSpace).live_bytes,
            32 * MIB,
            "{mode:?}"
        );
        assert_eq!(r.mappings().len(), 1);
        assert_eq!(r.reservations().len(), 1);
        // Not counted twice, and not as device memory.
        assert_eq!(r.device().live_bytes, 0);
        assert_eq!(r.gpu_live_bytes(), 2 * MIB, "{mode:?}");
        assert_eq!(r.gpu_peak_live_bytes(), 8 * MIB, "{mode:?}");
        assert_eq!(r.unmatched_frees(), 0, "{mode:?}");
    }
}

#[test]
fn path_pool_threshold_async_allocs_from_pool_and_trims() {
    let (out, evs) = hooked("pool", &[]);
    assert_exact(&out, &evs);
    let calls = out.calls();
    let default_pool = call(&calls, "cuDeviceGetDefaultMemPool").ptr;
    let created = call(&calls, "cuMemPoolCreate").ptr;

    let set = evs
        .iter()
        .find(|e| e.api == Api::CuMemPoolSetAttribute)
        .expect("the release threshold");
    assert_eq!((set.address, set.size), (default_pool, u64::MAX));
    let from_pool = evs
        .iter()
        .find(|e| e.api == Api::CuMemAllocFromPoolAsync)
        .unwrap();
    assert_eq!(from_pool.aux, created, "aux = the pool");
    let trim = evs.iter().find(|e| e.api == Api::CuMemPoolTrimTo).unwrap();
    // What the program read with cuMemPoolGetAttribute after the trim, the hook asked too.
    assert!(out.stdout.contains("pool-reserved after 65536\n"), "{out}");
    assert_eq!(
        (trim.address, trim.size, trim.pool_reserved),
        (default_pool, 0, Some(65536)),
        "{trim:#?}"
    );
    // Every stream-ordered allocation sampled its pool: the default one or the one it named.
    for e in evs
        .iter()
        .filter(|e| matches!(e.api, Api::CuMemAllocAsync | Api::CuMemAllocFromPoolAsync))
    {
        assert!(e.aux == default_pool || e.aux == created, "{e:#?}");
        assert!(e.pool_reserved.is_some_and(|r| r >= e.size), "{e:#?}");
    }

    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 6);
    assert_eq!(r.device().live_bytes, 65536);
    let p = r.pools();
    assert_eq!(p.returned_frees, 5);
    assert_eq!(p.returned_bytes, 4 * MIB + 2 * MIB);
    assert_eq!(p.trims, 1);
    assert_eq!(p.last_trim_reserved_bytes, Some(65536));
    // Sampled from the driver: the default pool kept 1 MiB through the async alloc/free loop, the
    // created pool 2 MiB; the trim left the default pool 64 KiB.
    assert_eq!(p.peak_reserved_bytes, 3 * MIB, "{p:#?}");
    assert_eq!(p.reserved_bytes, 65536 + 2 * MIB, "{p:#?}");
    assert_eq!(p.release_threshold_bytes, Some(u64::MAX));
}

#[test]
fn path_graph_memory_nodes() {
    let (out, evs) = hooked("graph_nodes", &[]);
    assert_exact(&out, &evs);
    let calls = out.calls();
    let graph = call(&calls, "cuGraphCreate").ptr;
    let allocs: Vec<&Event> = evs
        .iter()
        .filter(|e| e.api == Api::CuGraphAddMemAllocNode)
        .collect();
    assert_eq!(allocs.len(), 2);
    assert!(allocs.iter().all(|e| e.aux == graph), "aux = the graph");
    let trim = evs
        .iter()
        .find(|e| e.api == Api::CuDeviceGraphMemTrim)
        .unwrap();
    assert_eq!((trim.result, trim.device), (0, 0));
    // The interposed cuGraphLaunch is a launch of the executable graph (tests/graphs.rs has the
    // other ways to it).
    let exec = call(&calls, "cuGraphLaunch").ptr;
    assert_eq!(
        launches(out.trace()),
        [(LaunchApi::CuGraphLaunch, exec, 0)],
        "{out}"
    );

    let r = replay(out.trace());
    let g = r.kind_totals(MemoryKind::Graph);
    assert_eq!((g.allocations, g.frees, g.live_bytes), (2, 1, 2 * MIB));
    assert_eq!(r.device().live_bytes, 2 * MIB);
    assert_eq!(r.pools().graph_trims, 1);
}

#[test]
fn path_arrays() {
    let (out, evs) = hooked("arrays", &[]);
    assert_exact(&out, &evs);
    let apis: Vec<Api> = evs.iter().map(|e| e.api).collect();
    assert_eq!(
        apis,
        [
            Api::CuArrayCreate,
            Api::CuArray3DCreate,
            Api::CuMipmappedArrayCreate,
            Api::CuArrayCreate,
            Api::CuArrayDestroy,
            Api::CuArrayDestroy,
            Api::CuMipmappedArrayDestroy,
        ]
    );
    let r = replay(out.trace());
    let a = r.kind_totals(MemoryKind::Array);
    assert_eq!((a.allocations, a.frees, a.live_bytes), (4, 3, 8192));
    assert_eq!(a.bytes_allocated, 12582912 + 131072 + 349524 + 8192);
    assert_eq!(r.device().live_bytes, 8192);
}

#[test]
fn path_host_register() {
    let (out, evs) = hooked("host_register", &[]);
    assert_exact(&out, &evs);
    // The failures are recorded with the codes the program saw.
    let results: Vec<u32> = evs.iter().map(|e| e.result).collect();
    assert_eq!(results, [0, 712, 0, 713, 0]);
    let r = replay(out.trace());
    let h = r.totals(MemoryClass::HostRegistered);
    assert_eq!((h.allocations, h.frees, h.live_bytes), (2, 1, 65536));
    assert_eq!(h.failed_allocations, 1);
    assert_eq!(r.device().live_bytes, 0);
    assert_eq!(r.gpu_live_bytes(), 0);
}

#[test]
fn path_ipc_open_close_and_imported_handles() {
    let (out, evs) = hooked("ipc", &[]);
    assert_exact(&out, &evs);
    let apis: Vec<Api> = evs.iter().map(|e| e.api).collect();
    assert_eq!(
        apis,
        [
            Api::CuMemAlloc,
            Api::CuIpcOpenMemHandle,
            Api::CuIpcCloseMemHandle,
            Api::CuMemFree,
            Api::CuMemCreate,
            Api::CuMemImportFromShareableHandle,
            Api::CuMemRelease,
            Api::CuMemRelease,
        ]
    );
    // The opened alias has the size of the memory behind it (cuMemGetAddressRange_v2).
    assert_eq!(evs[1].size, MIB);
    let r = replay(out.trace());
    let i = r.totals(MemoryClass::Imported);
    assert_eq!((i.allocations, i.frees, i.live_bytes), (2, 2, 0));
    let p = r.totals(MemoryClass::Physical);
    assert_eq!((p.allocations, p.frees, p.live_bytes), (1, 1, 0));
    assert_eq!(r.device().live_bytes, 0);
    assert_eq!(r.unmatched_frees(), 0);
}

// ------------------------------------------------------------------------------------------------
// Loading: late, unloaded, loaded again

#[test]
fn path_late_dlopen_then_dlclose_then_reopen() {
    let (out, evs) = hooked("late_dlopen", &[]);
    assert!(out.elapsed >= Duration::from_millis(200));
    assert_exact(&out, &evs);
    assert_eq!(evs.len(), 5, "{evs:#?}");
    let r = replay(out.trace());
    assert_eq!(r.device().allocations, 3);
    assert_eq!(r.device().live_bytes, 4096);
    assert_eq!(r.unmatched_frees(), 0);
}

// ------------------------------------------------------------------------------------------------
// A second preload beside the hook

#[test]
fn path_second_preload_in_both_orders_for_driver_and_runtime_programs() {
    let hook = gpuleak_tests::hook_path();
    let other = gpuleak_tests::programs_dir().join("libinterposer.so");
    for (program, wrapped) in [
        ("driver_linked", "cuMemAlloc_v2"),
        ("runtime_basic", "cudaMalloc"),
    ] {
        for order in [
            format!("{}:{}", hook.display(), other.display()),
            format!("{}:{}", other.display(), hook.display()),
        ] {
            let out = Run::program(program)
                .env("LD_PRELOAD", &order)
                .timeout(Duration::from_secs(20))
                .run();
            out.assert_success();
            let calls = out.calls();
            let made = calls.iter().filter(|c| c.api == wrapped).count();
            assert!(made >= 2, "{program}");
            // The other preload saw every call, and so did the hook, once each.
            assert_eq!(
                out.stderr
                    .matches(&format!("interposed {wrapped}\n"))
                    .count(),
                made,
                "{program} {order}\n{out}"
            );
            let evs = events(out.trace());
            assert_eq!(seen(&evs), expected(&calls), "{program} {order}\n{out}");
            let api = api_of(wrapped).unwrap();
            assert_eq!(
                evs.iter().filter(|e| e.api == api).count(),
                made,
                "{program} {order}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// No CUDA at all

#[test]
fn path_none_a_program_that_never_loads_cuda_is_untouched() {
    let plain = Run::program("no_cuda").run();
    plain.assert_success();
    let out = Run::program("no_cuda").hook().run();
    out.assert_success();
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(out.stderr, plain.stderr);
    assert!(out.traces.is_empty(), "{:?}", out.traces);
    assert_eq!(std::fs::read_dir(out.dir.path()).unwrap().count(), 0);
}
