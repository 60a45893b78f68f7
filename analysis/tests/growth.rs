//! Growth over iterations: diffusion-workload stories as traces, and the verdict each gets.

mod common;

use common::*;

// Sites: 1 weights, 2 per-step buffers, 3 scratch, 4 allocator segments.

#[test]
fn a_leak_of_3_mib_per_step_is_flagged_with_bytes_per_iteration_within_5_percent() {
    let mut t = Trace::new();
    t.alloc(0x100, 4 * GIB, 1);
    for step in 0..30u64 {
        t.marker();
        // A little noise: every seventh step keeps a bit more.
        let size = if step % 7 == 3 { 4 * MIB } else { 3 * MIB };
        t.alloc(0x1000 + step, size, 2);
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
    }
    let r = t.report();
    assert_eq!(r.iterations.count, 30);
    assert_eq!(r.iterations.source.as_deref(), Some("marker"));
    let leak = site(&r, 2);
    assert_eq!(leak.verdict.as_deref(), Some("leak"));
    let per = leak.bytes_per_iteration.unwrap() as f64;
    assert!(
        (per - 3.0 * MIB as f64).abs() <= 0.05 * 3.0 * MIB as f64,
        "{per}"
    );
    assert!(leak.confidence.unwrap() >= 0.8, "{:?}", leak.confidence);
    // No failure recorded the device's total: no projection.
    assert_eq!(leak.full_at_iteration, None);
    assert_eq!(verdict(&r, 1), Some("steady"));
    assert_eq!(verdict(&r, 3), Some("steady"));
}

#[test]
fn weights_loaded_before_the_first_marker_are_not_a_leak() {
    let mut t = Trace::new();
    for i in 0..10 {
        t.alloc(0x100 + i, 500 * MIB, 1);
    }
    for step in 0..20u64 {
        t.marker();
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
    }
    let r = t.report();
    let weights = site(&r, 1);
    assert_eq!(weights.live_bytes_at_end, 5000 * MIB);
    assert_eq!(weights.verdict.as_deref(), Some("steady"));
    assert_eq!(weights.bytes_per_iteration, Some(0));
}

#[test]
fn a_sawtooth_released_at_each_images_end_is_a_sawtooth() {
    let r = kept_through_each_image(4, 10, 8 * MIB).report();
    assert_eq!(verdict(&r, 2), Some("sawtooth"));
}

#[test]
fn an_allocator_plateau_is_not_called_a_leak() {
    let mut t = Trace::new();
    // A caching allocator grows its segments over the first steps, then reuses them.
    for step in 0..30u64 {
        t.marker();
        if step < 12 {
            t.alloc(0x1000 + step, 20 * MIB, 4);
        }
    }
    let r = t.report();
    assert_eq!(verdict(&r, 4), Some("plateau"));
    assert_eq!(site(&r, 4).full_at_iteration, None);
}

#[test]
fn a_cache_filled_within_the_warm_up_is_a_plateau_not_steady() {
    let mut t = Trace::new();
    // 80 steps: the warm-up is the first 8; the cache grows in the first 5 only.
    for step in 0..80u64 {
        t.marker();
        if step < 5 {
            t.alloc(0x1000 + step, 4 * MIB, 4);
        }
    }
    let r = t.report();
    assert_eq!(verdict(&r, 4), Some("plateau"));
}

#[test]
fn a_per_step_scratch_freed_each_step_is_steady() {
    let mut t = Trace::new();
    for step in 0..25u64 {
        t.marker();
        t.alloc(0x1000 + step, 256 * MIB, 3)
            .alloc(0x5000 + step, 16 * MIB, 3)
            .free(0x1000 + step)
            .free(0x5000 + step);
    }
    let r = t.report();
    let s = site(&r, 3);
    assert_eq!(s.verdict.as_deref(), Some("steady"));
    assert_eq!(s.bytes_per_iteration, Some(0));
    assert!(s.confidence.unwrap() > 0.8);
}

#[test]
fn an_oom_records_its_iteration_and_a_leak_projects_when_the_device_fills() {
    let mut t = Trace::new();
    t.alloc(0x100, GIB, 1); // weights, before the first iteration
    t.event(Api::CudaMalloc, 0, 64 * GIB, 2, 3); // before iterations: no iteration
    for step in 0..10u64 {
        t.marker();
        t.alloc(0x1000 + step, 100 * MIB, 2);
    }
    t.event(Api::CudaMalloc, 0, 8 * GIB, 2, 3);
    let r = t.report();
    assert_eq!(r.ooms.len(), 2);
    assert_eq!(r.ooms[0].iteration, None);
    assert_eq!(r.ooms[1].iteration, Some(9));
    let leak = site(&r, 2);
    assert_eq!(leak.verdict.as_deref(), Some("leak"));
    // 16 GiB total, 1 GiB + 1000 MiB live: 14384 MiB of room at 100 MiB an iteration.
    assert_eq!(leak.full_at_iteration, Some(9 + 144));
    // What held the memory at the second failure, largest first: the weights, then the leak.
    let held: Vec<(u64, u64)> = r.ooms[1]
        .live_by_site
        .iter()
        .map(|s| (s.live_bytes, s.live_allocations))
        .collect();
    assert_eq!(held, vec![(GIB, 1), (1000 * MIB, 10)]);
}

#[test]
fn a_site_seen_in_fewer_than_3_iterations_has_no_verdict() {
    let mut t = Trace::new();
    for step in 0..10u64 {
        t.marker();
        if step == 9 {
            t.alloc(0x1000, MIB, 2);
        }
    }
    let r = t.report();
    let s = site(&r, 2);
    assert_eq!((s.verdict.as_deref(), s.bytes_per_iteration), (None, None));
}

#[test]
fn without_markers_time_windows_stand_in_and_still_find_a_leak() {
    let mut t = Trace::new();
    for step in 0..200u64 {
        t.alloc(0x1000 + step, MIB, 2);
        t.alloc(0x9000 + step, MIB, 3).free(0x9000 + step);
    }
    let r = t.report();
    assert_eq!(r.iterations.source.as_deref(), Some("time"));
    assert!(
        (20..=40).contains(&r.iterations.count),
        "{:?}",
        r.iterations
    );
    assert!(r.iterations.window_ns.unwrap() > 0);
    assert_eq!(verdict(&r, 2), Some("leak"));
    assert_eq!(verdict(&r, 3), Some("steady"));
}

#[test]
fn a_leak_the_program_frees_at_exit_is_still_a_leak() {
    // Latents kept every step in a list that the interpreter empties at shutdown: the frees come
    // after the last iteration, in the program's teardown.
    let mut t = Trace::new();
    t.alloc(0x100, 2 * GIB, 1);
    for step in 0..24u64 {
        t.marker();
        t.alloc(0x1000 + step, 2 * MIB, 2);
    }
    for step in 0..24u64 {
        t.free(0x1000 + step);
    }
    t.free(0x100);
    t.trailer();
    let r = t.report();
    assert!(r.complete);
    let kept = site(&r, 2);
    assert_eq!(kept.live_bytes_at_end, 0);
    assert_eq!(kept.verdict.as_deref(), Some("leak"));
    assert_eq!(kept.bytes_per_iteration, Some(2 * MIB as i64));
}
