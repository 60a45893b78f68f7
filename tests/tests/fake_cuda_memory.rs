//! The fakes' memory model, without the hook: pools that keep freed memory, virtual memory
//! (physical handles and mappings), arrays, graph memory, registered host memory and IPC, each
//! charged as the real driver charges it.

mod common;

use gpuleak_tests::Run;

use common::*;

#[test]
fn pools_keep_freed_memory_until_trimmed_or_synchronized_above_the_threshold() {
    let out = Run::program("pool").run();
    out.assert_success();
    let mut expected = vec![
        "cuStreamCreate 0 0",
        "cuDeviceGetDefaultMemPool 0 0",
        "cuMemPoolSetAttribute 0 18446744073709551615",
    ];
    for _ in 0..4 {
        expected.extend(["cuMemAllocAsync 0 1048576", "cuMemFreeAsync 0 0"]);
    }
    let info = format!("cuMemGetInfo_v2 0 {}", GIB - 65536);
    expected.extend([
        "cuMemAllocAsync 0 65536",
        "cuMemPoolCreate 0 0",
        "cuMemAllocFromPoolAsync 0 2097152",
        "cuMemFreeAsync 0 0",
        "cuStreamSynchronize 0 0",
        "cuMemPoolTrimTo 0 0",
        &info,
        "cuMemPoolDestroy 0 0",
    ]);
    assert_eq!(lines_without_ptr(&out), expected, "{out}");
    // Threshold UINT64_MAX: the default pool kept its 1 MiB over the synchronize, reused it for
    // every allocation, and the trim released everything but the 65536 still allocated. The
    // created pool (threshold 0) released its 2 MiB at the synchronize.
    assert_eq!(
        other_lines(&out),
        [
            "pool-reserved before 1048576",
            "pool-reserved after 65536",
            "pool-used after 65536",
            "pool-reserved created 0"
        ],
        "{out}"
    );
    let calls = out.calls();
    let pool = calls[1].ptr;
    assert_eq!(calls[2].ptr, pool, "set the default pool's attribute");
    assert_eq!(calls[16].ptr, pool, "trimmed the default pool");
    assert_ne!(calls[12].ptr, pool, "a created pool is another pool");
}

#[test]
fn runtime_stream_ordered_memory_goes_back_to_the_device_at_a_synchronize() {
    // runtime_basic frees its cudaMallocAsync block, then synchronizes: with the default
    // threshold (0) the pool releases it, so the device's free memory is capacity - live.
    let out = Run::program("runtime_basic").run();
    out.assert_success();
    assert_eq!(
        out.calls().pop().unwrap().size,
        GIB - (1_048_576 + 524_288 + 10_240)
    );
}

#[test]
fn vmm_charges_physical_memory_not_address_space_and_keeps_mapped_memory() {
    for mode in ["", "release-first"] {
        let out = Run::program("vmm")
            .args((!mode.is_empty()).then_some(mode))
            .run();
        out.assert_success();
        let calls = out.calls();
        // Reserve: no charge. Create 2 x 4 MiB: charged. Unmap: still held by the handles.
        // Release both: back. The leak: 2 MiB.
        let free = free_after(&out);
        let expected: Vec<u64> = if mode.is_empty() {
            vec![
                GIB,
                GIB,
                GIB - 8 * MIB,
                GIB - 8 * MIB,
                GIB - 8 * MIB,
                GIB,
                GIB - 2 * MIB,
            ]
        } else {
            // A handle released while mapped keeps its memory until the unmap.
            vec![
                GIB,
                GIB,
                GIB - 8 * MIB,
                GIB - 8 * MIB,
                GIB - 8 * MIB,
                GIB - 4 * MIB,
                GIB,
                GIB - 2 * MIB,
            ]
        };
        assert_eq!(free, expected, "{mode}\n{out}");
        assert!(out.stdout.contains("check vmm-memory-usable ok"), "{out}");
        let va = calls
            .iter()
            .find(|c| c.api == "cuMemAddressReserve")
            .unwrap();
        let maps: Vec<u64> = calls
            .iter()
            .filter(|c| c.api == "cuMemMap")
            .map(|c| c.ptr)
            .collect();
        assert_eq!(va.ptr % (2 * MIB), 0, "aligned to the granularity");
        assert_eq!(maps[..2], [va.ptr, va.ptr + 4 * MIB]);
        assert!(calls.iter().all(|c| c.code == 0), "{out}");
        assert!(
            calls
                .iter()
                .any(|c| c.without_ptr() == "cuMemUnmap 0 8388608")
        );
        assert!(
            calls
                .iter()
                .any(|c| c.without_ptr() == "cuMemGetAllocationGranularity 0 2097152")
        );
    }
}

