//! The analysis of the process shown, as plain figures and tables: what the screens draw, made
//! again at most every [`super::ANALYSIS_EVERY`], so that a frame costs the same however long the
//! trace is.

use std::collections::HashMap;
use std::time::Instant;

use gpuleak_analysis::growth::Verdict;
use gpuleak_analysis::{AutoIterations, Report, ReportOptions, Site, SiteKey};

use super::rows::{AllocRow, Boundary, IterRow, alloc_rows, iteration_rows, site_key};
use super::run::{Proc, RunInfo};
use crate::findings::{Finding, IterationSource, iteration_source};

use crate::tui::follow::{IDLE, Mark};

/// The header line's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub command: String,
    pub pid: Option<u32>,
    /// "running 00:01:12", "exited 0", "killed (signal 9)", "complete", "recording" ...
    pub status: String,
    /// The status is bad news (killed, OOM, cut short): shown in red.
    pub alarming: bool,
    pub oom: bool,
    /// Device total memory, as cuMemGetInfo reported it.
    pub device_total: Option<u64>,
    /// The device's name, as the driver gave it.
    pub device_name: Option<String>,
    pub live: u64,
    pub peak: u64,
    pub reserved: u64,
    pub pinned: u64,
    /// "marker", "nvtx \"step\"", "auto", "time"; empty without events.
    pub iteration_source: String,
    pub iterations: u64,
    /// How device memory as a whole moves per iteration: the verdict and bytes per iteration.
    pub growth: Option<(Verdict, i64)>,
    /// "iter", the markers' label ("request"), or, when time windows stand in for
    /// iterations, "window" ([`gpuleak_analysis::Iterations::unit_short`]).
    pub per: String,
    pub events: u64,
    pub events_per_s: f64,
    pub dropped: u64,
}

/// The last analysis of the process shown.
#[derive(Default)]
pub struct Snapshot {
    pub summary: Summary,
    /// Device memory live at the end of each iteration.
    pub series: Vec<u64>,
    /// What the sites held when the work began (the weights), and `series` split into what was
    /// loaded and what iterations kept above it ([`gpuleak_analysis::bands`]): the overview
    /// draws the kept part on its own scale.
    pub loaded: u64,
    pub bands: Vec<gpuleak_analysis::bands::Band>,
    /// Device memory over time: (seconds since the trace started, bytes).
    pub timeline: Vec<(f64, f64)>,
    /// Where iterations start, in seconds (markers, NVTX openings or launches).
    pub ticks: Vec<f64>,
    /// Allocations that failed for lack of memory: (seconds, live bytes then).
    pub ooms: Vec<(f64, f64)>,
    /// As the report ranks them (live memory first).
    pub sites: Vec<Site>,
    /// The devices the process allocated on, with their own figures.
    pub devices: Vec<gpuleak_analysis::DeviceFigures>,
    /// The trace the sites come from ended cleanly: "live at the end" and "freed at exit" mean
    /// something (else "live now").
    pub sites_complete: bool,
    pub(crate) site_index: HashMap<SiteKey, usize>,
    /// Indices into `sites` of the findings, in their order (ranked once per analysis, not
    /// per frame).
    pub(crate) findings: Vec<usize>,
    /// Why memory ran out, or would (the report's diagnosis).
    pub diagnosis: Vec<gpuleak_analysis::Diagnosis>,
    /// The failure the program died of, explained (the report's `oom`): what filled the device,
    /// the cause and the advice.
    pub oom: Option<gpuleak_analysis::OomReport>,
    /// What one iteration is, in full ("iteration", "request", "time window"), for the words
    /// of the out-of-memory parts ("working memory of the request in flight").
    pub unit: String,
    /// The live set, largest first; `alloc_order` indexes it in the table's order, filtered.
    pub allocs: Vec<AllocRow>,
    pub iterations: Vec<IterRow>,
    /// Where each iteration the report counts starts, with the device figures there, as of the
    /// last analysis; empty for time windows.
    pub bounds: Vec<Mark>,
    /// `bounds` stop short of the iterations counted: the figures kept ran out (a cap).
    pub bounds_partial: bool,
    /// What starts an iteration, for the cursor; `None` for time windows.
    pub(crate) boundary: Option<Boundary>,
    /// What the report counts iterations by (`summary.iteration_source` says it in words).
    pub(crate) source: Option<IterationSource>,
    /// Time windows cut the program's steps apart: nothing within a step is judged yet
    /// ([`gpuleak_analysis::Iterations::windows_cut_steps`]).
    pub(crate) windows_cut_steps: bool,
    /// Index into the replay's ranges of the NVTX range that marks iterations.
    pub(crate) range_index: Option<usize>,
    /// The launch sequence's iterations when they are the report's: taken once per analysis,
    /// as the replay gives them by cloning.
    pub(crate) auto: Option<AutoIterations>,
    pub(crate) start_ns: u64,
}

