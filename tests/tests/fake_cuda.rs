//! Smoke tests of the test doubles themselves (fake libcuda.so.1 / libcudart.so.12) and of the
//! test programs, without the hook: if these fail, no hook test on the fake CUDA means anything.

mod common;

use std::time::Duration;

use gpuleak_tests::{Run, fake_cuda_dir, program, programs_dir};

use common::*;

#[test]
fn runtime_basic_sees_the_codes_of_the_real_runtime() {
    let out = Run::program("runtime_basic").run();
    out.assert_success();
    let live = 1_048_576 + 524_288 + 10_240;
    let expected = [
        "cudaMalloc 0 1048576",
        "cudaMalloc 0 262144",
        "cudaMalloc 0 65536",
        "cudaMemset 0 1048576",
        "cudaMemcpy 0 4096",
        "cudaMemcpy 0 4096",
        "cudaLaunchKernel 0 0",
        "cudaFree 0 0",
        "cudaFree 0 0",
        "cudaStreamCreate 0 0",
        "cudaMallocAsync 0 131072",
        "cudaFreeAsync 0 0",
        "cudaStreamSynchronize 0 0",
        "cudaStreamDestroy 0 0",
        "cudaMallocManaged 0 524288",
        "cudaMallocPitch 0 10240",
        "cudaMallocHost 0 4096",
        "cudaFreeHost 0 0",
        "cudaHostAlloc 0 8192",
        "cudaFreeHost 0 0",
        "cudaFree 0 0",
        "cudaFree 1 0",
        "cudaGetLastError 1 0",
    ]
    .map(String::from)
    .to_vec();
    let mut got = lines_without_ptr(&out);
    let info = got.pop().unwrap();
    assert_eq!(got, expected, "{out}");
    assert_eq!(info, format!("cudaMemGetInfo 0 {}", GIB - live), "{out}");
    // Every successful allocation returned a distinct, 256-byte aligned, non-null pointer.
    let calls = out.calls();
    let allocs: Vec<u64> = calls
        .iter()
        .filter(|c| c.api.starts_with("cudaMalloc") || c.api == "cudaHostAlloc")
        .map(|c| c.ptr)
        .collect();
    assert!(allocs.iter().all(|p| *p != 0 && p % 256 == 0), "{out}");
    assert!(out.stderr.is_empty(), "{out}");
}

#[test]
fn capacity_comes_from_the_environment() {
    let out = Run::program("runtime_basic")
        .env("FAKE_CUDA_CAPACITY", "64M")
        .run();
    out.assert_success();
    let info = out.calls().pop().unwrap();
    assert_eq!(info.api, "cudaMemGetInfo");
    assert_eq!(info.size, (64 << 20) - (1_048_576 + 524_288 + 10_240));
}

#[test]
fn driver_linked_and_driver_dlopen_agree() {
    let linked = Run::program("driver_linked").run();
    linked.assert_success();
    let dlopen = Run::program("driver_dlopen").run();
    dlopen.assert_success();
    let lines = lines_without_ptr(&linked);
    assert_eq!(lines, lines_without_ptr(&dlopen), "{linked}\n{dlopen}");
    assert_eq!(lines[0], "cuDeviceGet 3 0", "calls before cuInit fail");
    assert_eq!(lines[1], "cuDriverGetVersion 0 12080");
    assert!(
        lines.contains(&"cuMemFree_v2 1 0".to_string()),
        "bogus free"
    );
    let live = 1_048_576 + 262_144 + 10_240;
    // The 131072 bytes freed with cuMemFreeAsync stay in the default pool: no synchronisation
    // came after (the stream was destroyed, which does not synchronise).
    assert_eq!(
        lines.last().unwrap(),
        &format!("cuMemGetInfo_v2 0 {}", GIB - live - 131_072)
    );
}

#[test]
fn runtime_dlopen() {
    let out = Run::program("runtime_dlopen").run();
    out.assert_success();
    assert_eq!(
        lines_without_ptr(&out),
        [
            "cudaMalloc 0 4096",
            "cudaMalloc 0 8192",
            "cudaMalloc 0 16384",
            "cudaFree 0 0"
        ]
    );
}

#[test]
fn oom_fails_at_the_configured_capacity() {
    for capacity in ["8M", "8388608", "8MiB", "8912896" /* 8.5 MiB */] {
        let out = Run::program("oom")
            .env("FAKE_CUDA_CAPACITY", capacity)
            .run();
        out.assert_success();
        let lines = lines_without_ptr(&out);
        let mut expected = vec!["cudaMalloc 0 1048576".to_string(); 8];
        expected.push("cudaMalloc 2 1048576".into());
        expected.push("cudaGetLastError 2 0".into());
        expected.extend(vec!["cudaFree 0 0".to_string(); 8]);
        assert_eq!(lines, expected, "capacity {capacity}\n{out}");
        assert!(out.stdout.ends_with("allocated 8\n"), "{out}");
        let failed = &out.calls()[8];
        assert_eq!(failed.ptr, 0, "a failed allocation reports a null pointer");
    }
}

