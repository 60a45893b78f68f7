//! A stacked area chart of device memory over iterations, as inline SVG with a legend: the
//! drawing every chart of the page shares ([`stacked`]), on its own scale.

use std::fmt::Write as _;

use gpuleak_analysis::units::bytes;

use crate::findings::{IterationSource, iteration_source};
use crate::format::escape;
use crate::model::Model;

/// One layer of a stacked chart: what it is, its colour, and its value at each iteration.
pub(super) struct Layer {
    pub(super) label: String,
    pub(super) colour: &'static str,
    pub(super) values: Vec<u64>,
    /// The label is code (a site's), set in monospace in the legend; else words.
    pub(super) code: bool,
}

/// How the iterations are counted, as the x axis says it.
pub(super) fn source_words(m: &Model) -> String {
    let r = &m.report;
    match iteration_source(&r.iterations) {
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
    }
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

/// A stacked area chart of `layers` (bottom up, all as long), in SVG, `height` tall, on its own
/// scale (from 0 to the highest top), with a legend; each layer's figures are in its `<title>`.
pub(super) fn stacked(s: &mut String, layers: &[Layer], aria: &str, source: &str, h: f64) {
    let n = layers.iter().map(|l| l.values.len()).max().unwrap_or(0);
    if n == 0 {
        return;
    }
    let w = 960.0f64;
    let (left, right, top_m, bottom) = (80.0f64, 20.0f64, 16.0f64, 40.0f64);
    let (pw, ph) = (w - left - right, h - top_m - bottom);
    let at = |l: &Layer, i: usize| l.values.get(i).copied().unwrap_or(0);
    let totals: Vec<u64> = (0..n)
        .map(|i| layers.iter().map(|l| at(l, i)).sum())
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
         width=\"100%\" role=\"img\" aria-label=\"{aria}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"12\">"
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
    for layer in layers {
        let tops: Vec<u64> = (0..n).map(|i| base[i] + at(layer, i)).collect();
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
        let colour = layer.colour;
        let _ = writeln!(
            s,
            "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.85\" stroke=\"{colour}\">\
             <title>{}</title></polygon>",
            points.trim_end(),
            legend(layer)
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
    for layer in layers.iter().rev() {
        let _ = writeln!(
            s,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            layer.colour,
            legend_html(layer)
        );
    }
    let _ = writeln!(s, "</ul></div>");
}

/// "label: 1.00 GiB at the last iteration's end, peak 1.00 GiB", as a layer's title says it.
fn legend(layer: &Layer) -> String {
    format!("{}: {}", escape(&layer.label), figures(layer))
}

/// [`legend`] with the label as code where it is a site's.
fn legend_html(layer: &Layer) -> String {
    if layer.code {
        format!("<code>{}</code>: {}", escape(&layer.label), figures(layer))
    } else {
        legend(layer)
    }
}

fn figures(layer: &Layer) -> String {
    format!(
        "{} at the last iteration's end, peak {}",
        bytes(layer.values.last().copied().unwrap_or(0)),
        bytes(layer.values.iter().copied().max().unwrap_or(0))
    )
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
