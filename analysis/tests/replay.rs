//! Stories a user would tell about their program, written as traces and replayed.

mod common;

use common::*;

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
