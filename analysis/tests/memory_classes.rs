//! Each class of memory counted as what it is: VMM physical memory, mappings and reserved
//! address space, handles, pools, imported memory, arrays and graph memory.

mod common;

use common::*;
use gpuleak_analysis::MemoryClass;

// PyTorch's expandable segments: reserve most of the card's address space, create physical
// memory, map it into the reservation.
#[test]
fn vmm_memory_is_counted_once_as_physical_with_mappings_and_reserved_address_space_apart() {
    let va = 0x7f00_0000_0000;
    let mut t = Trace::hooked();
    t.call(Api::CuMemAddressReserve, va, 64 * GIB, 0, 1)
        .call(Api::CuMemCreate, 0x5, 2 * GIB, 0, 2)
        // The first mapping starts where the reservation does: it replaces nothing.
        .call(Api::CuMemMap, va, 2 * GIB, 0x5, 3)
        .alloc(0xa000, GIB, 4);
    let r = t.report();

    assert_eq!(r.totals.live_bytes_at_end, GIB, "device: cudaMalloc only");
    assert_eq!(r.totals.allocations, 1);
    assert_eq!(r.physical.live_bytes_at_end, 2 * GIB);
    assert_eq!(r.physical.allocations, 1);
    assert_eq!(r.mapped.live_bytes_at_end, 2 * GIB);
    assert_eq!(r.address_space.live_bytes_at_end, 64 * GIB);
    assert_eq!(r.replaced_allocations, 0);
    assert_eq!(r.memory.physical_live_bytes_at_end, 2 * GIB);
    assert_eq!(r.memory.device_plus_physical_live_bytes_at_end, 3 * GIB);
    assert_eq!(r.memory.device_plus_physical_peak_live_bytes, 3 * GIB);
    assert_eq!(r.memory.mapped_bytes_at_end, 2 * GIB);
    assert_eq!(r.memory.reserved_address_space_bytes_at_end, 64 * GIB);
    // Memory ranks before address space, however large the reservation.
    let order: Vec<MemoryKind> = r.sites.iter().map(|s| s.memory).collect();
    assert_eq!(
        order,
        vec![
            MemoryKind::Physical,
            MemoryKind::Device,
            MemoryKind::AddressSpace,
            MemoryKind::Mapping
        ]
    );
    let device_sites: u64 = r
        .sites
        .iter()
        .filter(|s| MemoryClass::of_kind(s.memory) == MemoryClass::Device)
        .map(|s| s.live_bytes_at_end)
        .sum();
    assert_eq!(device_sites, r.totals.live_bytes_at_end);

    // Failed teardown calls change nothing; the real ones give everything back.
    t.event(Api::CuMemUnmap, va, 2 * GIB, 1, 3)
        .event(Api::CuMemRelease, 0x5, 0, 1, 2)
        .event(Api::CuMemAddressFree, va, 64 * GIB, 1, 1);
    let r = t.report();
    assert_eq!(r.mapped.live_bytes_at_end, 2 * GIB);
    assert_eq!(r.physical.live_bytes_at_end, 2 * GIB);
    assert_eq!(r.address_space.live_bytes_at_end, 64 * GIB);

    t.call(Api::CuMemUnmap, va, 2 * GIB, 0, 3)
        .call(Api::CuMemRelease, 0x5, 0, 0, 2)
        .call(Api::CuMemAddressFree, va, 64 * GIB, 0, 1);
    let r = t.report();
    assert_eq!(
        (r.mapped.frees, r.physical.frees, r.address_space.frees),
        (1, 1, 1)
    );
    assert_eq!(r.memory.physical_live_bytes_at_end, 0);
    assert_eq!(r.memory.mapped_bytes_at_end, 0);
    assert_eq!(r.memory.reserved_address_space_bytes_at_end, 0);
    assert_eq!(r.memory.physical_peak_live_bytes, 2 * GIB);
    assert_eq!(r.totals.live_bytes_at_end, GIB);
    assert_eq!(r.unmatched_frees, 0);
}

