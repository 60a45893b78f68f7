//! Iterations found in the launch sequence when the program marks none (`source = "auto"`).

mod common;

use common::*;

// Sites: 1 weights, 2 per-step buffers, 3 scratch.

/// The kernels of one sampler step: down, mid, up, and the scheduler twice.
const STEP: [u64; 5] = [0x7000, 0x7100, 0x7200, 0x7300, 0x7300];

/// A text encoder and a VAE launch kernels of their own around the steps.
fn sampler(t: &mut Trace, steps: u64, leak: impl Fn(u64) -> u64) {
    t.alloc(0x100, 4 * GIB, 1);
    for f in [0x6000, 0x6100, 0x6200] {
        t.launch(f);
    }
    for step in 0..steps {
        for (k, &f) in STEP.iter().enumerate() {
            t.launch(f);
            if k == 1 {
                t.alloc(0x9000 + step, 64 * MIB, 3);
            }
            if k == 2 {
                t.free(0x9000 + step);
                let size = leak(step);
                if size > 0 {
                    t.alloc(0x1000 + step, size, 2);
                }
            }
        }
    }
    t.launch(0x8000);
}

#[test]
fn a_sampler_with_no_marks_gets_its_steps_from_the_launch_sequence() {
    let mut t = Trace::new();
    sampler(
        &mut t,
        37,
        |step| if step % 7 == 3 { 4 * MIB } else { 3 * MIB },
    );
    let r = t.report();
    assert_eq!(
        r.iterations.source.map(|s| s.as_str()),
        Some("auto"),
        "{:?}",
        r.iterations
    );
    assert!(
        (36..=38).contains(&r.iterations.count),
        "{:?}",
        r.iterations
    );
    assert_eq!(r.iterations.launches_per_iteration, Some(5));
    assert_eq!(r.iterations.window_ns, None);
    let leak = site(&r, 2);
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    let per = leak.bytes_per_iteration().unwrap() as f64;
    assert!(
        (per - 3.0 * MIB as f64).abs() <= 0.05 * 3.0 * MIB as f64,
        "{per}"
    );
    assert_eq!(site(&r, 1).verdict().map(|v| v.as_str()), Some("steady"));
    assert_eq!(site(&r, 3).verdict().map(|v| v.as_str()), Some("steady"));
}

#[test]
fn a_sampler_without_leaks_is_steady_over_auto_iterations() {
    let mut t = Trace::new();
    sampler(&mut t, 25, |_| 0);
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert!(
        (24..=26).contains(&r.iterations.count),
        "{:?}",
        r.iterations
    );
    assert_eq!(site(&r, 3).verdict().map(|v| v.as_str()), Some("steady"));
}

#[test]
fn launches_that_do_not_repeat_fall_back_to_time_windows() {
    let mut t = Trace::new();
    for step in 0..200u64 {
        // Every launch a different kernel: no period.
        t.launch(0x7000 + step);
        t.alloc(0x1000 + step, MIB, 2);
    }
    let r = t.report();
    assert_eq!(
        r.iterations.source.map(|s| s.as_str()),
        Some("time"),
        "{:?}",
        r.iterations
    );
    assert_eq!(r.iterations.launches_per_iteration, None);
    assert_eq!(site(&r, 2).verdict().map(|v| v.as_str()), Some("leak"));
}

#[test]
fn markers_win_over_the_launch_sequence() {
    let mut t = Trace::new();
    t.time += 1_000;
    t.enc.marker(
        &Marker {
            time_ns: t.time,
            tid: 7,
            label: None,
        },
        &mut t.buf,
    );
    sampler(&mut t, 10, |_| MIB);
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("marker"));
    assert_eq!(r.iterations.count, 1);
}

#[test]
fn an_oom_is_placed_in_its_auto_iteration() {
    let mut t = Trace::new();
    sampler(&mut t, 12, |_| 3 * MIB);
    // Iterations 0..12; the failure comes in a 13th step.
    t.launch(STEP[0]);
    t.event(Api::CudaMalloc, 0, 8 * GIB, 2, 2);
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert_eq!(r.iterations.count, 13);
    assert_eq!(r.ooms.len(), 1);
    assert_eq!(r.ooms[0].iteration, Some(12));
    let leak = site(&r, 2);
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    assert!(leak.full_at_iteration.is_some());
}

