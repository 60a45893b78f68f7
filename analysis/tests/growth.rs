//! Growth over iterations: diffusion-workload stories as traces, and the verdict each gets.

mod common;

use common::*;
use gpuleak_analysis::growth::{Verdict, judge};
use proptest::prelude::*;

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
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("marker"));
    let leak = site(&r, 2);
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    let per = leak.bytes_per_iteration().unwrap() as f64;
    assert!(
        (per - 3.0 * MIB as f64).abs() <= 0.05 * 3.0 * MIB as f64,
        "{per}"
    );
    assert!(leak.confidence().unwrap() >= 0.8, "{:?}", leak.confidence());
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
    assert_eq!(weights.verdict().map(|v| v.as_str()), Some("steady"));
    assert_eq!(weights.bytes_per_iteration(), Some(0));
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
    assert_eq!(s.verdict().map(|v| v.as_str()), Some("steady"));
    assert_eq!(s.bytes_per_iteration(), Some(0));
    assert!(s.confidence().unwrap() > 0.8);
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
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
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
    assert_eq!(
        (s.verdict().map(|v| v.as_str()), s.bytes_per_iteration()),
        (None, None)
    );
}

#[test]
fn without_markers_time_windows_stand_in_and_still_find_a_leak() {
    let mut t = Trace::new();
    for step in 0..200u64 {
        t.alloc(0x1000 + step, MIB, 2);
        t.alloc(0x9000 + step, MIB, 3).free(0x9000 + step);
    }
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("time"));
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
    assert_eq!(kept.verdict().map(|v| v.as_str()), Some("leak"));
    assert_eq!(kept.bytes_per_iteration(), Some(2 * MIB as i64));
}

#[test]
fn a_series_that_drains_then_steps_up_once_is_not_a_leak() {
    // One call site holds 1 MiB for 20 steps, jumps to 101 MiB, gives back 1 MiB a step (less
    // than the 1% a step counts as flat) down to 51 MiB, then holds 53 MiB for two steps: it
    // gave back half of what it took, and its last step up is no climb.
    let mut series = vec![MIB; 20];
    series.extend((51..=101).rev().map(|m| m * MIB));
    series.extend([53 * MIB; 2]);
    let mut t = Trace::new();
    t.device_total(80 * GIB);
    let mut held: Vec<u64> = Vec::new();
    let mut next = 0x1000;
    for &live in &series {
        t.marker();
        while (held.len() as u64) * MIB < live {
            t.alloc(next, MIB, 2);
            held.push(next);
            next += 1;
        }
        while (held.len() as u64) * MIB > live {
            t.free(held.pop().unwrap());
        }
    }
    let r = t.report();
    assert_eq!(r.iterations.count, series.len() as u64);
    let s = site(&r, 2);
    assert_ne!(s.verdict().map(|v| v.as_str()), Some("leak"), "{s:?}");
    assert!(
        s.bytes_per_iteration().unwrap().unsigned_abs() <= 100 * MIB,
        "{s:?}"
    );
    assert_eq!(s.full_at_iteration, None);
    assert_ne!(
        r.iterations.device_verdict().map(|v| v.as_str()),
        Some("leak")
    );
    assert!(
        r.diagnosis
            .iter()
            .all(|d| d.cause != gpuleak_analysis::Cause::Leak),
        "{:?}",
        r.diagnosis
    );
}

/// Series of live bytes at iteration ends: arbitrary values, or a walk of flat runs, drains and
/// rises within the 1% a step counts as flat, and jumps (what staircases and drains are made of).
fn arb_series() -> impl Strategy<Value = Vec<u64>> {
    #[derive(Clone, Debug)]
    enum Step {
        Flat,
        /// Down by this many thousandths of the level (under 1%: a flat step).
        Drain(u64),
        /// Up by this many thousandths of the level.
        Creep(u64),
        /// Up by this many thousandths of the level (over 1%: a step).
        Jump(u64),
        /// Down by this many thousandths of the level.
        Fall(u64),
    }
    let step = prop_oneof![
        3 => Just(Step::Flat),
        3 => (1u64..10).prop_map(Step::Drain),
        1 => (1u64..10).prop_map(Step::Creep),
        1 => (11u64..3000).prop_map(Step::Jump),
        1 => (11u64..1000).prop_map(Step::Fall),
    ];
    let walk = (1u64..1 << 40, prop::collection::vec(step, 0..100)).prop_map(|(start, steps)| {
        let mut v = vec![start];
        for step in steps {
            let x = *v.last().unwrap();
            let part = |k: u64| x / 1000 * k;
            v.push(match step {
                Step::Flat => x,
                Step::Drain(k) | Step::Fall(k) => x - part(k),
                // Kept below 2^52: a GPU's memory, many times over.
                Step::Creep(k) | Step::Jump(k) => (x + part(k)).min(1 << 52),
            });
        }
        v
    });
    prop_oneof![
        3 => walk,
        1 => prop::collection::vec(any::<u64>(), 0..40),
        1 => prop::collection::vec(0u64..8, 0..40),
    ]
}

proptest! {
    /// Whatever the series, judging it never panics (debug builds check every overflow), and a
    /// leak always climbs: a positive rate no larger than the series' own rise, max - min.
    /// (max - min, not last - first: a robust slope is meant to look past one odd end point, so
    /// a leak whose last iteration freed a little can still be one; no rate per iteration can
    /// exceed the whole span the series covers.)
    #[test]
    fn a_leak_verdict_always_has_a_positive_rate_within_the_series_rise(v in arb_series()) {
        if let Some(j) = judge(&v) {
            if j.verdict == Verdict::Leak {
                let rise = v.iter().max().unwrap() - v.iter().min().unwrap();
                prop_assert!(j.bytes_per_iteration > 0, "{j:?} for {v:?}");
                prop_assert!(j.bytes_per_iteration.unsigned_abs() <= rise, "{j:?} for {v:?}");
            }
            prop_assert!((0.0..=1.0).contains(&j.confidence));
        }
    }
}

#[test]
fn judging_a_drain_then_one_step_up_gives_no_leak() {
    let mut v = vec![MIB; 12];
    v.extend((51..=101).rev().map(|m| m * MIB));
    v.extend([53 * MIB; 2]);
    let j = judge(&v).unwrap();
    assert_ne!(j.verdict, Verdict::Leak, "{j:?}");
}
