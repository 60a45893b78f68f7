//! "CUDA out of memory", explained: the report says what filled the device (parts that add up
//! to its total), why the request failed, and the fix that fits, with its evidence.

mod common;

use common::*;
use gpuleak_analysis::{AdviceKind, Cause, OomCause, OomReport, PartKind};

// A 4 GiB device whose CUDA context takes 200 MiB. Sites: 1 weights, 2 kept per step, 3 a
// step's working memory.

const TOTAL: u64 = 4 * GIB;
const CONTEXT: u64 = 200 * MIB;

fn oom(r: &Report) -> &OomReport {
    r.oom.as_ref().expect("an out-of-memory report")
}

fn part(o: &OomReport, kind: PartKind) -> u64 {
    o.parts
        .iter()
        .find(|p| p.part == kind)
        .map_or(0, |p| p.bytes)
}

fn advice(o: &OomReport) -> Vec<AdviceKind> {
    o.advice.iter().map(|a| a.advice).collect()
}

/// The parts add up to the device's total within 1%.
fn adds_up(o: &OomReport) {
    let sum: u64 = o.parts.iter().map(|p| p.bytes).sum();
    let total = o.device_total_bytes.expect("a total");
    assert!(
        sum.abs_diff(total) <= total / 100,
        "parts {sum} of {total}: {:#?}",
        o.parts
    );
}

/// `weights`, then `steps` steps each making 512 MiB of working memory (and keeping `kept`
/// bytes), and in the last one a 1 GiB tensor asked for twice: the first is made, the second
/// fails.
fn steps_then_peak(weights: u64, steps: u64, kept: u64) -> Trace {
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(weights, 1);
    for _ in 0..steps {
        t.marker();
        if kept > 0 {
            t.alloc_next(kept, 2);
        }
        let a = t.alloc_next(512 * MIB, 3);
        t.free(a);
    }
    t.marker();
    t.alloc_next(GIB, 3);
    let live = weights + GIB + steps * kept;
    t.out_of_memory(GIB, TOTAL.saturating_sub(live + CONTEXT), TOTAL, 3);
    t
}

#[test]
fn a_model_that_does_not_fit_fails_while_it_loads() {
    // Nothing launched yet: the weights are still being copied in when the device fills.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(2 * GIB, 1);
    t.alloc_next(1536 * MIB, 1);
    t.out_of_memory(GIB, TOTAL - 3584 * MIB - CONTEXT, TOTAL, 1);
    let r = t.report();
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::ModelTooLarge, "{o:#?}");
    assert_eq!(part(o, PartKind::Loaded), 3584 * MIB);
    assert_eq!(part(o, PartKind::Working), 0);
    adds_up(o);
    assert!(!advice(o).contains(&AdviceKind::SmallerInput), "{o:#?}");
    assert_eq!(r.diagnosis[0].cause, Cause::TooLarge);
    assert!(
        r.diagnosis[0]
            .text
            .contains("What the program loads does not fit"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn a_step_whose_peak_does_not_fit_on_the_loaded_model_is_a_step_peak() {
    let r = steps_then_peak(2 * GIB, 10, 0).report();
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::StepPeak, "{o:#?}");
    assert_eq!(part(o, PartKind::Loaded), 2 * GIB);
    assert_eq!(part(o, PartKind::Working), GIB);
    assert_eq!(part(o, PartKind::Kept), 0);
    assert_eq!(part(o, PartKind::Outside), CONTEXT);
    assert_eq!(o.unexplained_bytes, Some(0));
    adds_up(o);
    // 1 GiB asked with 824 MiB free.
    assert_eq!(o.short_by_bytes, 200 * MIB);
    assert!(advice(o).contains(&AdviceKind::SmallerInput), "{o:#?}");
    assert!(!advice(o).contains(&AdviceKind::ExpandableSegments));
    let d = &r.diagnosis[0];
    assert_eq!(d.cause, Cause::Peak, "{}", d.text);
    for said in [
        "loaded before the work began 2.00 GiB",
        "working memory of the iteration in flight 1.00 GiB",
        "needs ~200 MiB more than the device has at this peak",
        "Fix: use a smaller batch or resolution (saves ~200 MiB;",
    ] {
        assert!(d.text.contains(said), "{said:?} in {}", d.text);
    }
}

#[test]
fn a_leak_that_fills_the_device_is_kept_memory_and_the_fix_is_to_free_it() {
    // 128 MiB kept every step on top of 1 GiB of weights: after 10 steps 1.25 GiB is kept, and
    // without it the step's second 1 GiB would have fit.
    let r = steps_then_peak(GIB, 10, 128 * MIB).report();
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::Leak, "{o:#?}");
    // Every step's 128 MiB is kept from earlier steps: the step in flight made only its tensor.
    assert_eq!(part(o, PartKind::Kept), 10 * 128 * MIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Working), GIB, "{o:#?}");
    adds_up(o);
    let free_leak = o
        .advice
        .iter()
        .find(|a| a.advice == AdviceKind::FreeLeak)
        .expect("advice to free the leak");
    assert!(free_leak.evidence.contains("leaking site"), "{free_leak:?}");
    assert!(free_leak.saves_bytes.unwrap_or(0) >= o.short_by_bytes);
    assert!(!advice(o).contains(&AdviceKind::SmallerInput), "{o:#?}");
    assert_eq!(r.diagnosis[0].cause, Cause::Leak);
}

