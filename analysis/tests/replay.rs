//! Stories a user would tell about their program, written as traces and replayed.

mod common;

use common::*;
use gpuleak_analysis::MemoryClass;

#[test]
fn a_leak_of_3_allocations_is_reported_live_at_exit_at_its_site() {
    let mut t = Trace::hooked();
    for step in 0..3u64 {
        // Scratch that is freed, and a per-step buffer that never is.
        t.alloc(0xa000 + step, MIB, 1).free(0xa000 + step);
        t.alloc(0xb000 + step, 2 * MIB, 2).marker();
    }
    t.trailer();
    let r = t.report();

    assert_eq!(r.totals.allocations, 6);
    assert_eq!(r.totals.frees, 3);
    assert_eq!(r.totals.bytes_allocated, 9 * MIB);
    assert_eq!(r.totals.live_bytes_at_end, 6 * MIB);
    assert_eq!(r.totals.live_allocations_at_end, 3);
    assert_eq!(r.totals.peak_live_bytes, 6 * MIB);
    assert!(r.complete);

    let leak = &r.sites[0];
    assert_eq!(leak.stack_id, 2, "the leaking site ranks first");
    assert_eq!(leak.live_allocations_at_end, 3);
    assert_eq!(leak.live_bytes_at_end, 6 * MIB);
    assert_eq!(leak.frames, vec!["sample+0x2000", "sample+0x100"]);
    let scratch = &r.sites[1];
    assert_eq!(scratch.stack_id, 1);
    assert_eq!((scratch.live_bytes_at_end, scratch.frees), (0, 3));

    assert_eq!(r.iterations.count, 3);
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("marker"));
}

#[test]
fn peak_live_bytes_is_the_high_water_mark_not_the_end_state() {
    let mut t = Trace::hooked();
    t.alloc(0xa, 5 * MIB, 1)
        .alloc(0xb, 3 * MIB, 1)
        .free(0xa)
        .free(0xb)
        .alloc(0xc, MIB, 1);
    let d = *t.replay().device();
    assert_eq!(d.peak_live_bytes, 8 * MIB);
    assert_eq!(d.live_bytes, MIB);
}

#[test]
fn an_oom_records_the_live_bytes_at_the_moment_of_failure() {
    let mut t = Trace::hooked();
    t.alloc(0xa, GIB, 1).alloc(0xb, GIB, 1);
    // Driver API: CUDA_ERROR_OUT_OF_MEMORY.
    t.event(Api::CuMemAlloc, 0, 8 * GIB, 2, 4);
    // Freed afterwards: the OOM must still show what was live when it failed.
    t.free(0xa).free(0xb);
    let r = t.report();

    assert_eq!(r.ooms.len(), 1);
    let oom = &r.ooms[0];
    assert_eq!(oom.requested_bytes, 8 * GIB);
    assert_eq!(oom.live_bytes, 2 * GIB);
    assert_eq!(oom.device_free_bytes, Some(100 * MIB));
    assert_eq!(oom.device_total_bytes, Some(16 * GIB));
    // No markers: the time window it failed in stands in for the iteration.
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("time"));
    assert!(oom.iteration.unwrap() < r.iterations.count);
    assert_eq!(oom.api, "cuMemAlloc");
    assert_eq!(oom.frames, vec!["sample+0x4000", "sample+0x100"]);
    assert_eq!(r.totals.failed_allocations, 1);
    assert_eq!(r.totals.live_bytes_at_end, 0);
}

#[test]
fn a_failure_that_is_not_out_of_memory_is_counted_but_is_no_oom() {
    let mut t = Trace::hooked();
    // cudaErrorInvalidValue.
    t.event(Api::CudaMalloc, 0, GIB, 1, 1);
    let r = t.report();
    assert_eq!(r.totals.failed_allocations, 1);
    assert!(r.ooms.is_empty());
    assert_eq!(r.totals.allocations, 0);
}

#[test]
fn a_free_of_an_unknown_address_is_counted_not_fatal() {
    let mut t = Trace::hooked();
    t.free(0xdead).alloc(0xa, MIB, 1).free(0xa);
    // cudaFree(NULL) only creates the context: neither a free nor an unknown one.
    t.free(0);
    let r = t.report();
    assert_eq!(r.unmatched_frees, 1);
    assert_eq!(r.totals.frees, 1);
    assert_eq!(r.totals.live_bytes_at_end, 0);
}

