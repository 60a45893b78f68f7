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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use gpuleak_analysis::ReportOptions;
    use gpuleak_trace::{Api, Encoder, Event, Header, Marker, Trailer};

    use super::*;
    use crate::filter::What;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// 2 GiB of weights loaded before the first marker, then 20 marked steps, each with 64 MiB
    /// of scratch freed within it and 128 KiB kept for good: a trace file of its own.
    fn weights_and_a_small_leak() -> PathBuf {
        let mut buf = Vec::new();
        let header = Header {
            pid: 9,
            exe: "/usr/bin/sampler".into(),
            stacks: "native".into(),
            ..Header::default()
        };
        let mut enc = Encoder::start(&header, &mut buf);
        for site in 1..=3u32 {
            enc.stack(site, &[0x1000 * u64::from(site)], &mut buf);
        }
        let mut seq = 0u64;
        let mut marks = 0u64;
        let mut event = |enc: &mut Encoder, buf: &mut Vec<u8>, api, address, size, stack| {
            seq += 1;
            enc.event(
                &Event {
                    seq,
                    time_ns: seq * 1000,
                    tid: 1,
                    api,
                    device: 0,
                    stream: 0,
                    address,
                    size,
                    result: 0,
                    stack,
                    mem_info: None,
                    aux: 0,
                    pool_reserved: None,
                },
                buf,
            );
            seq * 1000
        };
        event(&mut enc, &mut buf, Api::CudaMalloc, 0x100, 2 * GIB, 1);
        for step in 0..20u64 {
            marks += 1;
            enc.marker(
                &Marker {
                    // Between the step's events, which are 1 µs apart (below 1 ms for all).
                    time_ns: step * 4000 + 1500 + marks,
                    tid: 1,
                    label: None,
                },
                &mut buf,
            );
            event(&mut enc, &mut buf, Api::CudaMalloc, 0x200, 64 * MIB, 2);
            event(&mut enc, &mut buf, Api::CudaFree, 0x200, 0, 2);
            event(
                &mut enc,
                &mut buf,
                Api::CudaMalloc,
                0x1_000 + step,
                128 * KIB,
                3,
            );
        }
        enc.trailer(&Trailer::default(), &mut buf);
        let path = std::env::temp_dir().join(format!("gpuleak-bands-{}.trace", std::process::id()));
        std::fs::write(&path, buf).unwrap();
        path
    }

    #[test]
    fn a_128_kib_leak_above_2_gib_of_weights_rises_on_its_own_scale() {
        let path = weights_and_a_small_leak();
        let m = Model::load(&path, &ReportOptions::default(), What::Live, true).unwrap();
        let _ = std::fs::remove_file(&path);
        let d = drawn(&m);
        assert_eq!(d.loaded, 2 * GIB);
        // Each iteration keeps 128 KiB more than the one before; its scratch took it 64 MiB
        // above where it began, which is 128 KiB under its end.
        for w in d.bands.windows(2).take(18) {
            assert_eq!(w[1].kept - w[0].kept, 128 * KIB, "{:?}", d.bands);
            assert_eq!(w[1].loaded, 2 * GIB);
            assert_eq!(w[1].working, 64 * MIB - 128 * KIB, "{:?}", d.bands);
        }
        let mut page = String::new();
        chart(&mut page, &m);
        // The second chart is on the scale of what is kept: not the weights', nor the scratch's.
        let own = &page[page
            .find("on its own scale")
            .expect("a chart of what is kept")..];
        assert!(own.contains(">2.50 MiB</text>"), "{own}");
        assert!(
            !own.contains(" GiB</text>") && !own.contains("64.0 MiB"),
            "{own}"
        );
        assert!(
            own.contains("<title>kept from iteration to iteration: 2.50 MiB at the last"),
            "{own}"
        );
    }
}