/// Weights and steps through PyTorch's native caching allocator (only its segments are seen),
/// then a failure with 2 GiB free on the device, in no piece large enough.
fn fragmented(native: bool) -> Report {
    let mut t = Trace::new();
    if native {
        t.module("/site-packages/torch/lib/libc10_cuda.so");
    }
    t.device_total(TOTAL);
    t.alloc_next(GIB, 1);
    for _ in 0..10 {
        t.marker();
        let a = t.alloc_next(256 * MIB, 3);
        t.free(a);
    }
    t.out_of_memory(GIB, 2 * GIB, TOTAL, 3);
    t.report()
}

#[test]
fn free_memory_in_pieces_under_the_native_allocator_asks_for_expandable_segments() {
    let r = fragmented(true);
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::Fragmentation, "{o:#?}");
    assert_eq!(advice(o), [AdviceKind::ExpandableSegments]);
    assert_eq!(r.diagnosis[0].cause, Cause::Fragmentation);
    adds_up(o);

    // The program's own allocations: no allocator setting to change.
    let r = fragmented(false);
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::Fragmentation, "{o:#?}");
    assert!(advice(o).is_empty(), "{:?}", o.advice);
}

#[test]
fn under_a_segment_cache_the_step_memory_is_segments_and_the_report_says_what_it_cannot_know() {
    let mut t = Trace::new();
    t.module("/site-packages/torch/lib/libc10_cuda.so");
    t.device_total(TOTAL);
    t.alloc_next(2 * GIB, 1);
    for _ in 0..10 {
        t.marker();
        t.alloc_next(64 * MIB, 3);
    }
    t.out_of_memory(GIB, TOTAL - 2 * GIB - 640 * MIB - CONTEXT, TOTAL, 3);
    let r = t.report();
    let o = oom(&r);
    assert_eq!(part(o, PartKind::Segments), 640 * MIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Kept) + part(o, PartKind::Working), 0);
    let segments = o.parts.iter().find(|p| p.part == PartKind::Segments);
    assert!(
        segments.is_some_and(|p| p.note.contains("does not say")),
        "{segments:?}"
    );
    adds_up(o);
}