#[test]
fn arrays_are_charged_what_their_descriptors_describe() {
    let out = Run::program("arrays").run();
    out.assert_success();
    let all = 12_582_912 + 131_072 + 349_524u64.div_ceil(256) * 256 + 8192;
    assert_eq!(
        lines_without_ptr(&out),
        [
            "cuArrayCreate_v2 0 12582912".to_string(),
            "cuArray3DCreate_v2 0 131072".into(),
            "cuMipmappedArrayCreate 0 349524".into(),
            "cuArrayCreate_v2 0 8192".into(),
            format!("cuMemGetInfo_v2 0 {}", GIB - all),
            "cuArrayDestroy 0 0".into(),
            "cuArrayDestroy 0 0".into(),
            "cuMipmappedArrayDestroy 0 0".into(),
            format!("cuMemGetInfo_v2 0 {}", GIB - 8192),
        ],
        "{out}"
    );
}

#[test]
fn graph_memory_nodes_hand_out_addresses_and_the_graph_pool_holds_memory_until_trimmed() {
    let out = Run::program("graph_nodes").run();
    out.assert_success();
    let lines = lines_without_ptr(&out);
    assert_eq!(lines[1], "cuGraphAddMemAllocNode 0 1048576", "{out}");
    assert_eq!(lines[2], "cuGraphAddMemFreeNode 0 0");
    assert_eq!(lines[3], "cuGraphAddMemAllocNode 0 2097152");
    let calls = out.calls();
    assert_eq!(
        calls[1].ptr, calls[2].ptr,
        "the free node frees the first node's address"
    );
    assert_ne!(calls[1].ptr, 0);
    assert_eq!(free_after(&out), [GIB, GIB - 3 * MIB, GIB], "{out}");
    assert!(calls.iter().all(|c| c.code == 0), "{out}");
}

#[test]
fn host_registration_is_tracked_not_charged() {
    let out = Run::program("host_register").run();
    out.assert_success();
    assert_eq!(
        lines_without_ptr(&out),
        [
            format!("cuMemGetInfo_v2 0 {GIB}"),
            "cuMemHostRegister_v2 0 1048576".into(),
            "cuMemHostRegister_v2 712 1048576".into(),
            "cuMemHostUnregister 0 0".into(),
            "cuMemHostUnregister 713 0".into(),
            "cuMemHostRegister_v2 0 65536".into(),
            format!("cuMemGetInfo_v2 0 {GIB}"),
        ],
        "{out}"
    );
}

#[test]
fn ipc_opens_an_alias_and_imports_share_physical_memory() {
    let out = Run::program("ipc").run();
    out.assert_success();
    let lines = lines_without_ptr(&out);
    assert_eq!(
        lines,
        [
            "cuMemAlloc_v2 0 1048576".to_string(),
            "cuIpcGetMemHandle 0 0".into(),
            "cuIpcOpenMemHandle_v2 0 1048576".into(),
            "cuIpcCloseMemHandle 0 0".into(),
            "cuMemFree_v2 0 0".into(),
            "cuMemCreate 0 2097152".into(),
            format!("cuMemGetInfo_v2 0 {}", GIB - 2 * MIB),
            "cuMemExportToShareableHandle 0 0".into(),
            "cuMemImportFromShareableHandle 0 0".into(),
            format!("cuMemGetInfo_v2 0 {}", GIB - 2 * MIB),
            "cuMemRelease 0 0".into(),
            format!("cuMemGetInfo_v2 0 {}", GIB - 2 * MIB),
            "cuMemRelease 0 0".into(),
            format!("cuMemGetInfo_v2 0 {GIB}"),
        ],
        "{out}"
    );
    assert!(
        out.stdout.contains("check ipc-alias-is-new-address ok"),
        "{out}"
    );
    assert!(
        out.stdout.contains("check imported-handle-is-new ok"),
        "{out}"
    );
}