#[test]
fn a_run_longer_than_the_prefix_keeps_its_boundaries_after_it() {
    let mut t = Trace::new();
    // 60_000 steps of 5 launches: the period is fixed after the first 200_000 launches and the
    // rest are counted as they come.
    let steps = 60_000;
    sampler(
        &mut t,
        steps,
        |step| if step % 7 == 3 { 4 * MIB } else { 3 * MIB },
    );
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert!(
        r.iterations.count.abs_diff(steps) <= 1,
        "{:?}",
        r.iterations
    );
    let leak = site(&r, 2);
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    let per = leak.bytes_per_iteration().unwrap() as f64;
    assert!(
        (per - 3.0 * MIB as f64).abs() <= 0.05 * 3.0 * MIB as f64,
        "{per}"
    );
}

#[test]
fn a_cuda_graph_sampler_with_a_long_eager_warm_up_still_gets_its_steps() {
    // torch.compile's reduce-overhead mode: a first eager step and the graph's capture launch
    // hundreds of kernels once, then every step is one launch of the captured graph. The
    // warm-up breaks far more than a tenth of the positions.
    let mut t = Trace::new();
    t.alloc(0x100, 4 * GIB, 1);
    for f in 0..400u64 {
        t.launch(0x10_0000 + f);
    }
    for step in 0..60u64 {
        t.launch(0x5000);
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
        t.alloc(0x1000 + step, 2 * MIB, 2);
    }
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert_eq!(r.iterations.launches_per_iteration, Some(1));
    assert_eq!(r.iterations.count, 60);
    assert_eq!(verdict(&r, 2), Some("leak"));
    assert_eq!(site(&r, 2).bytes_per_iteration(), Some(2 * MIB as i64));
}

/// A program that serves 7 requests with no marks: while the model loads it runs the first
/// kernel of a request once (a warm-up call), then each request launches the same three kernels
/// and keeps 2 MiB; at exit it frees everything.
fn seven_requests() -> Trace {
    let (first, second, third) = (0x7000, 0x7100, 0x7200);
    let mut t = Trace::new();
    t.alloc(0x100, 4 * GIB, 1);
    t.launch(first).launch(0x6000).launch(0x6100);
    for request in 0..7u64 {
        t.launch(first);
        t.alloc(0x9000 + request, 64 * MIB, 3);
        t.launch(second);
        t.free(0x9000 + request);
        t.alloc(0x1000 + request, 2 * MIB, 2);
        t.launch(third);
    }
    for request in 0..7u64 {
        t.free(0x1000 + request);
    }
    t.free(0x100);
    t.trailer();
    t
}

#[test]
fn a_kernel_run_while_the_model_loads_starts_no_iteration() {
    let r = seven_requests().report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert_eq!(r.iterations.launches_per_iteration, Some(3));
    assert_eq!(r.iterations.count, 7, "{:?}", r.iterations);
}

#[test]
fn the_teardown_at_exit_is_no_part_of_the_last_iteration() {
    let t = seven_requests();
    let r = t.report();
    assert!(r.complete);
    let by_site =
        gpuleak_analysis::report::site_live_per_iteration(&t.replay(), &ReportOptions::default());
    let key = |stack| {
        *by_site
            .keys()
            .find(|k| k.stack == stack)
            .expect("a device site")
    };
    // The weights are held to the last request's end, and each request's 2 MiB with them: the
    // series ends where the last request did, not on what the exit freed.
    assert_eq!(by_site[&key(1)], vec![4 * GIB; 7]);
    assert_eq!(
        by_site[&key(2)],
        (1..=7).map(|n| n * 2 * MIB).collect::<Vec<_>>()
    );
    assert_eq!(site(&r, 2).verdict().map(|v| v.as_str()), Some("leak"));
    assert_eq!(site(&r, 2).live_bytes_at_end, 0);
}