#[test]
fn a_device_filled_by_memory_outside_the_process_is_blamed_on_it_without_naming_pids() {
    // 1.5 GiB live and 100 MiB free of 4 GiB: 2.4 GiB someone else holds.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(512 * MIB, 1);
    for _ in 0..10 {
        t.marker();
        let a = t.alloc_next(64 * MIB, 3);
        t.free(a);
    }
    t.marker();
    t.alloc_next(GIB, 3);
    t.out_of_memory(512 * MIB, 100 * MIB, TOTAL, 3);
    let r = t.report();
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::OtherProcess, "{o:#?}");
    assert_eq!(part(o, PartKind::Outside), TOTAL - 1536 * MIB - 100 * MIB);
    assert_eq!(part(o, PartKind::OtherProcesses), 0);
    // Without the driver's list of processes there is no pid to name, so no advice to free them.
    assert!(!advice(o).contains(&AdviceKind::FreeOtherProcesses));
    assert_eq!(r.diagnosis[0].cause, Cause::Elsewhere);
    adds_up(o);
}

#[test]
fn a_cublas_workspace_is_named_under_the_libraries() {
    let mut t = steps_then_peak(2 * GIB, 0, 0);
    // A stack through cuBLASLt, and its workspace made in the step.
    t.enc.module(
        &Module {
            path: "/usr/local/cuda/lib64/libcublasLt.so.12".into(),
            base: 0x7000_0000,
            start: 0x7000_0000,
            end: 0x7100_0000,
            build_id: vec![],
        },
        &mut t.buf,
    );
    t.enc.stack(9, &[0x7000_1234, 0x10_3000], &mut t.buf);
    t.marker();
    t.alloc_next(32 * MIB, 9);
    t.out_of_memory(GIB, 500 * MIB, TOTAL, 3);
    let r = t.report();
    let o = oom(&r);
    let libraries = o
        .parts
        .iter()
        .find(|p| p.part == PartKind::Libraries)
        .expect("a libraries part");
    assert_eq!(libraries.bytes, 32 * MIB);
    assert_eq!(libraries.by[0].label, "cuBLASLt");
    // Taken out of the step's working memory, not counted twice.
    assert_eq!(part(o, PartKind::Working), 0, "{o:#?}");
    adds_up(o);
}

#[test]
fn a_request_that_failed_again_after_memory_was_freed_says_what_was_freed() {
    // The caching allocator's way: fail, give back what the cache held, ask again, fail again.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(2 * GIB, 1);
    for _ in 0..5 {
        t.marker();
        let a = t.alloc_next(256 * MIB, 3);
        t.free(a);
    }
    let cached = t.alloc_next(512 * MIB, 2);
    t.out_of_memory(2 * GIB, 300 * MIB, TOTAL, 3);
    t.free(cached);
    t.out_of_memory(2 * GIB, 812 * MIB, TOTAL, 3);
    let r = t.report();
    let o = oom(&r);
    assert_eq!(o.index, 1);
    assert!(o.request.retried_after_freeing, "{:?}", o.request);
    assert_eq!(o.request.freed_before_retry_bytes, 512 * MIB);
    assert!(
        r.diagnosis[0]
            .text
            .contains("failed again after 512 MiB was freed"),
        "{}",
        r.diagnosis[0].text
    );

    // Asked again with nothing freed in between: no retry after freeing.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.marker();
    t.alloc_next(2 * GIB, 1);
    t.out_of_memory(2 * GIB, 300 * MIB, TOTAL, 3);
    t.out_of_memory(2 * GIB, 300 * MIB, TOTAL, 3);
    let r = t.report();
    assert!(!oom(&r).request.retried_after_freeing);
}

#[test]
fn no_report_when_every_failure_was_retried_with_success() {
    let mut t = steps_then_peak(2 * GIB, 10, 0);
    t.alloc_next(GIB, 3);
    let r = t.report();
    assert!(r.ooms[0].retried);
    assert!(r.oom.is_none());
}

const SITE_PACKAGES: &str = "/venv/lib/python3.11/site-packages/diffusers/models";

