//! Why memory ran out: each story of the mission (a leak, an input too large, a peak that does
//! not fit, fragmentation, pools that keep what was freed) gets its own diagnosis.

mod common;

use common::*;
use gpuleak_analysis::model::{Cache, Level};
use gpuleak_analysis::{Cause, Report};
use gpuleak_trace::Api;

// Sites: 1 weights, 2 per-step buffers, 3 scratch. A 16 GiB device whose CUDA context takes
// 200 MiB.

const TOTAL: u64 = 16 * GIB;
const CONTEXT: u64 = 200 * MIB;

fn causes(r: &Report) -> Vec<Cause> {
    r.diagnosis.iter().map(|d| d.cause).collect()
}

/// `steps` steps, each with 64 MiB of scratch and, with `leak`, that many bytes kept, after
/// 4 GiB of weights; then a failure of `request` bytes in the last step, and a clean exit.
fn run(steps: u64, leak: u64, request: u64) -> Report {
    let mut t = steps_of(steps, leak, request);
    t.trailer();
    t.report()
}

fn steps_of(steps: u64, leak: u64, request: u64) -> Trace {
    let mut t = Trace::new();
    t.alloc(0x100, 4 * GIB, 1);
    for step in 0..steps {
        t.marker();
        if leak > 0 {
            t.alloc(0x1000 + step, leak, 2);
        }
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
    }
    if request > 0 {
        // What the driver would say: all but what this process holds and its context.
        let free = TOTAL - (4 * GIB + steps * leak) - CONTEXT;
        t.out_of_memory(request, free, TOTAL, 3);
    }
    t
}

#[test]
fn an_oom_after_a_per_step_leak_is_blamed_on_the_leak_and_its_share() {
    // 200 steps of 30 MiB: 5.9 GiB leaked against 4 GiB of weights; 5.9 GiB left free, and 6 GiB
    // asked: without the leak it would have fit.
    let r = run(200, 30 * MIB, 6 * GIB);
    assert_eq!(causes(&r), [Cause::Leak]);
    let text = &r.diagnosis[0].text;
    assert!(text.contains("because of a leak"), "{text}");
    assert!(text.contains("+30.0 MiB/iteration"), "{text}");
    // 5.86 GiB of the 9.86 GiB live.
    assert!(text.contains("(59%)"), "{text}");
    assert!(text.contains("in iteration 199"), "{text}");
}

#[test]
fn an_oom_in_the_first_step_with_nothing_grown_is_an_input_too_large() {
    let r = run(1, 0, 14 * GIB);
    assert_eq!(causes(&r), [Cause::TooLarge]);
    let text = &r.diagnosis[0].text;
    assert!(text.contains("before memory could grow"), "{text}");
    // The weights are named as what held the memory.
    assert!(text.contains("(4.00 GiB)"), "{text}");
}