#[test]
fn a_failed_free_leaves_the_allocation_live() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1);
    t.event(Api::CudaFree, 0xa, 0, 700, 3);
    let r = t.report();
    assert_eq!(r.totals.frees, 0);
    assert_eq!(r.totals.live_allocations_at_end, 1);
}

#[test]
fn an_address_handed_out_twice_is_not_counted_twice() {
    let mut t = Trace::hooked();
    // The first was freed by a path the hook does not see.
    t.alloc(0xa, MIB, 1).alloc(0xa, 2 * MIB, 2);
    let r = t.report();
    assert_eq!(r.totals.live_bytes_at_end, 2 * MIB);
    assert_eq!(r.totals.live_allocations_at_end, 1);
    assert_eq!(r.replaced_allocations, 1);
}

#[test]
fn pinned_host_memory_is_kept_apart_and_managed_counts_as_device() {
    let mut t = Trace::hooked();
    t.event(Api::CudaMallocHost, 0x1000, 4 * MIB, 0, 1);
    t.event(Api::CudaMallocManaged, 0x2000, 3 * MIB, 0, 2);
    t.event(Api::CuMemHostAlloc, 0x3000, MIB, 0, 1);
    t.event(Api::CudaFreeHost, 0x3000, 0, 0, 3);
    let r = t.report();
    assert_eq!(r.totals.allocations, 1);
    assert_eq!(r.totals.live_bytes_at_end, 3 * MIB);
    assert_eq!(r.pinned_host.allocations, 2);
    assert_eq!(r.pinned_host.bytes_allocated, 5 * MIB);
    assert_eq!(r.pinned_host.peak_live_bytes, 5 * MIB);
    assert_eq!(r.pinned_host.live_bytes_at_end, 4 * MIB);
    assert_eq!(r.pinned_host.frees, 1);
    let pinned_site = r.sites.iter().find(|s| s.stack_id == 1).unwrap();
    assert_eq!(pinned_site.memory, MemoryKind::PinnedHost);
    let managed_site = r.sites.iter().find(|s| s.stack_id == 2).unwrap();
    assert_eq!(managed_site.memory, MemoryKind::Managed);
    assert_eq!(r.memory.managed_live_bytes_at_end, 3 * MIB);
}

#[test]
fn sites_rank_by_live_bytes_then_by_bytes_allocated() {
    let mut t = Trace::hooked();
    t.alloc(0x1, 10 * MIB, 1).free(0x1); // most allocated, nothing live
    t.alloc(0x2, MIB, 2).free(0x2).alloc(0x3, MIB, 2); // 1 MiB live, 2 allocated
    t.alloc(0x4, MIB, 4); // 1 MiB live, 1 allocated
    let order: Vec<u32> = t.report().sites.iter().map(|s| s.stack_id).collect();
    assert_eq!(order, vec![2, 4, 1]);
}

#[test]
fn dropped_records_are_summed() {
    let mut t = Trace::hooked();
    t.enc.dropped(2_000, 5, &mut t.buf);
    t.enc.dropped(3_000, 7, &mut t.buf);
    assert_eq!(t.report().dropped_events, 12);
}

#[test]
fn without_markers_time_windows_are_the_iteration_source() {
    let mut t = Trace::hooked();
    t.alloc(0x1, MIB, 1);
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("time"));
    assert!(r.iterations.window_ns.is_some());
    assert_eq!(
        Trace::hooked().report().iterations.source,
        None,
        "no events, no iterations"
    );
    assert!(!r.complete, "no trailer: the process did not exit cleanly");
}

#[test]
fn a_truncated_trace_reports_its_offset_and_keeps_every_complete_event() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1).alloc(0xb, MIB, 1);
    let whole = t.buf.len();
    t.alloc(0xc, MIB, 1);
    // Killed while writing the third event: two bytes of it made it to disk.
    let cut = &t.buf[..whole + 2];
    let r = replay_bytes(cut).expect("truncation is not an error");
    assert_eq!(r.truncated_at(), Some(whole as u64));
    assert_eq!(r.device().allocations, 2);
    assert!(!r.complete());
    let report = Report::build(&r, &mut Symbolizer::new());
    assert_eq!(report.truncated_at, Some(whole as u64));
}