/// Stack 20: the VAE decoder's attention, called from the program's line 122.
fn decode_stack(t: &mut Trace) {
    let code = |id: u32, file: &str, name: &str| PyCode {
        id,
        first_line: 1,
        file: file.into(),
        name: name.into(),
    };
    let codes = [
        code(
            1,
            &format!("{SITE_PACKAGES}/attention_processor.py"),
            "AttnProcessor2_0.__call__",
        ),
        code(
            2,
            &format!("{SITE_PACKAGES}/attention_processor.py"),
            "Attention.forward",
        ),
        code(
            3,
            &format!("{SITE_PACKAGES}/autoencoders/vae.py"),
            "Decoder.forward",
        ),
        code(
            4,
            &format!("{SITE_PACKAGES}/autoencoders/autoencoder_kl.py"),
            "AutoencoderKL.decode",
        ),
        code(5, "app.py", "main"),
    ];
    let lines = [2767, 594, 300, 560, 122];
    let python: Vec<PyFrame> = codes
        .iter()
        .zip(lines)
        .map(|(c, line)| PyFrame { code: c.id, line })
        .collect();
    t.enc.py_stack(20, &[], &codes, &python, &mut t.buf);
}

/// A diffusers pipeline on a 4 GiB device: a UNet (fp16) and a text encoder (fp32) loaded, ten
/// requests, and the last one's VAE decode asks for a second 1 GiB in its attention.
fn pipeline_decode_fails() -> Report {
    pipeline_decode_fails_with(false)
}

/// As [`pipeline_decode_fails`]; with `vae`, the walk also finds the VAE's 128 MiB of weights.
fn pipeline_decode_fails_with(vae: bool) -> Report {
    let mut t = Trace::new();
    t.device_total(TOTAL);
    decode_stack(&mut t);
    let w = t.alloc_next(2 * GIB, 1);
    for _ in 0..10 {
        t.marker();
        let a = t.alloc_next(512 * MIB, 3);
        t.free(a);
    }
    t.marker();
    t.alloc_next(GIB, 20);
    t.out_of_memory(GIB, TOTAL - 3 * GIB - CONTEXT, TOTAL, 20);
    let text_encoder = Holder {
        owner: "Tensor float32[134217728]".into(),
        ..weight(
            "pipe.text_encoder",
            w + 1536 * MIB,
            512 * MIB,
            "pipe.text_encoder (CLIPTextModel)",
        )
    };
    let mut holders = vec![
        weight(
            "pipe.unet",
            w,
            1536 * MIB,
            "pipe.unet (UNet2DConditionModel)",
        ),
        text_encoder,
    ];
    if vae {
        let v = t.alloc_next(128 * MIB, 1);
        holders.push(weight("pipe.vae", v, 128 * MIB, "pipe.vae (AutoencoderKL)"));
    }
    t.holders(HoldersReason::OutOfMemory, WalkEnd::Complete, "", holders);
    t.report()
}

#[test]
fn offloading_keeps_on_the_device_the_model_the_failed_request_ran() {
    // The request ran AutoencoderKL.decode: offloading moves the UNet and the text encoder off
    // the device, not the VAE.
    let r = pipeline_decode_fails_with(true);
    let o = oom(&r);
    let offload = o
        .advice
        .iter()
        .find(|a| a.advice == AdviceKind::ModelCpuOffload)
        .expect("offload advice");
    assert_eq!(offload.saves_bytes, Some(2 * GIB), "{offload:#?}");
    assert!(
        offload
            .evidence
            .contains("the model the failed request ran stays"),
        "{}",
        offload.evidence
    );
}