#[test]
fn an_unmap_covering_two_mappings_removes_both() {
    let va = 0x7f00_0000_0000;
    let mut t = Trace::hooked();
    t.call(Api::CuMemAddressReserve, va, 8 * MIB, 0, 1);
    for (i, handle) in [0x11u64, 0x12, 0x13].into_iter().enumerate() {
        t.call(Api::CuMemCreate, handle, 2 * MIB, 0, 2).call(
            Api::CuMemMap,
            va + 2 * MIB * i as u64,
            2 * MIB,
            handle,
            3,
        );
    }
    // Covers the first two mappings; the third starts where the range ends.
    t.call(Api::CuMemUnmap, va, 4 * MIB, 0, 3);
    let r = t.report();
    assert_eq!(r.mapped.frees, 2);
    assert_eq!(r.mapped.live_allocations_at_end, 1);
    assert_eq!(r.mapped.live_bytes_at_end, 2 * MIB);
    assert_eq!(r.mapped.peak_live_bytes, 6 * MIB);
    assert_eq!(r.unmatched_frees, 0);
    assert_eq!(
        r.physical.live_bytes_at_end,
        6 * MIB,
        "unmapping frees no memory"
    );
    assert_eq!(r.address_space.live_allocations_at_end, 1);
    let replay = t.replay();
    assert_eq!(
        replay.mappings().keys().copied().collect::<Vec<_>>(),
        vec![va + 4 * MIB]
    );
    // An unmap of a range holding no mapping matched nothing.
    t.call(Api::CuMemUnmap, va, 4 * MIB, 0, 3);
    assert_eq!(t.report().unmatched_frees, 1);
}

#[test]
fn a_handle_equal_to_a_device_pointer_does_not_free_it() {
    let mut t = Trace::hooked();
    t.alloc(0x1000, MIB, 1)
        .call(Api::CuMemCreate, 0x1000, 2 * MIB, 0, 2)
        .call(Api::CuArrayCreate, 0x1000, 3 * MIB, 0, 3);
    let r = t.report();
    assert_eq!(
        r.replaced_allocations, 0,
        "three namespaces, three allocations"
    );
    assert_eq!(r.totals.live_bytes_at_end, 4 * MIB, "device and array");
    assert_eq!(r.physical.live_bytes_at_end, 2 * MIB);

    t.call(Api::CuMemRelease, 0x1000, 0, 0, 2);
    let r = t.report();
    assert_eq!(r.physical.live_bytes_at_end, 0);
    assert_eq!(r.totals.live_bytes_at_end, 4 * MIB);
    assert_eq!(r.totals.frees, 0);

    t.free(0x1000);
    let r = t.report();
    assert_eq!(
        r.totals.live_bytes_at_end,
        3 * MIB,
        "only the array is left"
    );
    assert_eq!(r.totals.frees, 1);
    let array = r.sites.iter().find(|s| s.stack_id == 3).unwrap();
    assert_eq!(array.memory, MemoryKind::Array);
    assert_eq!(array.live_bytes_at_end, 3 * MIB);
    assert_eq!(r.unmatched_frees, 0);
}

#[test]
fn pool_trims_and_thresholds_never_change_live_bytes() {
    let pool = 0x77;
    let mut t = Trace::hooked();
    t.call(Api::CuMemAllocFromPoolAsync, 0xa000, 4 * MIB, pool, 1)
        .call(Api::CuMemPoolSetAttribute, pool, u64::MAX, 0, 2)
        // The pool's handle equals nothing live, and a trim naming a live address frees nothing.
        .call(Api::CuMemPoolTrimTo, pool, 0, 6 * MIB, 2)
        .call(Api::CuMemPoolTrimTo, 0xa000, MIB, 5 * MIB, 2)
        .call(Api::CuDeviceGraphMemTrim, 0, 0, 0, 2);
    // A failed trim trimmed nothing.
    t.event_aux(Api::CuMemPoolTrimTo, pool, 0, 1, 1, 2);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, 4 * MIB);
    assert_eq!(r.totals.live_allocations_at_end, 1);
    assert_eq!((r.totals.frees, r.unmatched_frees), (0, 0));
    assert_eq!(
        r.totals.failed_allocations, 0,
        "controls are not allocations"
    );
    assert_eq!(r.pools.trims, 2);
    assert_eq!(r.pools.last_trim_reserved_bytes, Some(5 * MIB));
    assert_eq!(r.pools.release_threshold_bytes, Some(u64::MAX));
    assert_eq!(r.pools.graph_trims, 1);
    assert_eq!(r.pools.returned_bytes, 0);
    assert!(
        r.sites.iter().all(|s| s.stack_id == 1),
        "controls make no site"
    );
}

