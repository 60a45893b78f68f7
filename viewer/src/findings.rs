//! What a verdict means to the viewer: which sites leak, and how findings rank (leak, then
//! sawtooth, then plateau). Every screen and format asks here, so that a change to how the
//! analysis states its verdicts is an edit in this file only.

use std::path::Path;

use gpuleak_analysis::report::{DeviceFigures, Iterations};
use gpuleak_analysis::{Report, Site};

use crate::format::{process_name, signed_bytes};

/// A verdict worth showing, most serious first (the order is the rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// Grows every iteration and keeps it.
    Leak,
    /// Grows through an iteration and gives it back.
    Sawtooth,
    /// Grew, then stopped.
    Plateau,
}

impl Finding {
    /// The finding a verdict word names, if it names one ("flat" and the like do not).
    pub fn of_verdict(verdict: &str) -> Option<Finding> {
        match verdict {
            "leak" => Some(Finding::Leak),
            "sawtooth" => Some(Finding::Sawtooth),
            "plateau" => Some(Finding::Plateau),
            _ => None,
        }
    }

    /// The finding at `site`, if any.
    pub fn of(site: &Site) -> Option<Finding> {
        verdict(site).and_then(Finding::of_verdict)
    }
}

/// The site's verdict as the user reads it ("leak", "flat", ...).
pub fn verdict(site: &Site) -> Option<&str> {
    site.verdict.as_deref()
}

/// The verdict on device memory as a whole over the iterations ("leak", "flat", ...).
pub fn device_verdict(iterations: &Iterations) -> Option<&str> {
    iterations.device_verdict.as_deref()
}

/// The verdict on one device's memory over the iterations.
pub fn figures_verdict(figures: &DeviceFigures) -> Option<&str> {
    figures.verdict.as_deref()
}

/// The site leaks: it grows every iteration and keeps what it grew.
pub fn leaks(site: &Site) -> bool {
    Finding::of(site) == Some(Finding::Leak)
}

/// Some site of the report leaks.
pub fn report_leaks(report: &Report) -> bool {
    report.sites.iter().any(leaks)
}

/// "pid 1236, rank 2: grow_chunk (...) <- pool_alloc <- leak_latents (+2.00 MiB/iteration)" for
/// every leaking site of every process (the process named only when there are several): what
/// `--fail-on leak` says, whatever the format.
pub fn leak_lines<'a>(procs: &[(&'a Path, &'a Report)]) -> Vec<String> {
    let several = procs.len() > 1;
    procs
        .iter()
        .flat_map(|&(path, report)| {
            report.sites.iter().filter(|s| leaks(s)).map(move |s| {
                let site = format!(
                    "{} ({}/iteration)",
                    s.label,
                    signed_bytes(s.bytes_per_iteration.unwrap_or(0))
                );
                if several {
                    format!("{}: {site}", process_name(path, report))
                } else {
                    site
                }
            })
        })
        .collect()
}

/// What the report counts iterations by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterationSource {
    /// `gpuleak_mark_iteration` calls.
    Marker,
    /// The openings of an NVTX range.
    Nvtx,
    /// A repeating sequence of kernel launches.
    Auto,
    /// Time windows, for want of anything better.
    Time,
}

impl IterationSource {
    /// What the report's iterations are counted by.
    pub fn of_iterations(iterations: &Iterations) -> Option<IterationSource> {
        IterationSource::of(source_word(iterations))
    }

    /// The source a report's `iterations.source` names.
    pub fn of(source: Option<&str>) -> Option<IterationSource> {
        match source? {
            "marker" => Some(IterationSource::Marker),
            "nvtx" => Some(IterationSource::Nvtx),
            "auto" => Some(IterationSource::Auto),
            "time" => Some(IterationSource::Time),
            _ => None,
        }
    }
}

/// What the report's iterations are counted by, as the report says it ("marker", "nvtx", ...).
pub fn source_word(iterations: &Iterations) -> Option<&str> {
    iterations.source.as_deref()
}
