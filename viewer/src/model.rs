//! The model every export format and the HTML page read ([`Model`]): the report the text and
//! JSON output print (its
//! sites, verdicts, iterations and out-of-memory failures), one weighted stack per site of GPU
//! memory (device, managed, array, graph and physical memory: what fills the device) with its
//! frames resolved by the analysis' symbolizer, and, for the formats that draw time, the
//! allocations and frees in order ([`Timeline`]). `--what` chooses which stacks and which bytes
//! ([`What`]). One renderer per format (in `render/`) writes the bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gpuleak_analysis::{
    MemoryClass, Replay, Report, ReportOptions, Resolved, SiteKey, Symbolizer, function_name,
};
use gpuleak_trace::{Api, MemoryKind, Op, RangeOp, Record};

use crate::error::{Fail, decode_fail};
use crate::filter::What;
use crate::findings::{IterationSource, iteration_source, leaks, report_leaks};
use crate::format::warn_ends_early;
use crate::input::load;

/// One site's call stack with its figures: what every export draws.
#[derive(Clone, Debug)]
pub struct WeightedStack {
    /// Index into the report's sites.
    pub site: usize,
    /// Innermost first, as the symbolizer gives them (the report's frames, with the recorded
    /// address and module of each native one).
    pub frames: Vec<Resolved>,
    pub alloc_objects: u64,
    pub alloc_bytes: u64,
    pub inuse_objects: u64,
    pub inuse_bytes: u64,
    /// The report calls the site a leak.
    pub leak: bool,
    /// What a leaking site held, as the report tells it: at the last iteration, or at the end if
    /// more (a program that frees everything at exit, as every Python program does, holds
    /// nothing at the end); 0 for any other site.
    pub leaked_bytes: u64,
}

/// A trace read for export: the report, its GPU memory as weighted stacks, and the timeline
/// when the format draws time.
pub struct Model {
    pub path: PathBuf,
    pub replay: Replay,
    pub report: Report,
    pub options: ReportOptions,
    /// One per site of GPU memory, in the report's order (live bytes at the end first).
    pub stacks: Vec<WeightedStack>,
    pub what: What,
    pub timeline: Option<Timeline>,
    /// The report's site index of each replay site.
    site_index: HashMap<SiteKey, usize>,
}

/// Whether a kind of memory fills the device: what exports count.
pub fn on_gpu(kind: MemoryKind) -> bool {
    matches!(
        MemoryClass::of_kind(kind),
        MemoryClass::Device | MemoryClass::Physical
    )
}

impl Model {
    /// Each process's trace read with its timeline, leaking processes first.
    pub fn load_all(paths: &[PathBuf], options: &ReportOptions) -> Result<Vec<Model>, Fail> {
        let mut models = Vec::with_capacity(paths.len());
        for path in paths {
            models.push(Model::load(path, options, What::Live, true)?);
        }
        models.sort_by_key(|m| !report_leaks(&m.report));
        Ok(models)
    }