#[test]
fn a_vae_decode_that_does_not_fit_is_named_by_its_line_and_fixed_by_tiling() {
    let r = pipeline_decode_fails();
    let o = oom(&r);
    assert_eq!(
        o.request.label,
        "main (app.py:122) → Decoder.forward (vae.py:300) → AttnProcessor2_0.__call__ \
         (attention_processor.py:2767)"
    );
    assert_eq!(o.cause, OomCause::StepPeak, "{o:#?}");
    adds_up(o);
    let given = advice(o);
    for kind in [
        AdviceKind::VaeTiling,
        AdviceKind::AttentionSlicing,
        AdviceKind::SmallerInput,
        AdviceKind::ModelCpuOffload,
        AdviceKind::HalfPrecision,
    ] {
        assert!(given.contains(&kind), "{kind:?} in {given:?}");
    }
    for kind in [
        AdviceKind::VaeSlicing,
        AdviceKind::ExpandableSegments,
        AdviceKind::SequentialCpuOffload,
        AdviceKind::FreeLeak,
    ] {
        assert!(!given.contains(&kind), "{kind:?} in {given:?}");
    }
    // Most saved first: tiling saves the step's working memory, offloading the smaller model.
    assert_eq!(given[0], AdviceKind::VaeTiling, "{:#?}", o.advice);
    let offload = &o.advice[given
        .iter()
        .position(|k| *k == AdviceKind::ModelCpuOffload)
        .unwrap()];
    assert_eq!(offload.saves_bytes, Some(512 * MIB));
    // The loaded part names the models the walk found.
    let loaded = o.parts.iter().find(|p| p.part == PartKind::Loaded).unwrap();
    assert_eq!(loaded.by[0].label, "pipe.unet (UNet2DConditionModel)");
    let text = &r.diagnosis[0].text;
    assert!(
        text.contains("Fix: decode in tiles: pipe.vae.enable_tiling() (saves ~1.00 GiB; the failed request came from Decoder.forward (vae.py:300)"),
        "{text}"
    );
}

#[test]
fn a_single_model_larger_than_the_device_is_streamed_layer_by_layer() {
    // One UNet of 3.5 GiB so far, and 1 GiB more asked while it loads: no other model to
    // offload, and it alone does not fit beside the CUDA context.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    let w = t.alloc_next(3584 * MIB, 1);
    t.out_of_memory(GIB, TOTAL - 3584 * MIB - CONTEXT, TOTAL, 1);
    t.holders(
        HoldersReason::OutOfMemory,
        WalkEnd::Complete,
        "",
        vec![weight(
            "pipe.unet",
            w,
            3584 * MIB,
            "pipe.unet (UNet2DConditionModel)",
        )],
    );
    let r = t.report();
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::ModelTooLarge, "{o:#?}");
    assert_eq!(advice(o), [AdviceKind::SequentialCpuOffload]);
    assert!(
        o.advice[0]
            .evidence
            .contains("pipe.unet (UNet2DConditionModel)"),
        "{:?}",
        o.advice
    );
}

#[test]
fn without_markers_the_steps_found_in_the_launches_split_loaded_from_working_memory() {
    // Weights copied in before any kernel; then steps of five kernels each, every step's
    // working memory freed at its end; the last step's 1 GiB tensor cannot be had twice.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(2 * GIB, 1);
    for _ in 0..10 {
        for f in 1..=5 {
            t.launch(0x100 + f);
        }
        let a = t.alloc_next(512 * MIB, 3);
        t.free(a);
    }
    for f in 1..=5 {
        t.launch(0x100 + f);
    }
    t.alloc_next(GIB, 3);
    t.out_of_memory(GIB, TOTAL - 3 * GIB - CONTEXT, TOTAL, 3);
    let r = t.report();
    assert_eq!(
        r.iterations.source,
        Some(gpuleak_analysis::model::Source::Auto)
    );
    let o = oom(&r);
    assert_eq!(o.cause, OomCause::StepPeak, "{o:#?}");
    assert_eq!(part(o, PartKind::Loaded), 2 * GIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Working), GIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Kept), 0, "{o:#?}");
    adds_up(o);
}