#[test]
fn bad_capacity_falls_back_to_the_default_with_a_warning() {
    let out = Run::program("runtime_basic")
        .env("FAKE_CUDA_CAPACITY", "lots")
        .run();
    out.assert_success();
    assert!(out.stderr.contains("FAKE_CUDA_CAPACITY=lots"), "{out}");
    assert_eq!(out.calls().pop().unwrap().size, GIB - 1_583_104);
}

#[test]
fn threads_give_exact_totals_quickly() {
    let out = Run::program("threads")
        .args(["8", "50000", "256"])
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "total 400000 400000\n");
    // 2 slow cores in CI, debug build of nothing (the C is -O2): far below this.
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn get_proc_address_picks_the_variant_the_real_driver_picks() {
    let out = Run::program("procaddress").run();
    out.assert_success();
    let expected = "\
proc cuMemAlloc 12000 0 0 0 cuMemAlloc_v2
proc cuMemAlloc 3000 0 500 2 null
proc cuMemFree 12000 0 0 0 cuMemFree_v2
proc cuMemAllocPitch 12000 0 0 0 cuMemAllocPitch_v2
proc cuMemGetInfo 12000 0 0 0 cuMemGetInfo_v2
proc cuMemAllocHost 12000 0 0 0 cuMemAllocHost_v2
proc cuMemHostAlloc 12000 0 0 0 cuMemHostAlloc
proc cuMemAllocManaged 12000 0 0 0 cuMemAllocManaged
proc cuMemAllocAsync 12000 0 0 0 cuMemAllocAsync
proc cuMemAllocAsync 12000 2 0 0 cuMemAllocAsync_ptsz
proc cuMemFreeAsync 12000 0 0 0 cuMemFreeAsync
proc cuMemFreeAsync 12000 2 0 0 cuMemFreeAsync_ptsz
proc cuMemFreeAsync 11020 1 0 0 cuMemFreeAsync
proc cuStreamDestroy 12000 0 0 0 cuStreamDestroy_v2
proc cuDevicePrimaryCtxRelease 12000 0 0 0 cuDevicePrimaryCtxRelease_v2
proc cuDevicePrimaryCtxRelease 10000 0 0 0 cuDevicePrimaryCtxRelease
proc cuGetProcAddress 12000 0 0 0 cuGetProcAddress_v2
proc cuGetProcAddress 11030 0 0 0 cuGetProcAddress
proc \"\" 0 0 500 1 null
proc cuNoSuchFunction 12000 0 500 1 null
proc-v1 cuMemAllocAsync 12000 2 0 -1 cuMemAllocAsync_ptsz
";
    assert_eq!(out.stdout, expected, "{out}");
}

#[test]
fn get_proc_address_takes_queries_from_the_command_line() {
    let out = Run::program("procaddress")
        .args(["cuMemcpyHtoD", "12000", "0", "cuCtxCreate", "3020", "0"])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "proc cuMemcpyHtoD 12000 0 0 0 cuMemcpyHtoD_v2\nproc cuCtxCreate 3020 0 0 0 cuCtxCreate_v2\n"
    );
}

#[test]
fn the_fakes_own_pointers_bypass_an_interposer() {
    let interposer = program("libinterposer.so");
    // Direct callers reach the preload...
    let linked = Run::program("driver_linked")
        .env("LD_PRELOAD", &interposer)
        .run();
    linked.assert_success();
    assert_eq!(
        linked.stderr.matches("interposed cuMemAlloc_v2").count(),
        2,
        "{linked}"
    );
    // ...the runtime, which calls what cuGetProcAddress_v2 returned, does not; its own
    // exports (cudaMalloc) are interposed like any other.
    let runtime = Run::program("runtime_basic")
        .env("LD_PRELOAD", &interposer)
        .run();
    runtime.assert_success();
    assert!(
        !runtime.stderr.contains("interposed cuMemAlloc_v2"),
        "{runtime}"
    );
    let mallocs = runtime
        .calls()
        .iter()
        .filter(|c| c.api == "cudaMalloc")
        .count();
    assert_eq!(mallocs, 3);
    assert_eq!(
        runtime.stderr.matches("interposed cudaMalloc\n").count(),
        mallocs,
        "{runtime}"
    );
}

#[test]
fn log_goes_to_stderr_only_when_asked() {
    let quiet = Run::program("runtime_dlopen").run();
    assert!(quiet.stderr.is_empty(), "{quiet}");
    let loud = Run::program("runtime_dlopen")
        .env("FAKE_CUDA_LOG", "1")
        .run();
    loud.assert_success();
    assert!(
        loud.stderr.contains("fake-cuda: cuMemAlloc_v2(4096) = 0"),
        "{loud}"
    );
    assert!(
        loud.stderr
            .contains("fake-cudart: cuGetProcAddress_v2(\"cuMemAllocAsync\", 11020, 2) = 0"),
        "{loud}"
    );
    assert_eq!(quiet.stdout.lines().count(), loud.stdout.lines().count());
}