/// A model loading: each of `parameters` weights is allocated and initialised by one kernel
/// (the same one each time), at sites 1 to 4 in turn; its memory only climbs.
fn loading(t: &mut Trace, parameters: u64) {
    for p in 0..parameters {
        t.alloc(0x10_0000 + p, 3 * MIB, 1 + (p % 4) as u32);
        t.launch(0x6000);
    }
}

#[test]
fn a_run_cut_off_while_its_model_loads_has_no_iteration_and_no_leak() {
    // The first 100 KB of a diffusers trace: 594 "iterations" of one kernel were taken for the
    // program's step, and every site the weights came from "kept memory every iteration".
    let mut t = Trace::new();
    loading(&mut t, 594);
    let r = t.report();
    assert!(r.sites.iter().all(|s| !s.leaks()), "{:?}", r.iterations);
    assert_eq!(r.iterations.source, None, "{:?}", r.iterations);
    assert_eq!(r.iterations.count, 0);
    let causes: Vec<_> = r.diagnosis.iter().map(|d| d.cause).collect();
    assert_eq!(
        causes,
        [gpuleak_analysis::Cause::TooFewIterations],
        "{:?}",
        r.diagnosis
    );
    assert!(
        r.diagnosis[0].text.contains("loading"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn once_the_model_has_loaded_its_steps_are_the_iterations() {
    let mut t = Trace::new();
    loading(&mut t, 594);
    sampler(&mut t, 40, |_| 2 * MIB);
    let r = t.report();
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("auto"));
    assert_eq!(r.iterations.launches_per_iteration, Some(5));
    assert_eq!(verdict(&r, 2), Some("leak"));
    assert_eq!(site(&r, 2).bytes_per_iteration(), Some(2 * MIB as i64));
    assert_ne!(verdict(&r, 1), Some("leak"));
}

#[test]
fn a_run_cut_off_in_its_first_steps_after_loading_has_no_leak_from_loading() {
    // A real PyTorch run that built 512 parameters on the device, cut 12 to 80 KB later: 512
    // "iterations" of the initialisation kernel (the first step's frees were taken for memory
    // given back within them), or time windows over the loading, named the parameters' two
    // sites leaks.
    for steps in 0..=6 {
        let mut t = Trace::new();
        loading(&mut t, 594);
        sampler(&mut t, steps, |_| 0);
        let r = t.report();
        let leaks: Vec<_> = r
            .sites
            .iter()
            .filter(|s| s.leaks())
            .map(|s| s.stack_id)
            .collect();
        assert!(
            leaks.is_empty(),
            "{steps} steps: sites {leaks:?} leak; {:?}",
            r.iterations
        );
        assert!(
            !r.iterations.device_leaks(),
            "{steps} steps: {:?}",
            r.iterations
        );
        assert!(
            r.iterations.count <= steps,
            "{steps} steps: {:?}",
            r.iterations
        );
    }
}

#[test]
fn a_model_cast_to_half_precision_one_kernel_per_parameter_is_loading_not_a_step() {
    // A model loaded in fp32, then `.half()` on the device: each parameter gets a new fp16
    // storage from one cast kernel and gives back its fp32 one, memory going down as well as up
    // (Stable Diffusion's UNet, cast so, under --torch-tensors). Before: "4 sites keep memory every iteration ... (1 kernel launch)" for a run that
    // never took a step.
    let mut t = Trace::new();
    // Loaded from a checkpoint: the fp32 weights copied to the device, no kernel launched.
    let params: Vec<u64> = (0..600).map(|_| t.alloc_next(2 * MIB, 1)).collect();
    // Cast: one kernel per parameter, the fp16 copy taken, the fp32 one given back.
    for &p in &params {
        t.alloc_next(MIB, 2);
        t.launch(0x7000);
        t.free(p);
    }
    let r = t.report();
    assert!(
        r.sites.iter().all(|s| !s.leaks()),
        "{:?}: {:?}",
        r.iterations,
        r.sites.iter().map(|s| s.verdict()).collect::<Vec<_>>()
    );
}