#[test]
fn with_every_tensor_seen_the_cache_free_part_is_known_and_can_be_the_cause() {
    // PyTorch's cudaMallocAsync backend: the pool reserves 3 GiB, 1 GiB of it in live tensors;
    // 1.5 GiB asked, 300 MiB free on the device, 2 GiB free inside the pool.
    let pool = 0x77;
    let mut t = Trace::new();
    t.module("/site-packages/torch/lib/libc10_cuda.so");
    t.device_total(TOTAL);
    t.async_alloc(0x1000, GIB, pool, 3 * GIB);
    t.marker();
    t.out_of_memory(1536 * MIB, 300 * MIB, TOTAL, 3);
    let r = t.report();
    let o = oom(&r);
    assert_eq!(part(o, PartKind::CacheFree), 2 * GIB, "{o:#?}");
    assert_eq!(o.cause, OomCause::Fragmentation, "{o:#?}");
    // Expandable segments are for the native allocator's segments, not this one's pool.
    assert!(!advice(o).contains(&AdviceKind::ExpandableSegments));
    adds_up(o);
    assert!(
        r.diagnosis[0]
            .text
            .contains("the allocator's cache held 2.00 GiB free"),
        "{}",
        r.diagnosis[0].text
    );
}

#[test]
fn with_nvtx_steps_what_earlier_steps_kept_is_told_from_the_step_in_flight() {
    // Weights, then "step" ranges each keeping 64 MiB; the last step's 1.5 GiB tensor fails.
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.alloc_next(2 * GIB, 1);
    for _ in 0..8 {
        t.push(0, "step");
        t.alloc_next(64 * MIB, 2);
        let scratch = t.alloc_next(32 * MIB, 3);
        t.free(scratch);
        t.pop(0);
    }
    t.push(0, "step");
    t.alloc_next(64 * MIB, 2);
    t.out_of_memory(
        1536 * MIB,
        TOTAL - 2 * GIB - 9 * 64 * MIB - CONTEXT,
        TOTAL,
        3,
    );
    let r = t.report();
    assert_eq!(r.iterations.range.as_deref(), Some("step"));
    let o = oom(&r);
    assert_eq!(part(o, PartKind::Loaded), 2 * GIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Kept), 8 * 64 * MIB, "{o:#?}");
    assert_eq!(part(o, PartKind::Working), 64 * MIB, "{o:#?}");
    adds_up(o);
}

/// A 2 GiB model built on the device (its weights made between the kernels that initialise
/// them), then steps of 512 MiB, then a 1 GiB request that fails; with `walk`, the walk at the
/// failure names the weights as the model's parameters.
fn built_on_the_device(walk: bool) -> Report {
    let mut t = Trace::new();
    t.device_total(TOTAL);
    t.launch(1);
    let w = t.alloc_next(2 * GIB, 1);
    t.launch(2);
    for _ in 0..6 {
        t.launch(3);
        let a = t.alloc_next(512 * MIB, 3);
        t.launch(4);
        t.free(a);
    }
    t.launch(3);
    t.alloc_next(GIB, 3);
    t.out_of_memory(GIB, TOTAL - 3 * GIB - CONTEXT, TOTAL, 3);
    if walk {
        t.holders(
            HoldersReason::OutOfMemory,
            WalkEnd::Complete,
            "",
            vec![weight("UNET", w, 2 * GIB, "UNET (UNet2DConditionModel)")],
        );
    }
    t.report()
}

#[test]
fn a_model_built_on_the_device_is_loaded_when_the_walk_names_its_weights() {
    // The clock alone places weights made after the first kernel in the work.
    let r = built_on_the_device(false);
    assert!(
        part(oom(&r), PartKind::Loaded) < 2 * GIB,
        "{:#?}",
        oom(&r).parts
    );
    let r = built_on_the_device(true);
    let o = oom(&r);
    adds_up(o);
    assert_eq!(part(o, PartKind::Loaded), 2 * GIB, "{:#?}", o.parts);
    assert!(part(o, PartKind::Kept) < 2 * GIB, "{:#?}", o.parts);
    let loaded = o.parts.iter().find(|p| p.part == PartKind::Loaded).unwrap();
    assert_eq!(loaded.by[0].label, "UNET (UNet2DConditionModel)");
    assert!(
        loaded.note.contains("allocated after the work began"),
        "{}",
        loaded.note
    );
}
