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

/// The kernels of one step of a UNet-like program: three that open it, six blocks of the same
/// four, three that close it.
fn step_kernels() -> Vec<u64> {
    let block = [0x20, 0x21, 0x22, 0x23];
    [0x10, 0x11, 0x12]
        .into_iter()
        .chain((0..6).flat_map(|_| block))
        .chain([0x30, 0x31, 0x32])
        .collect()
}

/// The first step of a UNet-like program with no marks, each kernel taking 64 KiB of
/// activations that stay live until the step ends (they climb kernel after kernel); with
/// `second`, the step ends, its activations go, and the next step opens with the same kernels.
fn first_step_of(second: bool) -> Trace {
    let mut t = Trace::new();
    t.alloc(0x100, 16 * MIB, 1);
    let kernels = step_kernels();
    for (i, &k) in kernels.iter().enumerate() {
        t.launch(k);
        t.alloc(0x10_0000 + i as u64 * 0x1_0000, 64 * KIB, 3);
    }
    if second {
        for i in 0..kernels.len() as u64 {
            t.free(0x10_0000 + i * 0x1_0000);
        }
        for (i, &k) in kernels.iter().enumerate() {
            t.launch(k);
            t.alloc(0x10_0000 + i as u64 * 0x1_0000, 64 * KIB, 3);
        }
    }
    t
}

#[test]
fn a_run_cut_inside_its_first_step_judges_nothing_over_time_windows() {
    // Before: a real PyTorch run cut in its first step was sometimes judged over time windows
    // as "the device leaks", from the step's activations climbing window after window.
    let r = first_step_of(false).report();
    assert!(!r.complete);
    assert_eq!(r.iterations.count, 0, "{:?}", r.iterations);
    assert_ne!(verdict(&r, 3), Some("leak"), "{:?}", site(&r, 3).growth);
    assert!(!r.iterations.device_leaks(), "{:?}", r.iterations);
    assert!(
        r.notes.iter().any(|n| n.contains("inside its first step")),
        "{:?}",
        r.notes
    );
}

#[test]
fn once_the_second_step_opens_the_run_is_judged_again() {
    let r = first_step_of(true).report();
    assert!(r.iterations.count > 0, "{:?}", r.iterations);
    assert!(
        !r.notes.iter().any(|n| n.contains("inside its first step")),
        "{:?}",
        r.notes
    );
}
