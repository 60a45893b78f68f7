//! A run cut off early (the process killed, a live view in its first seconds): the trace ends
//! inside an iteration, where that iteration's temporaries are live. Only the iterations that
//! ended are judged.

mod common;

use common::*;

const KIB: u64 = 1 << 10;

/// 16 MiB of weights at site 1, then `steps` marked steps of a sampler: each takes 32 KiB of
/// activations at site 3 and gives them back, and keeps `kept` bytes at site 2 for good (a leak
/// when not 0). The trace stops after `cut_in`'s activations were taken and before they were
/// given back: the process was killed inside that step, or a live view reads it now.
fn killed_in_step(steps: u64, kept: u64) -> Trace {
    let mut t = Trace::new();
    t.alloc(0x100, 16 * MIB, 1);
    let mut addr = 0x10_000;
    for step in 0..steps {
        t.marker();
        t.alloc(0x200, 32 * KIB, 3);
        if step + 1 == steps {
            break;
        }
        t.free(0x200);
        if kept > 0 {
            t.alloc(addr, kept, 2);
            addr += 0x1000;
        }
    }
    t
}

#[test]
fn a_run_killed_inside_its_third_to_sixth_step_has_no_leak_from_that_steps_activations() {
    // Before: a real PyTorch run cut at 150 KB said "10 sites keep memory every iteration",
    // each a temporary of the step running when the trace stopped (0, 0, then 32 KiB "now").
    for steps in 3..=6 {
        let r = killed_in_step(steps, 0).report();
        assert!(!r.complete);
        assert_ne!(
            verdict(&r, 3),
            Some("leak"),
            "{steps} steps, the last cut off: the activations {:?}",
            site(&r, 3).growth
        );
        assert!(!r.iterations.device_leaks(), "{steps}: {:?}", r.iterations);
    }
}

#[test]
fn a_leaking_run_killed_inside_a_step_still_shows_its_leak() {
    let r = killed_in_step(12, 2 * MIB).report();
    assert_eq!(verdict(&r, 2), Some("leak"));
    assert_eq!(site(&r, 2).bytes_per_iteration(), Some(2 * MIB as i64));
    assert_ne!(verdict(&r, 3), Some("leak"));
    assert!(r.iterations.device_leaks(), "{:?}", r.iterations);
}
