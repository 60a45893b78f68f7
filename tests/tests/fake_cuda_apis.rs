//! The fakes answer the newer entry points (`cuGetProcAddress` variants, the runtime's driver
//! entry points, a static runtime) and what frameworks call besides allocation (cudarc, PyTorch,
//! BLAS, NVML) as the real libraries do, without the hook.

mod common;

use std::time::Duration;

use gpuleak_tests::Run;

use common::*;

#[test]
fn get_proc_address_picks_the_variants_of_the_new_entry_points() {
    let queries = [
        ("cuMemHostRegister", 6050, 0, "0 0 cuMemHostRegister_v2"),
        ("cuMemHostRegister", 6000, 0, "0 0 cuMemHostRegister"),
        ("cuArrayCreate", 3020, 0, "0 0 cuArrayCreate_v2"),
        ("cuArray3DCreate", 12000, 0, "0 0 cuArray3DCreate_v2"),
        ("cuIpcOpenMemHandle", 11000, 0, "0 0 cuIpcOpenMemHandle_v2"),
        ("cuIpcOpenMemHandle", 10020, 0, "0 0 cuIpcOpenMemHandle"),
        (
            "cuMemGetAddressRange",
            3020,
            0,
            "0 0 cuMemGetAddressRange_v2",
        ),
        ("cuMemGetAddressRange", 3000, 0, "500 2 null"),
        (
            "cuMemAllocFromPoolAsync",
            12000,
            2,
            "0 0 cuMemAllocFromPoolAsync_ptsz",
        ),
        (
            "cuMemAllocFromPoolAsync",
            12000,
            0,
            "0 0 cuMemAllocFromPoolAsync",
        ),
        ("cuMemPoolTrimTo", 12000, 0, "0 0 cuMemPoolTrimTo"),
        (
            "cuMemPoolSetAttribute",
            12000,
            0,
            "0 0 cuMemPoolSetAttribute",
        ),
        ("cuMemCreate", 12000, 0, "0 0 cuMemCreate"),
        ("cuMemMap", 12000, 0, "0 0 cuMemMap"),
        ("cuMemAddressReserve", 12000, 0, "0 0 cuMemAddressReserve"),
        (
            "cuMipmappedArrayCreate",
            12000,
            0,
            "0 0 cuMipmappedArrayCreate",
        ),
        (
            "cuGraphAddMemAllocNode",
            12000,
            0,
            "0 0 cuGraphAddMemAllocNode",
        ),
        ("cuDeviceGraphMemTrim", 12000, 0, "0 0 cuDeviceGraphMemTrim"),
        (
            "cuMemImportFromShareableHandle",
            12000,
            0,
            "0 0 cuMemImportFromShareableHandle",
        ),
        ("cuMemHostRegister_v2", 12000, 0, "500 1 null"),
    ];
    let mut run = Run::program("procaddress");
    let mut expected = String::new();
    for (name, version, flags, answer) in queries {
        run = run.args([name.to_string(), version.to_string(), flags.to_string()]);
        expected.push_str(&format!("proc {name} {version} {flags} {answer}\n"));
    }
    let out = run.run();
    out.assert_success();
    assert_eq!(out.stdout, expected, "{out}");
}

#[test]
fn static_runtime_takes_every_function_through_get_proc_address() {
    let out = Run::program("static_runtime").run();
    out.assert_success();
    assert_eq!(
        other_lines(&out),
        [
            "lookup cuInit 2000 0 cuInit",
            "lookup cuDevicePrimaryCtxRetain 7000 0 cuDevicePrimaryCtxRetain",
            "lookup cuCtxSetCurrent 4000 0 cuCtxSetCurrent",
            "lookup cuMemAlloc 3020 0 cuMemAlloc_v2",
            "lookup cuMemFree 3020 0 cuMemFree_v2",
            "lookup cuMemAllocAsync 11020 2 cuMemAllocAsync_ptsz",
            "lookup cuMemFreeAsync 11020 2 cuMemFreeAsync_ptsz",
            "lookup cuMemHostAlloc 2020 0 cuMemHostAlloc",
            "lookup cuMemFreeHost 2000 0 cuMemFreeHost",
            "lookup cuGetProcAddress 12000 0 cuGetProcAddress_v2",
            "lookup cuMemAlloc 12000 0 cuMemAlloc_v2",
        ],
        "{out}"
    );
    assert_eq!(
        lines_without_ptr(&out),
        [
            "cuInit 0 0",
            "cuDevicePrimaryCtxRetain 0 0",
            "cuCtxSetCurrent 0 0",
            "cuMemAlloc_v2 0 1048576",
            "cuMemAlloc_v2 0 65536",
            "cuMemFree_v2 0 0",
            "cuMemAllocAsync_ptsz 0 131072",
            "cuMemFreeAsync_ptsz 0 0",
            "cuMemAllocAsync_ptsz 0 262144",
            "cuMemHostAlloc 0 4096",
            "cuMemFreeHost 0 0",
            "cuMemAlloc_v2 0 8192",
        ]
    );
}