#[test]
fn a_trailer_followed_by_a_cut_record_is_not_complete() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1).trailer();
    let whole = t.buf.len();
    t.free(0xa);
    let r = replay_bytes(&t.buf[..whole + 1]).unwrap();
    assert!(r.trailer().is_some());
    assert!(!r.complete());
}

#[test]
fn malformed_bytes_are_an_error_with_their_offset() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1);
    let at = t.buf.len();
    t.buf.extend_from_slice(&[0xee, 1, 0]); // an unknown record tag
    match replay_bytes(&t.buf) {
        Err(DecodeError::Malformed { offset, .. }) => assert_eq!(offset, at as u64),
        other => panic!(
            "expected a malformed-trace error, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn the_json_has_the_agreed_field_names() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1)
        .event(Api::CudaMalloc, 0, GIB, 2, 2)
        .trailer();
    let v: serde_json::Value = serde_json::from_str(&t.report().to_json()).unwrap();
    assert_eq!(v["schema"], 1);
    for k in [
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ] {
        assert!(v["totals"][k].is_u64(), "totals.{k}");
    }
    let site = &v["sites"][0];
    for k in [
        "allocations",
        "bytes_allocated",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ] {
        assert!(site[k].is_u64(), "sites[0].{k}");
    }
    assert!(site["frames"].is_array());
    // Judged over time windows, since nothing marked iterations.
    assert!(site["verdict"].is_string() && site["bytes_per_iteration"].is_i64());
    assert!(site["confidence"].is_f64() && site["full_at_iteration"].is_null());
    assert_eq!(site["memory"], "device");
    assert!(v["iterations"]["count"].as_u64().unwrap() >= 20);
    assert_eq!(v["iterations"]["source"], "time");
    assert!(v["iterations"]["window_ns"].is_u64());
    let oom = &v["ooms"][0];
    for k in [
        "requested_bytes",
        "live_bytes",
        "device_free_bytes",
        "device_total_bytes",
    ] {
        assert!(oom[k].is_u64(), "ooms[0].{k}");
    }
    assert!(oom["iteration"].is_u64() && oom["frames"].is_array());
    assert_eq!(v["process"]["pid"], 4242);
    assert_eq!(v["process"]["argv"][1], "--steps");
    for k in ["ppid", "exe", "hostname", "hook_version", "stacks"] {
        assert!(!v["process"][k].is_null(), "process.{k}");
    }
    assert_eq!(v["complete"], true);
    assert!(v["truncated_at"].is_null());
    assert_eq!(v["dropped_events"], 0);
    assert_eq!(v["unmatched_frees"], 0);
    for k in [
        "allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
    ] {
        assert!(v["pinned_host"][k].is_u64(), "pinned_host.{k}");
    }
}

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
fn the_json_keeps_every_old_field_and_adds_the_memory_classes() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1)
        .event(Api::CudaMalloc, 0, GIB, 2, 2)
        .call(Api::CuMemCreate, 0x5, 2 * MIB, 0, 3)
        .trailer();
    let v: serde_json::Value = serde_json::from_str(&t.report().to_json()).unwrap();
    let keys =
        |o: &serde_json::Value| -> Vec<String> { o.as_object().unwrap().keys().cloned().collect() };
    let top = keys(&v);
    for k in [
        "schema",
        "process",
        "complete",
        "truncated_at",
        "totals",
        "pinned_host",
        "sites",
        "iterations",
        "ooms",
        "dropped_events",
        "unmatched_frees",
        "replaced_allocations",
        "notes",
        // New beside them.
        "host_registered",
        "physical",
        "mapped",
        "address_space",
        "imported",
        "pools",
        "memory",
    ] {
        assert!(top.contains(&k.to_string()), "top-level {k}");
    }
    assert_eq!(v["schema"], 1);
    let totals_fields = [
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ];
    for class in [
        "totals",
        "pinned_host",
        "host_registered",
        "physical",
        "mapped",
        "address_space",
        "imported",
    ] {
        let mut want: Vec<String> = totals_fields.iter().map(|s| s.to_string()).collect();
        let mut got = keys(&v[class]);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{class}");
        for k in totals_fields {
            assert!(v[class][k].is_u64(), "{class}.{k}");
        }
    }
    // `totals` is still device memory only.
    assert_eq!(v["totals"]["live_bytes_at_end"], MIB);
    assert_eq!(v["physical"]["live_bytes_at_end"], 2 * MIB);
    for k in [
        "frames",
        "memory",
        "stack_id",
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "live_bytes_at_end",
        "live_allocations_at_end",
        "verdict",
        "bytes_per_iteration",
    ] {
        assert!(
            keys(&v["sites"][0]).contains(&k.to_string()),
            "sites[0].{k}"
        );
    }
    let memories: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["memory"].as_str().unwrap())
        .collect();
    assert_eq!(memories, vec!["physical", "device"]);
    for k in [
        "requested_bytes",
        "live_bytes",
        "device_free_bytes",
        "device_total_bytes",
        "iteration",
        "frames",
        "api",
        "memory",
        "seq",
        "time_ns",
    ] {
        assert!(keys(&v["ooms"][0]).contains(&k.to_string()), "ooms[0].{k}");
    }
    assert_eq!(v["ooms"][0]["memory"], "device");
    for k in [
        "pid",
        "ppid",
        "exe",
        "argv",
        "hostname",
        "hook_version",
        "stacks",
    ] {
        assert!(keys(&v["process"]).contains(&k.to_string()), "process.{k}");
    }
    // Every old field is kept; new ones are only added.
    for k in [
        "count",
        "launches_per_iteration",
        "range",
        "source",
        "window_ns",
        "device_verdict",
        "device_bytes_per_iteration",
    ] {
        assert!(
            keys(&v["iterations"]).contains(&k.to_string()),
            "iterations.{k}"
        );
    }

    let pools = &v["pools"];
    assert_eq!(pools["returned_bytes"], 0);
    assert_eq!(pools["returned_frees"], 0);
    assert!(pools["last_trim_reserved_bytes"].is_null());
    assert!(pools["release_threshold_bytes"].is_null());
    assert_eq!(pools["trims"], 0);
    assert_eq!(pools["graph_trims"], 0);
    let m = &v["memory"];
    for k in [
        "device_live_bytes_at_end",
        "device_peak_live_bytes",
        "managed_live_bytes_at_end",
        "managed_peak_live_bytes",
        "physical_live_bytes_at_end",
        "physical_peak_live_bytes",
        "device_plus_physical_live_bytes_at_end",
        "device_plus_physical_peak_live_bytes",
        "mapped_bytes_at_end",
        "reserved_address_space_bytes_at_end",
        "pinned_host_live_bytes_at_end",
        "pinned_host_peak_live_bytes",
        "host_registered_bytes_at_end",
        "imported_bytes_at_end",
        "returned_to_pools_bytes",
    ] {
        assert!(m[k].is_u64(), "memory.{k}");
    }
    assert_eq!(m["device_plus_physical_live_bytes_at_end"], 3 * MIB);
    let by_kind = m["by_kind"].as_array().unwrap();
    assert_eq!(by_kind.len(), 2);
    assert_eq!(by_kind[0]["kind"], "device");
    assert_eq!(by_kind[0]["class"], "device");
    assert_eq!(by_kind[0]["failed_allocations"], 1);
    assert_eq!(by_kind[1]["kind"], "physical");
    assert_eq!(by_kind[1]["live_bytes_at_end"], 2 * MIB);
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

#[test]
fn the_device_is_named_by_the_ordinal_its_memory_figures_came_from() {
    let mut t = Trace::hooked().mem_info_always();
    t.alloc(0x100, MIB, 1);
    let r = t.report();
    let p = r.process.as_ref().unwrap();
    assert_eq!(p.devices.len(), 2);
    assert_eq!(p.device.as_deref(), Some("NVIDIA H100 80GB HBM3"));

    // A process that moved to its second device is described by that one.
    t.on_device(1).alloc(0x200, MIB, 2);
    let r = t.report();
    let p = r.process.as_ref().unwrap();
    assert_eq!(p.device.as_deref(), Some("NVIDIA A100-SXM4-40GB"));

    // A trace whose header names no device says nothing.
    assert_eq!(Trace::new().report().process.unwrap().device, None);
}
