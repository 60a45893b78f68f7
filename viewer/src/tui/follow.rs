//! Following one trace file as it grows: the resumable decoder feeding an analysis [`Replay`],
//! plus the few time-indexed figures the screens need and the replay does not keep (device
//! memory over time, where each iteration started, events per second).
//!
//! Nothing here blocks: a poll reads what the file has now, at most a budget of records, and
//! returns; a later poll picks up what was appended since.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpuleak_analysis::{MemoryClass, Replay};
use gpuleak_trace::encode::PRELUDE_LEN;
use gpuleak_trace::{RangeOp, Reader, Record};

/// Records applied per poll at most: a caller polls again while its time allows, so that
/// opening a large saved trace keeps the screen responsive (it fills in over a few ticks)
/// instead of freezing until the whole file is read.
pub const POLL_BUDGET: usize = 20_000;

/// Most points kept of device memory over time; when full, neighbours are merged (keeping the
/// larger), so memory stays bounded however long the run.
pub const TIMELINE_POINTS: usize = 1024;

/// NVTX range names whose openings are kept (for iteration ticks when a range marks them), as
/// the replay keeps at most so many ranges.
const MAX_RANGE_NAMES: usize = 64;

/// Device memory live over time, downsampled: each point is the highest value seen in its span.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// (time, live bytes) on the trace's monotonic clock.
    pub points: Vec<(u64, u64)>,
    /// Span of trace time each point stands for; grows by doubling.
    span_ns: u64,
}

impl Timeline {
    fn push(&mut self, time_ns: u64, live: u64) {
        if self.span_ns == 0 {
            // 100 µs to start with: a short run still gets a shape; a long one doubles it.
            self.span_ns = 100_000;
        }
        if let Some(last) = self.points.last_mut()
            && time_ns < last.0.saturating_add(self.span_ns)
        {
            last.1 = last.1.max(live);
            return;
        }
        self.points.push((time_ns, live));
        if self.points.len() >= TIMELINE_POINTS {
            self.span_ns = self.span_ns.saturating_mul(2);
            let merged: Vec<(u64, u64)> = self
                .points
                .chunks(2)
                .map(|c| (c[0].0, c.iter().map(|p| p.1).max().unwrap_or(0)))
                .collect();
            self.points = merged;
        }
    }
}

/// Where one iteration (as marked with gpuleak_mark_iteration) started, with the device figures
/// there: enough for per-iteration allocated / freed / net and for ages in iterations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub time_ns: u64,
    /// Sequence number of the first event after the marker.
    pub seq: u64,
    /// Device bytes allocated so far (cumulative) and live, when the marker was seen.
    pub allocated: u64,
    pub live: u64,
}

/// Where a trace's bytes come from: a file (followed as it grows), or bytes in memory (tests,
/// benchmarks).
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    Bytes(Arc<Vec<u8>>),
}

impl Source {
    /// A reader from the start; `Ok(None)` for a file not yet long enough to hold the prelude.
    fn try_open(&self) -> Result<Option<Reader<Box<dyn Read>>>, String> {
        match self {
            Source::File(path) => {
                let long_enough = std::fs::metadata(path)
                    .map(|m| m.len() >= PRELUDE_LEN as u64)
                    .unwrap_or(false);
                if !long_enough {
                    return Ok(None);
                }
                let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
                let boxed: Box<dyn Read> = Box::new(file);
                Reader::new(boxed).map(Some).map_err(|e| e.to_string())
            }
            Source::Bytes(bytes) => {
                let boxed: Box<dyn Read> =
                    Box::new(std::io::Cursor::new(SharedBytes(bytes.clone())));
                Reader::new(boxed).map(Some).map_err(|e| e.to_string())
            }
        }
    }

    /// A reader from the start, for a source known to hold a trace.
    pub fn open(&self) -> Result<Reader<Box<dyn Read>>, String> {
        self.try_open()?
            .ok_or_else(|| "the trace is shorter than its prelude".to_string())
    }

    pub fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Bytes(_) => "(in memory)".to_string(),
        }
    }
}

/// Shared bytes that a `std::io::Cursor` can read without copying them.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

pub struct Follower {
    pub source: Source,
    reader: Option<Reader<Box<dyn Read>>>,
    pub replay: Replay,
    pub timeline: Timeline,
    pub marks: Vec<Mark>,
    /// When each NVTX range (by name) was opened: the iteration ticks when one marks them.
    pub range_starts: HashMap<String, Vec<u64>>,
    /// A malformed stream or unreadable file: reading stops, what was read stays.
    pub error: Option<String>,
    next_seq: u64,
    /// When the file last gave new records (for "recording" vs "stopped").
    pub last_growth: Option<Instant>,
    /// Events per second, measured over the last second or so of polls.
    pub rate: f64,
    rate_since: Option<(Instant, u64)>,
    /// The last poll read to the end of what the file holds (not stopped by its budget).
    pub caught_up: bool,
    /// The offset where the bytes read so far end inside a record.
    pub truncated_at: Option<u64>,
    /// Bumped whenever new records were applied: the analysis is redone only when it moved.
    pub generation: u64,
}

