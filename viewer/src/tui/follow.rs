//! Following one trace file as it grows: the resumable decoder feeding an analysis [`Replay`],
//! plus the few time-indexed figures the screens need and the replay does not keep (device
//! memory over time, the device figures wherever an iteration may start, events per second).
//!
//! Nothing here blocks: a poll reads what the file has now, at most a budget of records, and
//! returns; a later poll picks up what was appended since.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpuleak_analysis::Replay;
use gpuleak_trace::encode::PRELUDE_LEN;
use gpuleak_trace::{RangeOp, Reader, Record};

/// Records applied per poll at most: a caller polls again while its time allows, so that
/// opening a large saved trace keeps the screen responsive (it fills in over a few ticks)
/// instead of freezing until the whole file is read.
pub const POLL_BUDGET: usize = 20_000;

/// Most points kept of device memory over time; when full, neighbours are merged (keeping the
/// larger), so memory stays bounded however long the run.
pub const TIMELINE_POINTS: usize = 1024;

/// NVTX ranges (domain and name) whose openings are kept: more than the replay follows, so that
/// whichever range it takes for iterations is among them.
const MAX_RANGE_NAMES: usize = 64;

/// Launches whose device figures are kept: where the launch sequence's iterations start is known
/// only at analysis time, so every launch is a candidate. Each costs 12 bytes, plus 24 where
/// events came since the previous snapshot (see `Snapshots`): 24 MB for a run with few
/// allocations between launches, 72 MB at worst. Past it, per-iteration allocated / freed and
/// ages stop (the screens say so); net and live per iteration go on from the replay.
pub const MAX_LAUNCHES: usize = 2_000_000;

/// NVTX range openings whose device figures are kept, all ranges together; as for launches.
pub const MAX_OPENINGS: usize = 2_000_000;
/// A trace that has not grown for this long, without a clean end, is no longer being written.
pub const IDLE: Duration = Duration::from_secs(2);

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

/// Where one iteration started (a marker, an NVTX range opening or a launch), with the device
/// figures there: enough for per-iteration allocated / freed / net and for ages in iterations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub time_ns: u64,
    /// Sequence number of the first event after the boundary.
    pub seq: u64,
    /// Device bytes allocated so far (cumulative) and live, when the boundary was seen.
    pub allocated: u64,
    pub live: u64,
}

/// The device figures at a boundary, without its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Figures {
    seq: u64,
    allocated: u64,
    live: u64,
}

/// Device figures at many points of the trace (every launch, every range opening), compactly:
/// kernels are launched far more often than memory is allocated, so consecutive points mostly
/// share their figures, which are stored once. A point costs its time and an index (12 bytes);
/// figures that changed since the previous point of any kind add 24.
#[derive(Debug, Default)]
struct Snapshots {
    figures: Vec<Figures>,
}

impl Snapshots {
    /// The index of `now`, stored if it differs from the last figures stored.
    fn index(&mut self, now: Figures) -> u32 {
        if self.figures.last() != Some(&now) {
            self.figures.push(now);
        }
        // Fewer figures than points, and points are capped far below u32::MAX.
        (self.figures.len() - 1) as u32
    }

    fn mark(&self, time_ns: u64, index: u32) -> Mark {
        let f = self.figures[index as usize];
        Mark {
            time_ns,
            seq: f.seq,
            allocated: f.allocated,
            live: f.live,
        }
    }
}

/// Points of one kind (launches, or one range's openings), in order.
#[derive(Debug, Default)]
struct Points {
    times: Vec<u64>,
    figures: Vec<u32>,
}

impl Points {
    fn push(&mut self, time_ns: u64, figures: u32) {
        self.times.push(time_ns);
        self.figures.push(figures);
    }

    fn len(&self) -> usize {
        self.times.len()
    }
}

/// One NVTX range's openings (pushes and starts), as the replay tells ranges apart.
#[derive(Debug)]
struct Openings {
    domain: Option<String>,
    name: String,
    points: Points,
}

/// Where a trace's bytes come from: a file (followed as it grows), or bytes in memory (tests,
/// benchmarks).
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

/// What a trace is read from: seekable, because a file written through a mapping is filled in
/// place and the stretch read as zeros is read again.
pub trait TraceBytes: Read + Seek {}
impl<T: Read + Seek> TraceBytes for T {}

pub type TraceReader = Reader<Box<dyn TraceBytes>>;