#[test]
fn runtime_without_a_driver_reports_insufficient_driver() {
    if system_has_libcuda() {
        eprintln!("skipped: the system has a libcuda.so.1, which the runtime would find");
        return;
    }
    let dir = gpuleak_tests::TempDir::new("no-driver");
    std::os::unix::fs::symlink(
        fake_cuda_dir().join("libcudart.so.12"),
        dir.path().join("libcudart.so.12"),
    )
    .unwrap();
    let out = Run::program("runtime_dlopen")
        .fake_cuda(false)
        .env("LD_LIBRARY_PATH", dir.path())
        .run();
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.calls()[0].without_ptr(), "cudaMalloc 35 4096", "{out}");
}

fn system_has_libcuda() -> bool {
    ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .filter_map(|l| std::process::Command::new(l).arg("-p").output().ok())
        .any(|o| String::from_utf8_lossy(&o.stdout).contains("libcuda.so.1"))
}

#[test]
fn sleeper_is_ready_then_killed() {
    let mut running = Run::program("sleeper").arg("5").spawn();
    running.wait_for_line("ready");
    assert_eq!(running.stdout_so_far().lines().count(), 6);
    let out = running.kill(libc::SIGKILL);
    assert_eq!(out.signal(), Some(libc::SIGKILL), "{out}");
    assert_eq!(
        lines_without_ptr(&out),
        vec!["cudaMalloc 0 4096".to_string(); 5]
    );
}

#[test]
fn forker_parent_and_child_both_allocate() {
    for how in ["exit", "_exit"] {
        let out = Run::program("forker").arg(how).run();
        out.assert_success();
        assert_eq!(
            lines_without_ptr(&out),
            [
                "cudaMalloc 0 4096",
                "child cudaMalloc 0 8192",
                "child cudaFree 0 0",
                "cudaFree 0 0"
            ],
            "{out}"
        );
        assert!(out.stdout.contains("child-status 0\n"), "{out}");
    }
}

#[test]
fn exit_while_threads_allocate() {
    for from in ["main", "thread"] {
        let out = Run::program("exit_thread").arg(from).run();
        out.assert_success();
        assert_eq!(out.stdout, "started 4\nexiting\n", "{out}");
    }
}

#[test]
fn abort_uncaught_dies_of_sigabrt() {
    let out = Run::program("abort_uncaught").run();
    assert_eq!(out.signal(), Some(libc::SIGABRT), "{out}");
    assert_eq!(
        lines_without_ptr(&out),
        vec!["cudaMalloc 0 1048576".to_string(); 3]
    );
}

#[test]
fn no_cuda_says_hello() {
    let out = Run::program("no_cuda").run();
    out.assert_success();
    assert_eq!(out.stdout, "hello\n");
}

#[test]
fn ctypes_alloc() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Run::python("ctypes_alloc.py").run();
    out.assert_success();
    assert_eq!(
        lines_without_ptr(&out),
        [
            "cudaMalloc 0 1048576",
            "cudaMalloc 0 2097152",
            "cudaMalloc 0 3145728",
            "cudaFree 0 0"
        ]
    );
}

#[test]
fn a_hung_program_is_killed_at_the_timeout() {
    let out = Run::program("sleeper")
        .arg("1")
        .timeout(Duration::from_millis(500))
        .run_allow_timeout();
    assert!(out.timed_out, "{out}");
    assert_eq!(out.signal(), Some(libc::SIGKILL), "{out}");
    assert!(out.stdout.contains("ready\n"), "{out}");
    assert!(out.elapsed < Duration::from_secs(5), "{out}");
}

#[test]
fn runs_get_their_own_directory_and_trace_setting() {
    // The shell prints what the hook would be told; no hook, so no trace is written.
    let out = Run::new("sh")
        .args([
            "-c",
            "echo \"$GPULEAK_OUTPUT|$LD_LIBRARY_PATH|$LD_PRELOAD|$PWD\"",
        ])
        .env_remove("LD_PRELOAD")
        .run();
    out.assert_success();
    let dir = out.dir.path().to_path_buf();
    let fields: Vec<&str> = out.stdout.trim_end().split('|').collect();
    assert_eq!(fields[0], dir.join("trace-%p.trace").to_str().unwrap());
    assert!(fields[1].starts_with(fake_cuda_dir().to_str().unwrap()));
    assert_eq!(fields[2], "");
    assert_eq!(
        std::fs::canonicalize(fields[3]).unwrap(),
        std::fs::canonicalize(&dir).unwrap()
    );
    assert!(out.traces.is_empty());
    assert!(programs_dir().join("runtime_basic").exists());
}

// ------------------------------------------------------------------------------------------------
// Pools, virtual memory, arrays, graphs, IPC, and the lookup paths of the newer programs