impl Snapshot {
    /// Analyses the process `proc` as its trace stands: report, verdicts, series and tables;
    /// narrowed to `device_filter` where the process used that device.
    pub fn build(
        proc: &mut Proc,
        options: &ReportOptions,
        run: Option<&RunInfo>,
        device_filter: Option<i32>,
        now: Instant,
    ) -> Snapshot {
        let mut d = Snapshot::default();
        let replay = &proc.follower.replay;
        let report = Report::build_with(replay, &mut proc.symbols, options);
        let follower = &proc.follower;
        d.series = gpuleak_analysis::report::device_live_per_iteration(replay, options);
        d.start_ns = replay.header().map_or(0, |h| h.start_mono_ns);
        let secs = |t: u64| t.saturating_sub(d.start_ns) as f64 / 1e9;
        d.timeline = follower
            .timeline
            .points
            .iter()
            .map(|&(t, v)| (secs(t), v as f64))
            .collect();
        // A point stands for the span it starts; the line goes on to what is live now.
        if !d.timeline.is_empty() {
            d.timeline
                .push((secs(replay.last_time_ns()), replay.gpu().live_bytes as f64));
        }
        d.ooms = replay
            .ooms()
            .iter()
            .map(|o| (secs(o.time_ns), o.live_bytes as f64))
            .collect();

        let (command, pid) = match &report.process {
            Some(p) if !p.argv.is_empty() => (p.argv.join(" "), Some(p.pid)),
            Some(p) => (p.exe.clone(), Some(p.pid)),
            None => (
                run.map_or("(no header yet)".to_string(), |r| r.command.clone()),
                None,
            ),
        };
        let it = &report.iterations;
        let source = iteration_source(it);
        d.source = source;
        d.windows_cut_steps = it.windows_cut_steps;
        d.range_index = match (source, &it.range) {
            // The report names the range; the same name in two domains is told apart by the
            // count, which is the chosen range's.
            (Some(IterationSource::Nvtx), Some(name)) => {
                let ranges = replay.ranges();
                ranges
                    .iter()
                    .position(|r| r.name == *name && r.count == it.count)
                    .or_else(|| ranges.iter().position(|r| r.name == *name))
            }
            _ => None,
        };
        d.auto = if source == Some(IterationSource::Auto) {
            replay.auto_iterations()
        } else {
            None
        };
        d.boundary = match source {
            Some(IterationSource::Marker) => Some(Boundary::Marker),
            Some(IterationSource::Nvtx) => {
                d.range_index
                    .and_then(|i| replay.ranges().get(i))
                    .map(|r| Boundary::Range {
                        domain: r.domain.clone(),
                        name: r.name.clone(),
                    })
            }
            Some(IterationSource::Auto) => d
                .auto
                .as_ref()
                .map(|a| Boundary::Launch(a.boundaries.clone())),
            _ => None,
        };
        d.bounds = match &d.boundary {
            Some(Boundary::Marker) => follower.marks.clone(),
            Some(Boundary::Range { domain, name }) => {
                follower.range_openings(domain.as_deref(), name)
            }
            Some(Boundary::Launch(at)) => at.iter().map_while(|&p| follower.at_launch(p)).collect(),
            None => Vec::new(),
        };
        d.bounds_partial = d.boundary.is_some() && (d.bounds.len() as u64) < it.count;
        d.ticks = d.bounds.iter().map(|m| secs(m.time_ns)).collect();
        let iteration_source = match (source, &it.range) {
            // Said as the report says it; the typed `source` is what the screens go by.
            (Some(IterationSource::Nvtx), Some(r)) => format!("nvtx {r:?}"),
            (Some(s), _) => s.as_str().to_string(),
            (None, _) => String::new(),
        };
        let per = it.unit_short().to_string();
        let m = &report.memory;
        d.summary = Summary {
            command,
            pid,
            status: String::new(),
            alarming: false,
            oom: !report.ooms.is_empty(),
            device_total: replay.device_total_bytes(),
            device_name: replay.device_name().map(str::to_string),
            // What fills the GPU: device and physical (cuMemCreate) memory.
            live: m.device_plus_physical_live_bytes_at_end,
            peak: m.device_plus_physical_peak_live_bytes,
            reserved: report.pools.reserved_bytes_at_end,
            pinned: m.pinned_host_live_bytes_at_end,
            iteration_source,
            iterations: it.count,
            growth: it.device_verdict().zip(it.device_bytes_per_iteration()),
            per,
            events: replay.events(),
            // While the trace grows, the rate it grows at; once it has stopped, the program's
            // average over its run (the rate the file was read at would mean nothing).
            events_per_s: if follower.complete() || follower.idle_for(now).is_none_or(|d| d >= IDLE)
            {
                let span = replay.last_time_ns().saturating_sub(d.start_ns) as f64 / 1e9;
                if span > 0.0 {
                    replay.events() as f64 / span
                } else {
                    0.0
                }
            } else {
                follower.rate
            },
            dropped: report.dropped_events,
        };

        d.sites_complete = report.complete;
        d.devices = report.devices.clone();
        // A device no longer among the process's (another process shown) means all of them.
        let chosen = device_filter.filter(|&dev| d.devices.iter().any(|f| f.ordinal == dev));
        if let Some(f) = chosen.and_then(|dev| d.devices.iter().find(|f| f.ordinal == dev)) {
            // The header follows the device chosen.
            d.summary.live = f.live_bytes_at_end;
            d.summary.peak = f.peak_live_bytes;
            d.summary.device_total = f.total_bytes;
            d.summary.device_name = f.name.clone();
            d.summary.growth = f.verdict().zip(f.bytes_per_iteration());
        }
        d.loaded = gpuleak_analysis::bands::loaded_bytes(&report.sites);
        d.bands = gpuleak_analysis::bands::bands(&d.series, None, d.loaded);
        d.sites = report.sites;
        d.site_index = d
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| (site_key(s), i))
            .collect();
        let mut findings: Vec<usize> = (0..d.sites.len())
            .filter(|&i| Finding::of(&d.sites[i]).is_some())
            .filter(|&i| chosen.is_none_or(|dev| d.sites[i].device == Some(dev)))
            .collect();
        let sites = &d.sites;
        findings.sort_by_key(|&i| {
            (
                Finding::of(&sites[i]),
                std::cmp::Reverse(sites[i].bytes_per_iteration()),
            )
        });
        d.findings = findings;
        d.diagnosis = report.diagnosis.clone();
        d.oom = report.oom.clone();
        d.unit = report.iterations.unit().to_string();
        d.allocs = alloc_rows(replay);
        d.iterations = iteration_rows(&d.bounds, d.bounds_partial, &d.series, replay);
        d
    }
}
