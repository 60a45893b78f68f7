//! The page's charts of device memory at each iteration's end, as inline SVG: what it is made of
//! ([`super::bands`]: loaded, kept, working), then stacked by site (the largest growers apart,
//! the rest as one layer); [`super::svg`] draws either.

use std::fmt::Write as _;

use gpuleak_analysis::units::count;

use super::svg::{Layer, source_words, stacked};
use crate::model::{Model, on_gpu};

/// Sites drawn apart in the chart; the others are summed as one layer.
const CHART_SITES: usize = 6;
/// Colours of the chart's layers (the last for "other sites").
const COLOURS: [&str; 7] = [
    "#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#9e9e9e",
];

/// Device memory at the end of each iteration: the report's per-site series, padded as the
/// report pads them when it sums them.
fn series(m: &Model) -> (Vec<(String, Vec<u64>)>, usize) {
    let by_site = gpuleak_analysis::report::site_live_per_iteration(&m.replay, &m.options);
    let n = by_site.values().map(Vec::len).max().unwrap_or(0);
    let mut layers: Vec<(usize, Vec<u64>)> = by_site
        .iter()
        .filter(|(k, v)| on_gpu(k.kind) && v.iter().any(|&x| x > 0))
        .filter_map(|(k, v)| {
            let mut v = v.clone();
            v.resize(n, 0);
            Some((m.site_of(k)?, v))
        })
        .collect();
    // Largest at its highest first; ties in the report's order.
    layers.sort_by_key(|(i, v)| (std::cmp::Reverse(v.iter().copied().max().unwrap_or(0)), *i));
    let mut out: Vec<(String, Vec<u64>)> = Vec::new();
    let mut other = vec![0u64; n];
    let mut others = 0;
    for (rank, (i, v)) in layers.into_iter().enumerate() {
        if rank < CHART_SITES {
            out.push((m.report.sites[i].label.clone(), v));
        } else {
            others += 1;
            for (o, x) in other.iter_mut().zip(v) {
                *o = o.saturating_add(x);
            }
        }
    }
    if others > 0 {
        out.push((count(others, "other site", "other sites"), other));
    }
    (out, n)
}

/// The chart of device memory at each iteration's end, stacked by site (the largest growers
/// apart, the rest as one layer), under the chart of what that memory is made of
/// ([`super::bands`]).
pub fn chart(s: &mut String, m: &Model) {
    super::bands::chart(s, m);
    let (layers, n) = series(m);
    if n == 0 || layers.is_empty() {
        let _ = writeln!(
            s,
            "<p>No iterations with device memory to draw (the trace has no device allocations).</p>"
        );
        return;
    }
    let others = layers.len() > CHART_SITES;
    let last = layers.len();
    let layers: Vec<Layer> = layers
        .into_iter()
        .enumerate()
        .map(|(k, (label, values))| Layer {
            colour: if others && k + 1 == last {
                COLOURS[COLOURS.len() - 1]
            } else {
                COLOURS[k % (COLOURS.len() - 1)]
            },
            label,
            values,
            code: true,
        })
        .collect();
    let _ = writeln!(s, "<h3>By site</h3>");
    stacked(
        s,
        &layers,
        "Device memory at the end of each iteration, stacked by site",
        &source_words(m),
        340.0,
    );
}
