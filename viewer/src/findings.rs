//! What a verdict means to the viewer: which sites leak, which verdicts are findings (not a
//! site the analysis calls quiet: loaded before the work began, or negligible), and how findings
//! rank (leak, then sawtooth, then plateau). Every screen and format asks here, so that a change
//! to how the analysis states its verdicts is an edit in this file only.

use std::path::Path;

use gpuleak_analysis::growth::Verdict;
use gpuleak_analysis::report::{DeviceFigures, Iterations};
use gpuleak_analysis::{Cause, Quiet, Report, Site};

use gpuleak_analysis::units::count;

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
    /// The finding a verdict is, if it is one (`steady` is not).
    pub fn of_verdict(verdict: Verdict) -> Option<Finding> {
        match verdict {
            Verdict::Leak => Some(Finding::Leak),
            Verdict::Sawtooth => Some(Finding::Sawtooth),
            Verdict::Plateau => Some(Finding::Plateau),
            Verdict::Steady => None,
        }
    }

    /// The finding at `site`, if any: none for a site whose verdict is quiet
    /// ([`gpuleak_analysis::quiet`]).
    pub fn of(site: &Site) -> Option<Finding> {
        site.verdict()
            .filter(|_| site.is_finding())
            .and_then(Finding::of_verdict)
    }
}

/// The site's verdict as the user reads it ("leak", "steady", ...).
pub fn verdict(site: &Site) -> Option<&'static str> {
    site.verdict().map(Verdict::as_str)
}

/// Why the site's verdict is no finding, as the JSON says it ("loaded", "negligible").
pub fn quiet(site: &Site) -> Option<&'static str> {
    site.quiet.map(Quiet::as_str)
}

/// The site's verdict in a list of sites: the verdict, and why it is no finding where it is
/// quiet ("plateau (loaded)").
pub fn verdict_in_list(site: &Site) -> Option<String> {
    let v = verdict(site)?;
    Some(match quiet(site) {
        Some(q) => format!("{v} ({q})"),
        None => v.to_string(),
    })
}

/// The verdict on device memory as a whole over the iterations ("leak", "steady", ...).
pub fn device_verdict(iterations: &Iterations) -> Option<&'static str> {
    iterations.device_verdict().map(Verdict::as_str)
}

/// The verdict on one device's memory over the iterations.
pub fn figures_verdict(figures: &DeviceFigures) -> Option<&'static str> {
    figures.verdict().map(Verdict::as_str)
}

/// The site leaks: it grows every iteration and keeps what it grew.
pub fn leaks(site: &Site) -> bool {
    site.leaks()
}

/// "not findings: 212 sites loaded before the work began, held since; 2 too small to matter",
/// for the sites whose verdict is quiet; `None` when none is. Said under the findings of the
/// text and HTML reports, so that a list without the weights does not read as if they were
/// missed.
pub fn quiet_note(report: &Report) -> Option<String> {
    let of = |q: Quiet| report.sites.iter().filter(|s| s.quiet == Some(q)).count() as u64;
    let parts: Vec<String> = [Quiet::Loaded, Quiet::Negligible]
        .into_iter()
        .filter(|&q| of(q) > 0)
        .map(|q| format!("{} {}", count(of(q), "site", "sites"), q.reason()))
        .collect();
    (!parts.is_empty()).then(|| format!("not findings: {}", parts.join("; ")))
}

/// Some site of the report leaks.
pub fn report_leaks(report: &Report) -> bool {
    report.sites.iter().any(Site::leaks)
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
                    signed_bytes(s.bytes_per_iteration().unwrap_or(0))
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

/// The diagnosis of every process whose report says that a leak may be hidden by a caching
/// allocator (growth inside the memory it already holds makes no allocation), the process named
/// only when there are several: what `--fail-on hidden-leak` says, whatever the format.
pub fn hidden_leak_lines<'a>(procs: &[(&'a Path, &'a Report)]) -> Vec<String> {
    let several = procs.len() > 1;
    procs
        .iter()
        .flat_map(|&(path, report)| {
            report
                .diagnosis
                .iter()
                .filter(|d| d.cause == Cause::HiddenByCache)
                .map(move |d| {
                    if several {
                        format!("{}: {}", process_name(path, report), d.text)
                    } else {
                        d.text.clone()
                    }
                })
        })
        .collect()
}

/// What the report counts iterations by (markers, NVTX ranges, the launch sequence, time).
pub use gpuleak_analysis::model::Source as IterationSource;

/// What the report's iterations are counted by.
pub fn iteration_source(iterations: &Iterations) -> Option<IterationSource> {
    iterations.source
}

/// What the report's iterations are counted by, as the report says it ("marker", "nvtx", ...).
pub fn source_word(iterations: &Iterations) -> Option<&'static str> {
    iterations.source.map(IterationSource::as_str)
}