#[test]
fn a_request_larger_than_the_device_is_too_large_whatever_else_is_live() {
    let r = run(30, 0, 20 * GIB);
    assert_eq!(causes(&r)[0], Cause::TooLarge);
    assert!(
        r.diagnosis[0].text.contains("more than the whole device"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn a_late_oom_with_flat_memory_is_the_peak_of_one_iteration() {
    let r = run(30, 0, 14 * GIB);
    assert_eq!(causes(&r), [Cause::Peak]);
    assert!(
        r.diagnosis[0].text.contains("in iteration 29"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn an_oom_with_more_free_than_asked_is_fragmentation() {
    // 11.8 GiB free, and 64 MiB could not be had.
    let r = run(30, 0, 64 * MIB);
    assert_eq!(causes(&r), [Cause::Fragmentation]);
}

#[test]
fn a_leak_that_did_not_cause_the_failure_is_still_said() {
    // 1 MiB a step is a small share of what was live when 14 GiB were asked.
    let r = run(30, MIB, 14 * GIB);
    assert_eq!(causes(&r), [Cause::Peak, Cause::Leak]);
    assert!(r.diagnosis[1].text.starts_with("Besides,"));
}

#[test]
fn a_leak_without_any_failure_says_when_the_device_fills() {
    let r = run(30, 3 * MIB, 0);
    assert_eq!(causes(&r), [Cause::Leak]);
    assert!(
        r.diagnosis[0]
            .text
            .starts_with("No out-of-memory failure in this run"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn while_the_program_runs_the_diagnosis_speaks_of_now() {
    let r = steps_of(30, 3 * MIB, 0).report();
    let text = &r.diagnosis[0].text;
    assert!(
        text.starts_with("No out-of-memory failure so far"),
        "{text}"
    );
    assert!(text.contains("live now"), "{text}");
}

#[test]
fn pools_that_keep_what_was_freed_are_no_leak_but_are_said() {
    let pool = 0x77;
    let mut t = Trace::new();
    for step in 0..20u64 {
        t.marker();
        t.async_alloc(0x1000 + step, 64 * MIB, pool, 2 * GIB);
        t.event(Api::CuMemFreeAsync, 0x1000 + step, 0, 0, 1);
    }
    let r = t.report();
    assert_eq!(causes(&r), [Cause::PoolRetention]);
    assert!(
        r.diagnosis[0].text.contains("2.00 GiB"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn memory_kept_through_each_image_is_said_to_raise_the_peak() {
    let r = kept_through_each_image(4, 10, 8 * MIB).report();
    assert_eq!(causes(&r), [Cause::HeldPerCycle]);
    assert!(
        r.diagnosis[0].text.contains("8.00 MiB/iteration"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn a_run_where_nothing_grows_is_healthy() {
    let r = run(30, 0, 0);
    assert_eq!(causes(&r), [Cause::Healthy]);
}

#[test]
fn the_json_carries_the_diagnosis() {
    let r = run(30, 3 * MIB, 0);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["diagnosis"][0]["cause"], "leak");
    let text = json["diagnosis"][0]["text"].as_str().unwrap();
    assert!(text.contains("+3.00 MiB/iteration"), "{text}");
}

#[test]
fn a_failure_retried_with_success_is_the_device_at_its_limit_not_the_end() {
    // PyTorch's caching allocator: cudaMalloc fails, the cache is emptied, the same request
    // succeeds, and sampling goes on.
    let mut t = steps_of(30, 0, 12 * GIB);
    t.alloc(0x7000, 12 * GIB, 3).free(0x7000);
    t.trailer();
    let r = t.report();
    assert!(r.ooms[0].retried);
    assert_eq!(causes(&r), [Cause::AtLimit]);
    assert!(
        r.diagnosis[0].text.contains("retried with success"),
        "{}",
        r.diagnosis[0].text
    );

    // A later failure that was not retried is what stopped the program.
    let mut t = steps_of(30, 0, 12 * GIB);
    t.alloc(0x7000, 12 * GIB, 3).free(0x7000);
    t.out_of_memory(13 * GIB, TOTAL - 4 * GIB - CONTEXT, TOTAL, 3);
    t.trailer();
    let r = t.report();
    assert!(r.ooms[0].retried && !r.ooms[1].retried);
    assert_eq!(causes(&r), [Cause::Peak]);
}

#[test]
fn a_device_full_of_other_memory_is_said_to_be_used_elsewhere() {
    // 4 GiB live, and the failure reports 100 MiB free of 16 GiB: 11.9 GiB in use that this
    // process did not allocate (another process on the GPU).
    let mut t = steps_of(30, 0, 0);
    t.out_of_memory(512 * MIB, 100 * MIB, TOTAL, 3);
    t.trailer();
    let r = t.report();
    assert_eq!(causes(&r), [Cause::Elsewhere]);
    assert!(
        r.diagnosis[0]
            .text
            .contains("this process held only 4.00 GiB of the device's 16.0 GiB"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn growth_spread_over_many_sites_points_at_tensor_level_events() {
    // A caching allocator: each step's new segment is asked for wherever a tensor did not fit,
    // so every step's growth has a different call site (sites 10 to 39), none of which leaks.
    let mut t = Trace::new();
    for step in 0..30u64 {
        t.marker();
        t.alloc(0x1000 + step, 20 * MIB, 10 + step as u32);
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
    }
    t.trailer();
    let r = t.report();
    assert_eq!(
        r.iterations.device_verdict().map(|v| v.as_str()),
        Some("leak")
    );
    assert!(
        r.sites
            .iter()
            .all(|s| s.verdict().map(|v| v.as_str()) != Some("leak")),
        "no site leaks alone"
    );
    assert_eq!(causes(&r), [Cause::GrowthUnattributed]);
    let text = &r.diagnosis[0].text;
    assert!(text.contains("grows 20.0 MiB/iteration in all"), "{text}");
    assert!(text.contains("--torch-tensors"), "{text}");
}

#[test]
fn growth_in_all_that_one_site_explains_names_that_site() {
    // Site 5 grows 3 MiB a step for 20 steps, then stops (a plateau of its own); meanwhile
    // the device keeps growing by 1 MiB a step from places that each allocate once (sites 100
    // on). Most of the device's growth is site 5's: name it, not "different places".
    let mut t = Trace::new();
    for step in 0..30u64 {
        t.marker();
        if step < 20 {
            t.alloc(0x1000 + step, 3 * MIB, 5);
        } else {
            t.alloc(0x5000 + step, MIB, 100 + step as u32);
        }
    }
    t.trailer();
    let r = t.report();
    assert_eq!(
        r.iterations.device_verdict().map(|v| v.as_str()),
        Some("leak")
    );
    let site = r.sites.iter().find(|s| s.stack_id == 5).unwrap();
    assert_eq!(site.verdict().map(|v| v.as_str()), Some("plateau"));
    assert_eq!(causes(&r), [Cause::GrowthAtSite]);
    let text = &r.diagnosis[0].text;
    assert!(
        text.contains(&format!("most of it at {}", site.label)),
        "{text}"
    );
    assert!(!text.contains("different places"), "{text}");
}

#[test]
fn a_run_too_short_to_judge_says_how_many_more_iterations_it_needs() {
    // Two steps of a 3 MiB leak: no verdict can be given, and "no leak" would be a guess.
    let r = run(2, 3 * MIB, 0);
    assert_eq!(causes(&r), [Cause::TooFewIterations]);
    let text = &r.diagnosis[0].text;
    assert!(text.contains("Only 2 iterations"), "{text}");
    assert!(text.contains("(4 more)"), "{text}");
    assert_eq!(r.visibility.iterations_needed, Some(4));
    // Three steps of it: a leak or too few, never healthy.
    let r = run(3, 3 * MIB, 0);
    assert!(!causes(&r).contains(&Cause::Healthy), "{:?}", r.diagnosis);
}

#[test]
fn no_growth_under_pytorchs_caching_allocator_is_not_called_healthy() {
    // PyTorch's allocator in the process, its segments allocated once and kept: a leak inside
    // them would make no allocation.
    let mut t = Trace::hooked();
    t.module("/venv/lib/python3.11/site-packages/torch/lib/libc10_cuda.so");
    t.alloc(0x100, 20 * MIB, 1);
    for _ in 0..30 {
        t.marker();
    }
    t.trailer();
    let r = t.report();
    assert_eq!(causes(&r), [Cause::HiddenByCache]);
    assert_eq!(r.visibility.level, Level::Segments);
    assert_eq!(r.visibility.cache, Some(Cache::Pytorch));
    let cmd = r.visibility.command.as_deref().unwrap();
    assert_eq!(cmd, "gpuleak run --torch-tensors -- sample --steps 50");
    let text = &r.diagnosis[0].text;
    assert!(text.contains(cmd), "{text}");
    assert!(!text.starts_with("No leak"), "{text}");
}

#[test]
fn pytorch_with_tensor_level_events_can_be_called_healthy() {
    let mut t = Trace::hooked();
    t.module("/venv/lib/python3.11/site-packages/torch/lib/libc10_cuda.so");
    for step in 0..30 {
        t.marker();
        t.async_alloc(0x9000 + step, MIB, 0x77, 2 * MIB);
        t.call(Api::CudaFreeAsync, 0x9000 + step, 0, 0, 3);
    }
    t.trailer();
    let r = t.report();
    assert_eq!(r.visibility.level, Level::Tensors);
    assert_eq!(causes(&r), [Cause::Healthy]);
}

#[test]
fn memory_never_given_back_to_the_driver_is_a_pool_whose_inside_is_not_seen() {
    // Segments allocated in the first steps and never freed, nothing growing after.
    let mut t = Trace::new();
    for step in 0..30u64 {
        t.marker();
        if step < 2 {
            t.alloc(0x1000 + step, 20 * MIB, 1);
        }
    }
    t.trailer();
    let r = t.report();
    assert_eq!(r.visibility.cache, Some(Cache::Pool));
    assert_eq!(causes(&r), [Cause::HiddenByCache]);
}

#[test]
fn a_leak_on_the_second_gpu_is_projected_against_that_gpu() {
    // 20 GiB of weights on GPU 0 (80 GiB); 1 GiB kept a step on GPU 1 (40 GiB), 30 steps.
    let mut t = Trace::hooked().mem_info_always();
    t.on_device(0).device_total(80 * GIB);
    t.alloc(0x100, 20 * GIB, 1);
    for step in 0..30u64 {
        t.marker();
        t.on_device(1).device_total(40 * GIB);
        t.alloc(0x1000 + step, GIB, 2);
        t.on_device(0).device_total(80 * GIB);
        t.alloc(0x9000 + step, 64 * MIB, 3).free(0x9000 + step);
    }
    // And GPU 1 runs out: what held it is GPU 1's memory, not GPU 0's weights.
    t.on_device(1).device_total(40 * GIB);
    t.out_of_memory(12 * GIB, 10 * GIB, 40 * GIB, 2);
    t.trailer();
    let r = t.report();
    let oom = &r.ooms[0];
    assert_eq!(oom.device, Some(1));
    assert_eq!(oom.live_bytes, 30 * GIB);
    assert_eq!(oom.live_by_site.len(), 1, "{:?}", oom.live_by_site);
    assert_eq!(causes(&r)[0], Cause::Leak, "{:?}", r.diagnosis);
    assert!(
        r.diagnosis[0].text.contains("+1.00 GiB/iteration on GPU 1"),
        "{}",
        r.diagnosis[0].text
    );
    let leak = r.sites.iter().find(|s| s.stack_id == 2).unwrap();
    assert_eq!(leak.device, Some(1));
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    // GPU 1 holds 30 GiB of its 40 at the end: full 10 iterations on, at iteration 39. Against
    // both devices' memory (50 GiB of 80) it would say 59.
    assert_eq!(leak.full_at_iteration, Some(39));
    assert_eq!(r.devices.len(), 2, "{:?}", r.devices);
    let (g0, g1) = (&r.devices[0], &r.devices[1]);
    assert_eq!((g0.ordinal, g1.ordinal), (0, 1));
    assert_eq!(g0.name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(g1.total_bytes, Some(40 * GIB));
    assert_eq!(g1.live_bytes_at_end, 30 * GIB);
    assert_eq!(g1.verdict().map(|v| v.as_str()), Some("leak"));
    assert_eq!(g0.verdict().map(|v| v.as_str()), Some("steady"));
    assert_eq!(site(&r, 1).device, Some(0));
}

#[test]
fn no_growth_with_cupy_loaded_is_not_called_healthy() {
    let mut t = Trace::hooked();
    t.module("/venv/lib/python3.11/site-packages/cupy/_core/core.cpython-311-x86_64-linux-gnu.so");
    for step in 0..30u64 {
        t.marker();
        t.alloc(0x9000 + step, MIB, 3).free(0x9000 + step);
    }
    t.trailer();
    let r = t.report();
    assert_eq!(r.visibility.cache, Some(Cache::Cupy));
    assert_eq!(causes(&r), [Cause::HiddenByCache]);
    assert!(
        r.diagnosis[0].text.contains("CuPy's memory pool"),
        "{}",
        r.diagnosis[0].text
    );
}
