//! The page's chart: device memory at each iteration's end, stacked by site (the largest
//! growers apart, the rest as one layer), as inline SVG.

use std::fmt::Write as _;

use gpuleak_analysis::units::{bytes, count};

use crate::findings::{IterationSource, iteration_source};
use crate::format::escape;
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

/// A round step for an axis of `max` in about `ticks` steps: 1, 2 or 5 times a power of two's
/// nearest binary unit, so that labels read as whole MiB or GiB.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = max.div_ceil(ticks.max(1)).max(1);
    let mut unit = 1u64;
    while unit.saturating_mul(1024) <= raw {
        unit *= 1024;
    }
    for mult in [
        1u64, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 512,
    ] {
        if unit.saturating_mul(mult) >= raw {
            return unit.saturating_mul(mult);
        }
    }
    unit.saturating_mul(1024)
}

/// The stacked area chart, in SVG, with a legend; each layer's figures are in its `<title>`.
pub fn chart(s: &mut String, m: &Model) {
    let (layers, n) = series(m);
    if n == 0 || layers.is_empty() {
        let _ = writeln!(
            s,
            "<p>No iterations with device memory to draw (the trace has no device allocations).</p>"
        );
        return;
    }
    let r = &m.report;
    let source = match iteration_source(&r.iterations) {
        Some(IterationSource::Marker) => "marked with gpuleak_mark_iteration".to_string(),
        Some(IterationSource::Nvtx) => format!(
            "NVTX range {}",
            escape(r.iterations.range.as_deref().unwrap_or(""))
        ),
        Some(IterationSource::Auto) => "found as the repeating launch sequence".to_string(),
        Some(IterationSource::Time) => {
            "not marked: fixed time windows stand in for them".to_string()
        }
        None => "unknown source".to_string(),
    };
    let (w, h) = (960.0f64, 340.0f64);
    let (left, right, top_m, bottom) = (80.0f64, 20.0f64, 16.0f64, 40.0f64);
    let (pw, ph) = (w - left - right, h - top_m - bottom);
    let totals: Vec<u64> = (0..n)
        .map(|i| layers.iter().map(|(_, v)| v[i]).sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let step = nice_step(max, 5);
    let ymax = max.div_ceil(step) * step;
    let x = |i: usize| {
        if n == 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: u64| top_m + ph - ph * v as f64 / ymax as f64;
    let _ = writeln!(
        s,
        "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
         width=\"100%\" role=\"img\" aria-label=\"Device memory at the end of each iteration, \
         stacked by site\" font-family=\"system-ui,sans-serif\" font-size=\"12\">"
    );
    // Grid and y labels.
    let mut v = 0;
    while v <= ymax {
        let yy = y(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            left + pw,
            left - 6.0,
            yy + 4.0,
            bytes(v)
        );
        v += step;
    }
    // The layers, bottom up.
    let mut base = vec![0u64; n];
    for (k, (label, values)) in layers.iter().enumerate() {
        let colour = if k + 1 == layers.len() && label.contains("other site") {
            COLOURS[COLOURS.len() - 1]
        } else {
            COLOURS[k % (COLOURS.len() - 1)]
        };
        let tops: Vec<u64> = base.iter().zip(values).map(|(b, v)| b + v).collect();
        let mut points = String::new();
        if n == 1 {
            let (x0, x1) = (left + pw * 0.35, left + pw * 0.65);
            let _ = write!(
                points,
                "{x0:.1},{:.1} {x1:.1},{:.1} {x1:.1},{:.1} {x0:.1},{:.1}",
                y(tops[0]),
                y(tops[0]),
                y(base[0]),
                y(base[0])
            );
        } else {
            for (i, t) in tops.iter().enumerate() {
                let _ = write!(points, "{:.1},{:.1} ", x(i), y(*t));
            }
            for i in (0..n).rev() {
                let _ = write!(points, "{:.1},{:.1} ", x(i), y(base[i]));
            }
        }
        let last = values.last().copied().unwrap_or(0);
        let peak = values.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            s,
            "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.85\" stroke=\"{colour}\">\
             <title>{}: {} at the last iteration's end, peak {}</title></polygon>",
            points.trim_end(),
            escape(label),
            bytes(last),
            bytes(peak)
        );
        base = tops;
    }
    // The x axis: up to 10 labels.
    let every = n.div_ceil(10).max(1);
    for i in (0..n).step_by(every) {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{i}</text>",
            x(i),
            top_m + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">iteration ({source})</text>\
         </svg>",
        left + pw,
        top_m + ph,
        top_m + ph,
        left + pw / 2.0,
        h - 4.0
    );
    let _ = writeln!(s, "<ul class=\"legend\">");
    for (k, (label, values)) in layers.iter().enumerate().rev() {
        let colour = if k + 1 == layers.len() && label.contains("other site") {
            COLOURS[COLOURS.len() - 1]
        } else {
            COLOURS[k % (COLOURS.len() - 1)]
        };
        let _ = writeln!(
            s,
            "<li><span class=\"swatch\" style=\"background:{colour}\"></span><code>{}</code>: \
             {} at the last iteration's end, peak {}</li>",
            escape(label),
            bytes(values.last().copied().unwrap_or(0)),
            bytes(values.iter().copied().max().unwrap_or(0))
        );
    }
    let _ = writeln!(s, "</ul></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round_binary_sizes() {
        const MIB: u64 = 1 << 20;
        assert_eq!(nice_step(240 * MIB, 5), 50 * MIB);
        assert_eq!(nice_step(3 * MIB, 5), 1024 * 1024);
        assert_eq!(nice_step(10, 5), 2);
    }
}