impl Source {
    /// A reader from the start; `Ok(None)` for a file whose prelude is not written yet.
    fn try_open(&self) -> Result<Option<TraceReader>, String> {
        match self {
            Source::File(path) => {
                let mut file = match std::fs::File::open(path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                let mut prelude = [0u8; PRELUDE_LEN];
                if file.read_exact(&mut prelude).is_err() || prelude.iter().all(|&b| b == 0) {
                    return Ok(None);
                }
                file.rewind().map_err(|e| e.to_string())?;
                let boxed: Box<dyn TraceBytes> = Box::new(file);
                Reader::seekable(boxed).map(Some).map_err(|e| e.to_string())
            }
            Source::Bytes(bytes) => {
                let boxed: Box<dyn TraceBytes> =
                    Box::new(std::io::Cursor::new(SharedBytes(bytes.clone())));
                Reader::seekable(boxed).map(Some).map_err(|e| e.to_string())
            }
        }
    }

    /// A reader from the start, for a source known to hold a trace.
    pub fn open(&self) -> Result<TraceReader, String> {
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
    reader: Option<TraceReader>,
    pub replay: Replay,
    pub timeline: Timeline,
    /// At each gpuleak_mark_iteration marker.
    pub marks: Vec<Mark>,
    snapshots: Snapshots,
    /// At each kernel launch, by position (launches before it), up to [`MAX_LAUNCHES`].
    launches: Points,
    /// At each opening of each NVTX range, up to [`MAX_OPENINGS`] in all.
    openings: Vec<Openings>,
    opened: usize,
    /// [`MAX_LAUNCHES`] and [`MAX_OPENINGS`], lower in tests.
    caps: (usize, usize),
    /// Launches or openings came past their cap: figures at later ones are not known.
    pub launches_capped: bool,
    pub openings_capped: bool,
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
            snapshots: Snapshots::default(),
            launches: Points::default(),
            openings: Vec::new(),
            opened: 0,
            caps: (MAX_LAUNCHES, MAX_OPENINGS),
            launches_capped: false,
            openings_capped: false,
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

    /// Keeps the figures of at most `launches` launches and `openings` range openings, so that
    /// a test can reach the caps with a small trace.
    pub fn with_caps(mut self, launches: usize, openings: usize) -> Follower {
        self.caps = (launches, openings);
        self
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
        if let Err(e) = reader.reread_unwritten() {
            failed = Some(e.to_string());
            at_end = true;
        }
        while failed.is_none() && applied < budget {
            match reader.next_record() {
                Ok(Some(record)) => {
                    applied += 1;
                    self.observe_before(&record);
                    let time = record_time(&record);
                    self.replay.apply(record);
                    if let Some(t) = time {
                        self.timeline.push(t, self.replay.gpu().live_bytes);
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
        if at_end
            && failed.is_none()
            && let Some(at) = reader.unwritten()
            && self.given_back(&reader, at)
        {
            // A capped run dropped the segment this view was reading, behind the writer: start
            // again from the oldest kept one, as a fresh view of the file would.
            let mut fresh =
                Follower::with_source(self.source.clone()).with_caps(self.caps.0, self.caps.1);
            fresh.generation = self.generation + 1;
            *self = fresh;
            return true;
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

    /// Whether the zeros at `at` are space a capped writer gave back (its Resume record now
    /// points past them), not space it has yet to write.
    fn given_back(&self, reader: &TraceReader, at: u64) -> bool {
        use std::os::unix::fs::FileExt;
        let (Some(field), Source::File(path)) = (reader.resume_field(), &self.source) else {
            return false;
        };
        let mut bytes = [0u8; 10];
        let read = std::fs::File::open(path).and_then(|f| f.read_exact_at(&mut bytes, field));
        match (read, gpuleak_trace::wire::peek_varint(&bytes)) {
            (Ok(()), Ok(Some((to, _)))) => to > at,
            _ => false,
        }
    }

    /// Reads everything there is now, however long: for tests and the first look at a file.
    pub fn poll_all(&mut self) {
        let now = Instant::now();
        while self.poll(POLL_BUDGET, now) {}
    }

    /// The device figures now, before `record` is applied: what an iteration starting at it
    /// started with.
    fn figures(&self) -> Figures {
        let d = self.replay.gpu();
        Figures {
            seq: self.next_seq,
            allocated: d.bytes_allocated,
            live: d.live_bytes,
        }
    }

    fn observe_before(&mut self, record: &Record) {
        match record {
            Record::Event(e) => self.next_seq = e.seq + 1,
            Record::Launch(l) => {
                if self.launches.len() < self.caps.0 {
                    let i = self.snapshots.index(self.figures());
                    self.launches.push(l.time_ns, i);
                } else {
                    self.launches_capped = true;
                }
            }
            Record::Range(r) if matches!(r.op, RangeOp::Push | RangeOp::Start) => {
                let Some(name) = &r.name else { return };
                if self.opened >= self.caps.1 {
                    self.openings_capped = true;
                    return;
                }
                let k = match self
                    .openings
                    .iter()
                    .position(|o| o.name == *name && o.domain == r.domain)
                {
                    Some(k) => k,
                    None if self.openings.len() < MAX_RANGE_NAMES => {
                        self.openings.push(Openings {
                            domain: r.domain.clone(),
                            name: name.clone(),
                            points: Points::default(),
                        });
                        self.openings.len() - 1
                    }
                    None => return,
                };
                let i = self.snapshots.index(self.figures());
                self.openings[k].points.push(r.time_ns, i);
                self.opened += 1;
            }
            Record::Marker(m) => {
                let f = self.figures();
                self.marks.push(Mark {
                    time_ns: m.time_ns,
                    seq: f.seq,
                    allocated: f.allocated,
                    live: f.live,
                });
            }
            _ => {}
        }
    }

    /// The device figures before the launch at `position` (0-based); `None` past the cap or
    /// beyond the launches read.
    pub fn at_launch(&self, position: u64) -> Option<Mark> {
        let p = usize::try_from(position).ok()?;
        let &time = self.launches.times.get(p)?;
        Some(self.snapshots.mark(time, self.launches.figures[p]))
    }

    /// The device figures at each opening of one NVTX range, in order.
    pub fn range_openings(&self, domain: Option<&str>, name: &str) -> Vec<Mark> {
        self.openings
            .iter()
            .find(|o| o.name == name && o.domain.as_deref() == domain)
            .map(|o| {
                o.points
                    .times
                    .iter()
                    .zip(&o.points.figures)
                    .map(|(&t, &i)| self.snapshots.mark(t, i))
                    .collect()
            })
            .unwrap_or_default()
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