    /// Reads and replays `path`, builds its report, and with `timeline` reads it a second time
    /// for the allocations and frees in order. A trace cut short is read up to the cut, with the
    /// same warning as `gpuleak report`.
    pub fn load(
        path: &Path,
        options: &ReportOptions,
        what: What,
        timeline: bool,
    ) -> Result<Model, Fail> {
        let replay = load(path)?;
        if let Some(at) = replay.truncated_at() {
            warn_ends_early(path, at, "exporting");
        }
        let mut symbols = Symbolizer::new();
        let report = Report::build_with(&replay, &mut symbols, options);
        let by_site: HashMap<(u32, MemoryKind, Option<i32>), usize> = report
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.stack_id, s.memory, s.device), i))
            .collect();
        let site_index: HashMap<SiteKey, usize> = replay
            .sites()
            .keys()
            .filter_map(|k| {
                let i = by_site.get(&(k.stack, k.kind, (k.device >= 0).then_some(k.device)))?;
                Some((*k, *i))
            })
            .collect();
        let stacks = report
            .sites
            .iter()
            .enumerate()
            .filter(|(_, s)| on_gpu(s.memory))
            .map(|(i, s)| {
                // The symbolizer caches every address the report looked up: no second lookup.
                let frames = symbols.resolved(&replay, s.stack_id);
                WeightedStack {
                    site: i,
                    frames,
                    alloc_objects: s.allocations,
                    alloc_bytes: s.bytes_allocated,
                    inuse_objects: s.live_allocations_at_end,
                    inuse_bytes: s.live_bytes_at_end,
                    leak: leaks(s),
                    leaked_bytes: if leaks(s) {
                        s.live_bytes_at_last_iteration
                            .unwrap_or(0)
                            .max(s.live_bytes_at_end)
                    } else {
                        0
                    },
                }
            })
            .collect();
        let timeline = if timeline {
            Some(Timeline::read(path, &replay, &report)?)
        } else {
            None
        };
        Ok(Model {
            path: path.to_path_buf(),
            replay,
            report,
            options: options.clone(),
            stacks,
            what,
            timeline,
            site_index,
        })
    }

    /// The stacks `--what` selects: live at the end, held by leaking sites, or every one that
    /// allocated.
    pub fn selected(&self) -> impl Iterator<Item = &WeightedStack> {
        self.stacks.iter().filter(|s| match self.what {
            What::Live => s.inuse_bytes > 0,
            What::Leaked => s.leaked_bytes > 0,
            What::Allocated => s.alloc_objects > 0,
        })
    }

    /// The bytes `--what` weighs a stack by: live at the end, held by a leaking site (for
    /// `leaked`), or allocated over the run.
    pub fn weight(&self, s: &WeightedStack) -> u64 {
        match self.what {
            What::Live => s.inuse_bytes,
            What::Leaked => s.leaked_bytes,
            What::Allocated => s.alloc_bytes,
        }
    }

    /// The bytes a stack holds for the "in use" measures: live at the end, or, for `leaked`,
    /// held by the leak at the last iteration.
    pub fn held(&self, s: &WeightedStack) -> u64 {
        match self.what {
            What::Leaked => s.leaked_bytes,
            What::Live | What::Allocated => s.inuse_bytes,
        }
    }

    /// What the chosen bytes are, in a few words (titles, profile names).
    pub fn measure(&self) -> &'static str {
        match self.what {
            What::Live => "GPU memory live at the end",
            What::Leaked => "GPU memory held by leaking sites at the last iteration",
            What::Allocated => "GPU memory allocated over the run",
        }
    }

    /// Whether a site of the report is one `--what` keeps (for the timeline formats, which show
    /// every allocation of the sites kept).
    pub fn keeps_site(&self, key: &SiteKey) -> bool {
        on_gpu(key.kind)
            && match self.what {
                What::Leaked => self
                    .site_of(key)
                    .is_some_and(|i| leaks(&self.report.sites[i])),
                What::Live | What::Allocated => true,
            }
    }

    /// The report's site index of a replay site.
    pub fn site_of(&self, key: &SiteKey) -> Option<usize> {
        self.site_index.get(key).copied()
    }

    /// The trace's name as a person reads it in a title.
    pub fn trace_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The process, in a title: "sampler (pid 4242)".
    pub fn process_name(&self) -> String {
        match &self.report.process {
            Some(p) => {
                let exe = p.exe.rsplit('/').next().unwrap_or(&p.exe);
                format!("{exe} (pid {})", p.pid)
            }
            None => self.trace_name(),
        }
    }
}

/// A symbolized frame ("function (file:line)") taken apart: the function, the file, the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameParts<'a> {
    pub function: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
}

pub fn frame_parts(name: &str) -> FrameParts<'_> {
    let function = function_name(name);
    if function.len() == name.len() {
        return FrameParts {
            function,
            file: None,
            line: None,
        };
    }
    let source = &name[function.len() + 2..name.len() - 1];
    match source.rsplit_once(':') {
        Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => {
            FrameParts {
                function,
                file: Some(file),
                line: line.parse().ok(),
            }
        }
        _ => FrameParts {
            function,
            file: Some(source),
            line: None,
        },
    }
}

/// A frame as the stack formats show it: the function and its file's name and line
/// (`denoise_step (sampler.c:88)`); the whole path stays in pprof and in the HTML stacks.
pub fn short_name(name: &str) -> String {
    gpuleak_analysis::short_frame(name)
}

/// One change of GPU memory: an allocation or the free that gave it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    /// On the trace's monotonic clock.
    pub time_ns: u64,
    pub alloc: bool,
    pub address: u64,
    pub size: u64,
    pub site: SiteKey,
    /// The stream of a stream-ordered call (of the allocation, for its free); 0 otherwise.
    pub stream: u64,
}

/// The trace's GPU memory in order: every allocation and free of device and physical memory,
/// as the replay matches them, and where iterations begin.
pub struct Timeline {
    /// The trace's start on its monotonic clock, and the wall clock then.
    pub start_ns: u64,
    pub start_unix_ns: u64,
    pub end_ns: u64,
    pub changes: Vec<Change>,
    /// When each iteration the report counts begins (its source: markers, NVTX ranges, the
    /// launch sequence or time windows), in order; empty without iterations.
    pub iteration_starts: Vec<u64>,
}

