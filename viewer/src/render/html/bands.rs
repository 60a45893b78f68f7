//! The page's first charts: what device memory is made of at each iteration
//! ([`gpuleak_analysis::bands`]): what was loaded before the work began (the weights), what
//! iterations kept from one to the next, and the working memory each used and gave back; then
//! what was kept alone, on its own scale: a leak of kilobytes per iteration above gigabytes of
//! weights and working memory is a hairline on the first, a slope on the second.

use std::fmt::Write as _;

use gpuleak_analysis::bands::{Band, bands, loaded_bytes};
use gpuleak_analysis::units::bytes;

use super::svg::{Layer, source_words, stacked};
use crate::model::{Model, Timeline};

/// Colours of the bands: loaded (grey, the floor), kept (red, what grows), working (blue).
const LOADED: &str = "#9e9e9e";
const KEPT: &str = "#d62728";
const WORKING: &str = "#9ecae1";

/// The bands the page draws, iteration by iteration.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Drawn {
    /// What the sites held when the work began.
    pub(super) loaded: u64,
    pub(super) bands: Vec<Band>,
}

/// The report's device series at iteration ends split into bands, with each iteration's peak
/// from the timeline where the page has one.
pub(super) fn drawn(m: &Model) -> Drawn {
    let ends = gpuleak_analysis::report::device_live_per_iteration(&m.replay, &m.options);
    let loaded = loaded_bytes(&m.report.sites);
    let peaks = m.timeline.as_ref().map(|t| peaks(t, ends.len()));
    Drawn {
        loaded,
        bands: bands(&ends, peaks.as_deref(), loaded),
    }
}

/// The most device memory live at any moment of each of the first `n` iterations, from the
/// timeline's allocations and frees.
fn peaks(timeline: &Timeline, n: usize) -> Vec<u64> {
    let spans = timeline.iterations();
    let mut peak = vec![0u64; n];
    let mut live = 0u64;
    let mut at = 0usize;
    for c in &timeline.changes {
        // Iterations that begin before this change start from what was live then.
        while at + 1 < spans.len().min(n) && spans[at + 1].0 <= c.time_ns {
            at += 1;
            peak[at] = peak[at].max(live);
        }
        live = if c.alloc {
            live.saturating_add(c.size)
        } else {
            live.saturating_sub(c.size)
        };
        if spans.first().is_some_and(|s| s.0 <= c.time_ns)
            && let Some(p) = peak.get_mut(at)
        {
            *p = (*p).max(live);
        }
    }
    peak
}

/// The bands, and above the loaded floor on their own scale when something was loaded.
pub(super) fn chart(s: &mut String, m: &Model) {
    let d = drawn(m);
    if d.bands.is_empty() {
        return;
    }
    let layer = |label: &str, colour, f: fn(&Band) -> u64| Layer {
        label: label.to_string(),
        colour,
        values: d.bands.iter().map(f).collect(),
        code: false,
    };
    let kept = layer("kept from iteration to iteration", KEPT, |b| b.kept);
    let working = layer(
        "working memory, given back within the iteration",
        WORKING,
        |b| b.working,
    );
    let source = source_words(m);
    let _ = writeln!(
        s,
        "<p class=\"meta\">Loaded before the work began: {}. At each iteration's end, what it \
         kept above that; above its end, how high it rose.</p>",
        bytes(d.loaded)
    );
    // Nothing loaded: no floor to draw, and kept and working are already on their own scale.
    let floor = (d.loaded > 0).then(|| layer("loaded before the work began", LOADED, |b| b.loaded));
    let layers: Vec<Layer> = floor
        .into_iter()
        .chain([layer_copy(&kept), working])
        .collect();
    stacked(
        s,
        &layers,
        "Device memory per iteration: loaded before the work, kept from iteration to \
         iteration, working memory",
        &source,
        300.0,
    );
    // Working memory can dwarf what a leak keeps as much as the weights do (a diffusion
    // pipeline's activations: 1.5 GiB beside 1.5 MiB a request): kept alone, on its own scale.
    if d.loaded > 0 || d.bands.iter().any(|b| b.working > 0) {
        let _ = writeln!(
            s,
            "<h3>Kept from iteration to iteration, above what was loaded ({}), on its own \
             scale</h3>",
            bytes(d.loaded)
        );
        stacked(
            s,
            &[kept],
            "Device memory kept from iteration to iteration, above what was loaded before the \
             work, on its own scale",
            &source,
            240.0,
        );
    }
}

fn layer_copy(l: &Layer) -> Layer {
    Layer {
        label: l.label.clone(),
        colour: l.colour,
        values: l.values.clone(),
        code: l.code,
    }
}
