//! Findings that are findings: a model's weights loaded before the work began and held since
//! are loading, not a plateau; a few hundred bytes beside gigabytes are nothing to fix. Both stay
//! in the sites, saying why they are quiet; what grows after the work began stays a finding.

mod common;

use common::*;
use gpuleak_analysis::Quiet;
use gpuleak_analysis::bands::{bands, loaded_bytes};
use gpuleak_analysis::growth::Verdict;

const KIB: u64 = 1 << 10;

/// An unmarked program whose kernels never repeat (so time windows stand in for iterations):
/// it loads `weights` bytes at site 1 in 64 pieces, one after every `load_gap` records (the last
/// just before the work begins, in the same time window), launches its
/// first kernel, then runs 400 steps of a kernel and 64 MiB of scratch at site 3.
fn loads_then_works(weights: u64, load_gap: u64) -> Trace {
    let mut t = Trace::new().mem_info_always();
    let mut f = 0x1_0000;
    for _ in 0..64 {
        for _ in 0..load_gap {
            // The loader's host-side work: records that allocate nothing on the device.
            t.marker_free_tick();
        }
        t.alloc_next(weights / 64, 1);
    }
    for _ in 0..400 {
        f += 1;
        t.launch(f);
        let a = t.alloc_next(64 * MIB, 3);
        t.free(a);
    }
    t.trailer();
    t
}

trait Tick {
    fn marker_free_tick(&mut self) -> &mut Self;
}

impl Tick for Trace {
    /// Time passing with no event: a pinned-host allocation freed at once.
    fn marker_free_tick(&mut self) -> &mut Self {
        self.event(Api::CudaHostAlloc, 0x7_0000_0000, 4096, 0, 4);
        self.event(Api::CudaFreeHost, 0x7_0000_0000, 0, 0, 4)
    }
}

#[test]
fn weights_loaded_before_the_first_kernel_and_held_are_no_plateau_finding() {
    let r = loads_then_works(2 * GIB, 20).report();
    assert_eq!(
        r.iterations.source,
        Some(gpuleak_analysis::model::Source::Time)
    );
    let weights = site(&r, 1);
    // The loading spills into the window the first kernel runs in: climbing, then flat.
    assert_eq!(weights.verdict(), Some(Verdict::Plateau), "{weights:?}");
    assert_eq!(weights.quiet, Some(Quiet::Loaded), "{weights:?}");
    assert!(!weights.is_finding());
    assert!(
        r.sites.iter().all(|s| !s.is_finding()),
        "{:?}",
        r.sites
            .iter()
            .map(|s| (s.stack_id, s.verdict(), s.quiet))
            .collect::<Vec<_>>()
    );
    assert_eq!(weights.loaded_bytes, Some(2 * GIB));
}

/// 2 GiB of weights at site 1 before the first marker, then `steps` marked steps, each with
/// 1 GiB of scratch at site 3, freed; `during` runs in each step with its index.
fn marked(steps: u64, mut during: impl FnMut(&mut Trace, u64)) -> Trace {
    let mut t = Trace::new().mem_info_always();
    t.alloc_next(2 * GIB, 1);
    for i in 0..steps {
        t.marker();
        let a = t.alloc_next(GIB, 3);
        t.free(a);
        during(&mut t, i);
    }
    t.trailer();
    t
}

#[test]
fn two_tiny_plateaus_are_sites_but_not_findings() {
    // A diffusers pipeline with no leak listed two 616-byte plateaus as findings.
    let r = marked(20, |t, i| {
        // Half at the first step, the rest at the sixth: grew, then stopped.
        if i == 0 || i == 5 {
            t.alloc_next(308, 2);
            t.alloc_next(308, 4);
        }
    })
    .report();
    for stack in [2, 4] {
        let s = site(&r, stack);
        assert_eq!(s.verdict(), Some(Verdict::Plateau), "{s:?}");
        assert_eq!(s.quiet, Some(Quiet::Negligible), "{s:?}");
        assert!(!s.is_finding());
    }
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let quiet: Vec<&str> = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["quiet"].as_str())
        .collect();
    assert_eq!(quiet, ["negligible", "negligible"]);
}

#[test]
fn a_cache_filled_after_the_work_began_is_still_a_plateau_finding() {
    let r = marked(20, |t, i| {
        if i == 0 || i == 5 {
            t.alloc_next(128 * MIB, 2);
        }
    })
    .report();
    let cache = site(&r, 2);
    assert_eq!(cache.verdict(), Some(Verdict::Plateau), "{cache:?}");
    assert_eq!(cache.quiet, None);
    assert!(cache.is_finding());
    assert_eq!(cache.loaded_bytes, Some(0));
    // The weights were loaded before the first marker: that is what the chart's base is.
    assert_eq!(site(&r, 1).loaded_bytes, Some(2 * GIB));
}

#[test]
fn a_leak_that_began_in_the_prologue_is_still_a_leak() {
    let mut t = Trace::new().mem_info_always();
    t.alloc_next(MIB, 4);
    t.alloc_next(2 * GIB, 1);
    for _ in 0..20 {
        t.marker();
        let a = t.alloc_next(GIB, 3);
        t.free(a);
        t.alloc_next(MIB, 4);
    }
    t.trailer();
    let r = t.report();
    let leak = site(&r, 4);
    assert!(leak.leaks(), "{leak:?}");
    assert_eq!(leak.loaded_bytes, Some(MIB));
    assert_eq!(leak.quiet, None);
    assert!(leak.is_finding());
}

#[test]
fn a_small_leak_above_2_gib_of_weights_is_the_kept_band_rising_128_kib_an_iteration() {
    let t = marked(20, |t, _| {
        t.alloc_next(128 * KIB, 2);
    });
    let (replay, r) = (t.replay(), t.report());
    assert!(site(&r, 2).leaks());
    let loaded = loaded_bytes(&r.sites);
    assert_eq!(loaded, 2 * GIB);
    let ends =
        gpuleak_analysis::report::device_live_per_iteration(&replay, &ReportOptions::default());
    let b = bands(&ends, None, loaded);
    for w in b.windows(2).take(18) {
        assert_eq!(w[1].kept - w[0].kept, 128 * KIB, "{b:?}");
        assert_eq!(w[1].loaded, 2 * GIB);
    }
}