#[test]
fn the_runtime_answers_driver_entry_points_through_get_proc_address() {
    let out = Run::program("runtime_entry_point")
        .env("FAKE_CUDA_LOG", "1")
        .run();
    out.assert_success();
    assert_eq!(
        other_lines(&out),
        [
            "entry default cuMemAlloc 0 0 cuMemAlloc_v2",
            "entry by-version cuMemAlloc 0 0 cuMemAlloc_v2",
            "entry by-version cuMemFree 0 0 cuMemFree_v2",
        ]
    );
    assert_eq!(
        lines_without_ptr(&out),
        [
            "cudaMalloc 0 4096",
            "cuMemAlloc_v2 0 1048576",
            "cuMemAlloc_v2 0 2097152",
            "cuMemFree_v2 0 0"
        ]
    );
    // cudaGetDriverEntryPoint asks with the runtime's version, ...ByVersion with the caller's.
    assert!(
        out.stderr
            .contains("fake-cuda: cuGetProcAddress(\"cuMemAlloc\", 12080, 0) = 0"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("fake-cuda: cuGetProcAddress(\"cuMemFree\", 12000, 0) = 0"),
        "{out}"
    );
}

#[test]
fn cudarc_style_and_late_dlopen_run() {
    let out = Run::program("cudarc_style").run();
    out.assert_success();
    let lines = lines_without_ptr(&out);
    assert_eq!(
        lines[4..9],
        [
            "cuMemAllocAsync 0 1048576",
            "cuMemAllocAsync 0 2097152",
            "cuMemAllocAsync 0 4096",
            "cuMemFreeAsync 0 0",
            "cuMemFreeAsync 0 0"
        ],
        "{out}"
    );
    let late = Run::program("late_dlopen").run();
    late.assert_success();
    assert!(late.elapsed >= Duration::from_millis(200));
    assert_eq!(
        lines_without_ptr(&late),
        [
            "cuMemAlloc_v2 0 4096",
            "cuMemAlloc_v2 0 8192",
            "cuMemFree_v2 0 0",
            "cuMemAlloc_v2 0 16384",
            "cuMemFree_v2 0 0"
        ]
    );
    // Nothing else holds the fake: dlclose really unloads it.
    assert!(late.stdout.contains("unloaded 1\n"), "{late}");
}

/// What PyTorch relies on besides allocation, as nvcc's generated code and PyTorch's start-up
/// call it: kernels registered before `main` launch through the driver, each loaded as a module
/// at its first launch; a missing optional driver function is a success with NULL; device,
/// pointer, stream and event queries answer as CUDA does. The same program under the hook sees
/// the same codes.
#[test]
fn the_runtime_runs_what_pytorch_calls_besides_allocation() {
    let plain = Run::program("torch_runtime")
        .env("FAKE_CUDA_LOG", "1")
        .run();
    plain.assert_success();
    let checks: Vec<&str> = plain
        .stdout
        .lines()
        .filter(|l| l.starts_with("check "))
        .collect();
    assert_eq!(checks.len(), 20, "{plain}");
    assert!(checks.iter().all(|l| l.ends_with(" ok")), "{plain}");
    // Two kernels launched, two modules loaded: each kernel its own driver function.
    let modules = plain.stderr.matches("fake-cuda: cuModuleLoadData").count();
    assert_eq!(modules, 2, "{plain}");

    let hooked = Run::program("torch_runtime").hook().run();
    hooked.assert_success();
    assert_eq!(lines_without_ptr(&hooked), lines_without_ptr(&plain));
}

/// The cuBLAS, cuBLASLt and NVML fakes answer as the real libraries do where PyTorch asks:
/// handles and their settings, products checked but not computed, one heuristic result, NVML's
/// one device and its error codes; many threads and a fork after their locks were used.
#[test]
fn the_blas_and_nvml_fakes_answer_as_pytorch_expects() {
    let out = Run::program("blas_nvml").run();
    out.assert_success();
    let summary = out.stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" checks, 0 failures"), "{out}");
    let checks: u32 = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(checks > 1000, "{out}");
}