impl Follower {
    pub fn new(path: &Path) -> Follower {
        Follower::with_source(Source::File(path.to_path_buf()))
    }

    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn from_bytes(bytes: Vec<u8>) -> Follower {
        Follower::with_source(Source::Bytes(Arc::new(bytes)))
    }

    pub fn with_source(source: Source) -> Follower {
        Follower {
            source,
            reader: None,
            replay: Replay::new(),
            timeline: Timeline::default(),
            marks: Vec::new(),
            range_starts: HashMap::new(),
            error: None,
            next_seq: 0,
            last_growth: None,
            rate: 0.0,
            rate_since: None,
            truncated_at: None,
            caught_up: false,
            generation: 0,
        }
    }

    /// Applies what the file gained since the last poll, at most `budget` records; returns
    /// whether anything was applied. A file not there yet, or shorter than the prelude, is
    /// waited for.
    pub fn poll(&mut self, budget: usize, now: Instant) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.reader.is_none() {
            match self.source.try_open() {
                Ok(Some(r)) => self.reader = Some(r),
                Ok(None) => return false,
                Err(e) => {
                    self.error = Some(e);
                    return false;
                }
            }
        }
        // Taken out while records are applied, which needs the rest of `self`.
        let Some(mut reader) = self.reader.take() else {
            return false;
        };
        let mut applied = 0usize;
        let mut at_end = false;
        let mut failed = None;
        while applied < budget {
            match reader.next_record() {
                Ok(Some(record)) => {
                    applied += 1;
                    self.observe_before(&record);
                    let time = record_time(&record);
                    self.replay.apply(record);
                    if let Some(t) = time {
                        self.timeline
                            .push(t, self.replay.totals(MemoryClass::Device).live_bytes);
                    }
                }
                Ok(None) => {
                    at_end = true;
                    break;
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    at_end = true;
                    break;
                }
            }
        }
        self.caught_up = at_end;
        // Kept here rather than in the replay, which only learns of it through read_from: a
        // trace cut inside a record must not look complete.
        self.truncated_at = reader.truncated().map(|(offset, _)| offset);
        self.reader = Some(reader);
        self.error = failed;
        self.update_rate(now);
        if applied > 0 {
            self.last_growth = Some(now);
            self.generation += 1;
        }
        applied > 0
    }

    /// Reads everything there is now, however long: for tests and the first look at a file.
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn poll_all(&mut self) {
        let now = Instant::now();
        while self.poll(POLL_BUDGET, now) {}
    }

    fn observe_before(&mut self, record: &Record) {
        match record {
            Record::Event(e) => self.next_seq = e.seq + 1,
            Record::Range(r) if matches!(r.op, RangeOp::Push | RangeOp::Start) => {
                if let Some(name) = &r.name {
                    if let Some(times) = self.range_starts.get_mut(name) {
                        times.push(r.time_ns);
                    } else if self.range_starts.len() < MAX_RANGE_NAMES {
                        self.range_starts.insert(name.clone(), vec![r.time_ns]);
                    }
                }
            }
            Record::Marker(m) => {
                let d = self.replay.totals(MemoryClass::Device);
                self.marks.push(Mark {
                    time_ns: m.time_ns,
                    seq: self.next_seq,
                    allocated: d.bytes_allocated,
                    live: d.live_bytes,
                });
            }
            _ => {}
        }
    }

    fn update_rate(&mut self, now: Instant) {
        let events = self.replay.events();
        match self.rate_since {
            None => self.rate_since = Some((now, events)),
            Some((since, before)) => {
                let dt = now.saturating_duration_since(since);
                if dt >= Duration::from_millis(1000) {
                    self.rate = events.saturating_sub(before) as f64 / dt.as_secs_f64();
                    self.rate_since = Some((now, events));
                }
            }
        }
    }

    /// The file stopped growing a while ago (or never grew in this session).
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        self.last_growth.map(|t| now.saturating_duration_since(t))
    }

    /// The iteration (0-based, counting markers) during which event `seq` happened; `None`
    /// before the first marker or without markers.
    pub fn iteration_of_seq(&self, seq: u64) -> Option<u64> {
        let n = self.marks.partition_point(|m| m.seq <= seq);
        (n > 0).then(|| n as u64 - 1)
    }
}

/// The trace time a record carries, if any.
pub fn record_time(record: &Record) -> Option<u64> {
    match record {
        Record::Event(e) => Some(e.time_ns),
        Record::Marker(m) => Some(m.time_ns),
        Record::Range(r) => Some(r.time_ns),
        Record::Dropped { time_ns, .. } => Some(*time_ns),
        _ => None,
    }
}

impl Follower {
    /// A trailer was seen and nothing after it is cut off: the process exited cleanly.
    pub fn complete(&self) -> bool {
        self.replay.trailer().is_some() && self.truncated_at.is_none()
    }
}