#[test]
fn imported_memory_is_not_counted_as_this_process_device_memory() {
    let mut t = Trace::hooked();
    t.alloc(0xa000, MIB, 1)
        .call(Api::CuIpcOpenMemHandle, 0x9000, GIB, 0, 2)
        .call(Api::CuMemImportFromShareableHandle, 0x33, 512 * MIB, 0, 3);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, MIB);
    assert_eq!(r.totals.peak_live_bytes, MIB);
    assert_eq!(r.physical.allocations, 0);
    assert_eq!(r.imported.live_bytes_at_end, GIB + 512 * MIB);
    assert_eq!(r.memory.imported_bytes_at_end, GIB + 512 * MIB);
    assert_eq!(r.memory.device_plus_physical_live_bytes_at_end, MIB);

    // cuMemRelease gives back the imported handle: the kind comes from what it matched.
    t.call(Api::CuMemRelease, 0x33, 0, 0, 3)
        .call(Api::CuIpcCloseMemHandle, 0x9000, 0, 0, 2);
    let r = t.report();
    assert_eq!(r.imported.frees, 2);
    assert_eq!(r.imported.live_bytes_at_end, 0);
    assert_eq!(r.physical.frees, 0);
    assert_eq!(r.unmatched_frees, 0);
    assert_eq!(r.totals.live_bytes_at_end, MIB);
}

#[test]
fn async_frees_are_reported_as_returned_to_pools() {
    let mut t = Trace::hooked();
    t.event(Api::CudaMallocAsync, 0xa000, 8 * MIB, 0, 1)
        .call(Api::CuMemAllocFromPoolAsync, 0xb000, 4 * MIB, 0x77, 2)
        .alloc(0xc000, MIB, 3)
        .event(Api::CudaFreeAsync, 0xa000, 0, 0, 1)
        .event(Api::CuMemFreeAsync, 0xb000, 0, 0, 2)
        .free(0xc000)
        // Of memory the trace never saw: its size is unknown.
        .event(Api::CuMemFreeAsync, 0xdead, 0, 0, 2);
    let r = t.report();
    assert_eq!(r.pools.returned_bytes, 12 * MIB);
    assert_eq!(r.pools.returned_frees, 2);
    assert_eq!(r.memory.returned_to_pools_bytes, 12 * MIB);
    // The program gave it back: it is no longer live, whatever the pool keeps.
    assert_eq!(r.totals.live_bytes_at_end, 0);
    assert_eq!(r.totals.frees, 3);
    assert_eq!(r.unmatched_frees, 1);
}

#[test]
fn arrays_and_graph_memory_are_device_memory_and_device_sites_add_up_to_the_totals() {
    let mut t = Trace::hooked();
    t.alloc(0xa000, MIB, 1)
        .event(Api::CudaMallocManaged, 0xb000, 2 * MIB, 0, 2)
        .call(Api::CuArray3DCreate, 0x40, 3 * MIB, 0, 3)
        .call(Api::CuGraphAddMemAllocNode, 0xc000, 4 * MIB, 0x99, 4)
        .call(Api::CuMemHostRegister, 0xd000, 5 * MIB, 0, 1);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, 10 * MIB);
    assert_eq!(r.host_registered.live_bytes_at_end, 5 * MIB);
    let device_sites: u64 = r
        .sites
        .iter()
        .filter(|s| MemoryClass::of_kind(s.memory) == MemoryClass::Device)
        .map(|s| s.live_bytes_at_end)
        .sum();
    assert_eq!(device_sites, 10 * MIB);
    let kinds: Vec<(&str, u64)> = r
        .memory
        .by_kind
        .iter()
        .map(|k| (gpuleak_analysis::kind_name(k.kind), k.live_bytes_at_end))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("device", MIB),
            ("managed", 2 * MIB),
            ("array", 3 * MIB),
            ("graph", 4 * MIB),
            ("host_registered", 5 * MIB),
        ]
    );
    t.call(Api::CuGraphAddMemFreeNode, 0xc000, 0, 0x99, 4)
        .call(Api::CuArrayDestroy, 0x40, 0, 0, 3)
        .call(Api::CuMemHostUnregister, 0xd000, 0, 0, 1);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, 3 * MIB);
    assert_eq!(r.host_registered.live_bytes_at_end, 0);
    assert_eq!(r.unmatched_frees, 0);
}

#[test]
fn what_pools_keep_after_async_frees_is_reported_as_reserved_not_live() {
    let (a, b) = (0x10, 0x20);
    let mut t = Trace::hooked();
    t.async_alloc(0xa000, 4 * MIB, a, 4 * MIB)
        .event(Api::CuMemFreeAsync, 0xa000, 0, 0, 1)
        // The pool reused what it kept: still 4 MiB reserved.
        .async_alloc(0xb000, 2 * MIB, a, 4 * MIB)
        .async_alloc(0xc000, 8 * MIB, b, 8 * MIB)
        // A trim of pool a down to what is in use.
        .call(Api::CuMemPoolTrimTo, a, 0, 2 * MIB, 2);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, 10 * MIB);
    assert_eq!(r.pools.reserved_bytes_at_end, 2 * MIB + 8 * MIB);
    assert_eq!(r.pools.peak_reserved_bytes, 12 * MIB);
}