impl Timeline {
    /// Reads the trace again into a fresh replay, noting before each record what it allocates
    /// or frees: the free's size and site are those of the allocation the replay matches it to
    /// (an address handed out again while live counts as a free of the earlier one, as in the
    /// replay).
    pub fn read(path: &Path, done: &Replay, report: &Report) -> Result<Timeline, Fail> {
        let mut reader = gpuleak_trace::open(path).map_err(|e| decode_fail(path, e))?;
        let mut replay = Replay::new();
        let mut changes = Vec::new();
        let mut markers = Vec::new();
        let mut ranges = Vec::new();
        let mut launches = Vec::new();
        let auto = done.auto_iterations();
        let wanted_range = report.iterations.range.clone();
        let mut launch_index = 0u64;
        let mut next_boundary = 0usize;
        while let Some(record) = reader.next_record().map_err(|e| decode_fail(path, e))? {
            match &record {
                Record::Event(e) if e.ok() && e.address != 0 => {
                    let kind = e.api.memory();
                    // Mappings and reserved ranges are matched apart, and are no memory.
                    let own = !matches!(kind, MemoryKind::Mapping | MemoryKind::AddressSpace)
                        && !matches!(e.api, Api::CuMemUnmap | Api::CuMemAddressFree);
                    let old = replay
                        .live()
                        .get(&(e.api.namespace(), e.address))
                        .copied()
                        .filter(|_| own);
                    match e.api.op() {
                        Op::Alloc | Op::Free => {
                            // An allocation at a live address replaces it: a free unseen.
                            if let Some(old) = old.filter(|o| on_gpu(o.kind())) {
                                changes.push(Change {
                                    seq: e.seq,
                                    time_ns: e.time_ns,
                                    alloc: false,
                                    address: e.address,
                                    size: old.size,
                                    site: SiteKey {
                                        stack: old.stack,
                                        kind: old.kind(),
                                        device: old.device,
                                    },
                                    stream: e.stream,
                                });
                            }
                            if e.api.op() == Op::Alloc && on_gpu(kind) {
                                changes.push(Change {
                                    seq: e.seq,
                                    time_ns: e.time_ns,
                                    alloc: true,
                                    address: e.address,
                                    size: e.size,
                                    site: SiteKey {
                                        stack: e.stack,
                                        kind,
                                        device: e.device,
                                    },
                                    stream: e.stream,
                                });
                            }
                        }
                        Op::Control => {}
                    }
                }
                Record::Marker(m) => markers.push(m.time_ns),
                Record::Range(r)
                    if matches!(r.op, RangeOp::Push | RangeOp::Start)
                        && r.name.is_some()
                        && r.name == wanted_range =>
                {
                    ranges.push(r.time_ns)
                }
                Record::Launch(l) => {
                    if let Some(a) = &auto {
                        while next_boundary < a.boundaries.len()
                            && a.boundaries[next_boundary] < launch_index
                        {
                            next_boundary += 1;
                        }
                        if a.boundaries.get(next_boundary) == Some(&launch_index) {
                            launches.push(l.time_ns);
                        }
                    }
                    launch_index += 1;
                }
                _ => {}
            }
            replay.apply(record);
        }
        let start_ns = done.header().map_or(0, |h| h.start_mono_ns);
        let iteration_starts = match iteration_source(&report.iterations) {
            Some(IterationSource::Marker) => markers,
            Some(IterationSource::Nvtx) => ranges,
            Some(IterationSource::Auto) => launches,
            Some(IterationSource::Time) => {
                let (start, width, _) = done.time_windows();
                (0..report.iterations.count)
                    .map(|i| start.saturating_add(i.saturating_mul(width)))
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(Timeline {
            start_ns,
            start_unix_ns: done.header().map_or(0, |h| h.start_unix_ns),
            end_ns: done.last_time_ns().max(start_ns),
            changes,
            iteration_starts,
        })
    }

    /// Microseconds since the trace began.
    pub fn micros(&self, time_ns: u64) -> f64 {
        time_ns.saturating_sub(self.start_ns) as f64 / 1000.0
    }

    /// Where each iteration begins and ends, on the trace's clock: the last ends with the trace.
    pub fn iterations(&self) -> Vec<(u64, u64)> {
        let s = &self.iteration_starts;
        s.iter()
            .enumerate()
            .map(|(i, &b)| (b, s.get(i + 1).copied().unwrap_or(self.end_ns).max(b)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_apart_into_function_file_and_line() {
        assert_eq!(
            frame_parts("denoise_step (/src/sampler.c:88)"),
            FrameParts {
                function: "denoise_step",
                file: Some("/src/sampler.c"),
                line: Some(88)
            }
        );
        assert_eq!(
            frame_parts("f (/src/x.c)"),
            FrameParts {
                function: "f",
                file: Some("/src/x.c"),
                line: None
            }
        );
        assert_eq!(
            frame_parts("sampler+0x1200"),
            FrameParts {
                function: "sampler+0x1200",
                file: None,
                line: None
            }
        );
        // A C++ signature keeps its parentheses: only a trailing " (source)" is a file.
        assert_eq!(
            frame_parts("at::empty(c10::ArrayRef<long>) (/a/b.cpp:3)").function,
            "at::empty(c10::ArrayRef<long>)"
        );
    }
}
