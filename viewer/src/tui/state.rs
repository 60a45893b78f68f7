//! What the screens show, and how actions and time change it. Nothing here draws.
//!
//! The data model: one [`Proc`] per trace file (a process of the run), each a [`Follower`] that
//! reads its file as it grows. [`App::tick`] polls them all (so every trace keeps being read
//! whatever is displayed) and, at most every [`ANALYSIS_EVERY`], redoes the analysis of the
//! process shown into plain figures and tables. Drawing reads only those, so a frame costs the
//! same however long the trace is.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use crossterm::event::Event;
use gpuleak_analysis::units::bytes;
use gpuleak_analysis::{
    AutoIterations, Replay, Report, ReportOptions, Site, SiteKey, Symbolizer, growth, short_frame,
};
use gpuleak_trace::MemoryKind;

use super::cursor::{Boundary, Cursor, Moment};
use super::follow::{Follower, MAX_LAUNCHES, MAX_OPENINGS, Mark, POLL_BUDGET, Source};
use super::input::{self, Action};

/// How often the analysis of the shown process is redone while its trace grows.
pub const ANALYSIS_EVERY: Duration = Duration::from_millis(300);
/// How often the analysis is redone while a trace is still being read in (opening a large one).
pub const ANALYSIS_WHILE_READING: Duration = Duration::from_secs(1);
/// Longest a tick spends reading traces.
pub const READ_PER_TICK: Duration = Duration::from_millis(80);
/// How often the run's directory is looked at for new processes' traces.
pub const DISCOVER_EVERY: Duration = Duration::from_millis(500);
/// A trace that has not grown for this long, without a clean end, is no longer being written.
pub const IDLE: Duration = Duration::from_secs(2);
/// Stops of the time cursor over a trace without known iteration starts.
const TIME_STOPS: u64 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Sites,
    Allocations,
    Iterations,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Overview,
        Screen::Sites,
        Screen::Allocations,
        Screen::Iterations,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Sites => "Sites",
            Screen::Allocations => "Allocations",
            Screen::Iterations => "Iterations",
        }
    }
}

/// The order of the sites table; `s` goes to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Memory live now, largest first (the report's order).
    Live,
    /// Growth per iteration, fastest first; sites without a verdict last.
    BytesPerIteration,
    /// Allocations made, most first.
    Allocations,
    /// Leaks, then sawtooths, plateaus, steady sites.
    Verdict,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Live => "live",
            SortKey::BytesPerIteration => "bytes/iter",
            SortKey::Allocations => "allocations",
            SortKey::Verdict => "verdict",
        }
    }

    fn next(self) -> SortKey {
        match self {
            SortKey::Live => SortKey::BytesPerIteration,
            SortKey::BytesPerIteration => SortKey::Allocations,
            SortKey::Allocations => SortKey::Verdict,
            SortKey::Verdict => SortKey::Live,
        }
    }
}

/// The order of the allocations table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocSort {
    Size,
    /// Oldest first.
    Age,
}

impl AllocSort {
    pub fn name(self) -> &'static str {
        match self {
            AllocSort::Size => "size",
            AllocSort::Age => "age",
        }
    }
}

/// How the program of `gpuleak run` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What the TUI knows of the program `gpuleak run` started.
pub struct RunInfo {
    pub command: String,
    pub pid: u32,
    pub started: Instant,
    /// Set by whoever waits for the program.
    pub exit: Arc<Mutex<Option<Exit>>>,
    /// Where the program's stdout and stderr go while the TUI has the terminal.
    pub log: Option<PathBuf>,
    /// Sends the program SIGINT (Ctrl-C in the TUI, whose raw mode keeps the terminal's).
    pub interrupt: Option<Box<dyn Fn()>>,
}

impl RunInfo {
    pub fn exit(&self) -> Option<Exit> {
        *self.exit.lock()
    }
}

/// Finds the traces of the run as they appear: the program's, then its children's.
pub type Discover = Box<dyn FnMut() -> Vec<PathBuf>>;

/// One process of the run: its trace, followed.
pub struct Proc {
    pub follower: Follower,
    /// Kept per process so each address is symbolized once per session.
    symbols: Symbolizer,
}

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
    pub growth: Option<(String, i64)>,
    /// "iter" or, when time windows stand in for iterations, "window".
    pub per: &'static str,
    pub events: u64,
    pub events_per_s: f64,
    pub dropped: u64,
}

/// One live allocation, as the allocations table lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRow {
    pub address: u64,
    pub size: u64,
    pub kind: MemoryKind,
    pub seq: u64,
    pub stack: u32,
    pub device: i32,
}

/// The replay's key of a report's site.
fn site_key(site: &Site) -> SiteKey {
    SiteKey {
        stack: site.stack_id,
        kind: site.memory,
        device: site.device.unwrap_or(gpuleak_trace::NO_DEVICE),
    }
}

/// The live set of a replay, largest first (oldest first among equals).
pub fn alloc_rows(replay: &Replay) -> Vec<AllocRow> {
    let mut rows: Vec<AllocRow> = replay
        .live()
        .iter()
        .map(|(&(_, address), a)| AllocRow {
            address,
            size: a.size,
            kind: a.kind(),
            seq: a.seq,
            stack: a.stack,
            device: a.device,
        })
        .chain(
            replay
                .mappings()
                .iter()
                .chain(replay.reservations())
                .map(|(&address, a)| AllocRow {
                    address,
                    size: a.size,
                    kind: a.kind(),
                    seq: a.seq,
                    stack: a.stack,
                    device: a.device,
                }),
        )
        .collect();
    rows.sort_unstable_by_key(|r| (std::cmp::Reverse(r.size), r.seq));
    rows
}

/// One iteration's device memory: allocated, freed, net change, live at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IterRow {
    pub index: u64,
    /// `None` where only the live figure is known (time windows, or past the launches or NVTX
    /// openings whose figures are kept).
    pub allocated: Option<u64>,
    pub freed: Option<u64>,
    pub net: i64,
    pub live_end: u64,
}

pub struct App {
    pub procs: Vec<Proc>,
    /// Index into `procs` of the process shown.
    pub current: usize,
    options: ReportOptions,
    discover: Option<Discover>,
    last_discover: Option<Instant>,
    pub run: Option<RunInfo>,

    pub summary: Summary,
    /// Device memory live at the end of each iteration.
    pub series: Vec<u64>,
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
    /// The device the lists and the header are narrowed to (`g`); `None`: all.
    pub device_filter: Option<i32>,
    /// The trace the sites come from ended cleanly: "live at the end" and "freed at exit" mean
    /// something (else "live now").
    pub sites_complete: bool,
    /// Indices into `sites`, in the table's order, filtered.
    pub order: Vec<usize>,
    /// Row of the sites table (an index into `order`).
    pub selected: usize,
    /// The selected site's live bytes at each iteration's end.
    pub selected_series: Vec<u64>,
    site_index: HashMap<SiteKey, usize>,
    /// Indices into `sites` of the findings, in their order (ranked once per analysis, not
    /// per frame).
    findings: Vec<usize>,
    /// Why memory ran out, or would (the report's diagnosis).
    pub diagnosis: Vec<gpuleak_analysis::Diagnosis>,
    /// The live set, largest first; `alloc_order` indexes it in the table's order, filtered.
    pub allocs: Vec<AllocRow>,
    pub alloc_order: Vec<usize>,
    pub alloc_selected: usize,
    pub alloc_sort: AllocSort,
    pub iterations: Vec<IterRow>,
    /// Where each iteration the report counts starts, with the device figures there, as of the
    /// last analysis; empty for time windows.
    pub bounds: Vec<Mark>,
    /// `bounds` stop short of the iterations counted: the figures kept ran out (a cap).
    pub bounds_partial: bool,
    /// What starts an iteration, for the cursor; `None` for time windows.
    boundary: Option<Boundary>,
    /// Index into the replay's ranges of the NVTX range that marks iterations.
    range_index: Option<usize>,
    /// The launch sequence's iterations when they are the report's: taken once per analysis,
    /// as the replay gives them by cloning.
    auto: Option<AutoIterations>,
    pub iter_selected: usize,
    /// The iterations table keeps the latest iteration selected until the user moves.
    iter_follow: bool,

    pub screen: Screen,
    pub sort: SortKey,
    pub help: bool,
    pub quit: bool,
    /// Quit while the program was still running: it goes on without the TUI.
    pub detached: bool,
    pub paused: bool,
    pub filter: String,
    pub editing_filter: bool,
    pub cursor: Option<Cursor>,
    /// The live set at the cursor, when it is on.
    pub moment: Option<std::rc::Rc<Moment>>,
    /// False when NO_COLOR is set: meaning is carried by text alone.
    pub color: bool,
    /// First row shown of each table, kept between frames so scrolling is smooth.
    pub offsets: [Cell<usize>; 3],

    analysed: Option<(usize, u64)>,
    last_analysis: Option<Instant>,
    start_ns: u64,
    now: Instant,
}

impl App {
    fn with_procs(procs: Vec<Proc>, options: ReportOptions) -> App {
        App {
            procs,
            current: 0,
            options,
            discover: None,
            last_discover: None,
            run: None,
            summary: Summary::default(),
            series: Vec::new(),
            timeline: Vec::new(),
            ticks: Vec::new(),
            ooms: Vec::new(),
            sites: Vec::new(),
            devices: Vec::new(),
            device_filter: None,
            sites_complete: false,
            order: Vec::new(),
            selected: 0,
            selected_series: Vec::new(),
            site_index: HashMap::new(),
            findings: Vec::new(),
            diagnosis: Vec::new(),
            allocs: Vec::new(),
            alloc_order: Vec::new(),
            alloc_selected: 0,
            alloc_sort: AllocSort::Size,
            iterations: Vec::new(),
            bounds: Vec::new(),
            bounds_partial: false,
            boundary: None,
            range_index: None,
            auto: None,
            iter_selected: 0,
            iter_follow: true,
            screen: Screen::Overview,
            sort: SortKey::Live,
            help: false,
            quit: false,
            detached: false,
            paused: false,
            filter: String::new(),
            editing_filter: false,
            cursor: None,
            moment: None,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            offsets: Default::default(),
            analysed: None,
            last_analysis: None,
            start_ns: 0,
            now: Instant::now(),
        }
    }

    /// Follows the trace files `paths` (which need not exist yet).
    pub fn follow(paths: &[PathBuf], options: ReportOptions) -> App {
        let procs = paths.iter().map(|p| Proc::new(Follower::new(p))).collect();
        App::with_procs(procs, options)
    }

    /// A trace held in memory, read whole and analysed: for tests and benchmarks.
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn from_bytes(bytes: Vec<u8>, options: ReportOptions) -> App {
        App::from_follower(Follower::from_bytes(bytes), options)
    }

    /// A follower of a trace held in memory, read whole and analysed: for tests.
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn from_follower(mut follower: Follower, options: ReportOptions) -> App {
        follower.poll_all();
        let mut app = App::with_procs(vec![Proc::new(follower)], options);
        app.analyse();
        app
    }

    /// Traces of processes that appear later are found with `discover`.
    pub fn with_discovery(mut self, discover: Discover) -> App {
        self.discover = Some(discover);
        self
    }

    pub fn with_run(mut self, run: RunInfo) -> App {
        self.run = Some(run);
        self
    }

    /// What the clock says; tests set it to get fixed elapsed times.
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// One turn of the loop: new traces found, every trace read on, and the shown process
    /// analysed again if its trace moved and the last analysis is old enough.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if let Some(discover) = self.discover.as_mut()
            && self
                .last_discover
                .is_none_or(|t| now.saturating_duration_since(t) >= DISCOVER_EVERY)
        {
            self.last_discover = Some(now);
            for path in discover() {
                let known = self
                    .procs
                    .iter()
                    .any(|p| matches!(&p.follower.source, Source::File(f) if *f == path));
                if !known {
                    self.procs.push(Proc::new(Follower::new(&path)));
                }
            }
        }
        // Reading has a time budget per tick (a large saved trace takes a few ticks) so keys
        // and redraws never wait long; a growing trace gains far less than that per tick.
        let until = Instant::now() + READ_PER_TICK;
        for p in &mut self.procs {
            while p.follower.poll(POLL_BUDGET, now) && Instant::now() < until {}
        }
        // An empty main trace (the program has not touched CUDA) gives way to one with data.
        if self.generation() == 0
            && let Some(i) = self.procs.iter().position(|p| p.follower.generation > 0)
        {
            self.current = i;
        }
        // While a large trace is still being read in, each analysis would be of a part soon
        // outdated: fewer of them leave the time to reading.
        let every = if self.behind() {
            ANALYSIS_WHILE_READING
        } else {
            ANALYSIS_EVERY
        };
        let due = self
            .last_analysis
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        let moved = self.analysed != Some((self.current, self.generation()));
        if !self.paused && due && moved {
            self.last_analysis = Some(now);
            self.analyse();
        }
        // Figures that change without new records (elapsed time, exit status) stay current.
        if !self.paused {
            self.update_status();
        }
    }

    /// Some trace has more to read right now than the last tick had time for.
    pub fn behind(&self) -> bool {
        self.procs.iter().any(|p| {
            !p.follower.caught_up && p.follower.error.is_none() && p.follower.generation > 0
        })
    }

    fn generation(&self) -> u64 {
        self.procs
            .get(self.current)
            .map_or(0, |p| p.follower.generation)
    }

    /// Redoes the analysis of the process shown: report, verdicts, series and tables.
    pub fn analyse(&mut self) {
        let generation = self.generation();
        let Some(proc) = self.procs.get_mut(self.current) else {
            return;
        };
        let replay = &proc.follower.replay;
        let report = Report::build_with(replay, &mut proc.symbols, &self.options);
        let follower = &proc.follower;
        self.series = gpuleak_analysis::report::device_live_per_iteration(replay, &self.options);
        self.start_ns = replay.header().map_or(0, |h| h.start_mono_ns);
        let secs = |t: u64| t.saturating_sub(self.start_ns) as f64 / 1e9;
        self.timeline = follower
            .timeline
            .points
            .iter()
            .map(|&(t, v)| (secs(t), v as f64))
            .collect();
        // A point stands for the span it starts; the line goes on to what is live now.
        if !self.timeline.is_empty() {
            self.timeline
                .push((secs(replay.last_time_ns()), replay.gpu().live_bytes as f64));
        }
        self.ooms = replay
            .ooms()
            .iter()
            .map(|o| (secs(o.time_ns), o.live_bytes as f64))
            .collect();

        let (command, pid) = match &report.process {
            Some(p) if !p.argv.is_empty() => (p.argv.join(" "), Some(p.pid)),
            Some(p) => (p.exe.clone(), Some(p.pid)),
            None => (
                self.run
                    .as_ref()
                    .map_or("(no header yet)".to_string(), |r| r.command.clone()),
                None,
            ),
        };
        let it = &report.iterations;
        self.range_index = match (it.source.map(|s| s.as_str()), &it.range) {
            // The report names the range; the same name in two domains is told apart by the
            // count, which is the chosen range's.
            (Some("nvtx"), Some(name)) => {
                let ranges = replay.ranges();
                ranges
                    .iter()
                    .position(|r| r.name == *name && r.count == it.count)
                    .or_else(|| ranges.iter().position(|r| r.name == *name))
            }
            _ => None,
        };
        self.auto = if it.source.map(|s| s.as_str()) == Some("auto") {
            replay.auto_iterations()
        } else {
            None
        };
        self.boundary = match it.source.map(|s| s.as_str()) {
            Some("marker") => Some(Boundary::Marker),
            Some("nvtx") => self
                .range_index
                .and_then(|i| replay.ranges().get(i))
                .map(|r| Boundary::Range {
                    domain: r.domain.clone(),
                    name: r.name.clone(),
                }),
            Some("auto") => self
                .auto
                .as_ref()
                .map(|a| Boundary::Launch(a.boundaries.clone())),
            _ => None,
        };
        self.bounds = match &self.boundary {
            Some(Boundary::Marker) => follower.marks.clone(),
            Some(Boundary::Range { domain, name }) => {
                follower.range_openings(domain.as_deref(), name)
            }
            Some(Boundary::Launch(at)) => at.iter().map_while(|&p| follower.at_launch(p)).collect(),
            None => Vec::new(),
        };
        self.bounds_partial = self.boundary.is_some() && (self.bounds.len() as u64) < it.count;
        self.ticks = self.bounds.iter().map(|m| secs(m.time_ns)).collect();
        let iteration_source = match (it.source.map(|s| s.as_str()), &it.range) {
            (Some("nvtx"), Some(r)) => format!("nvtx {r:?}"),
            (Some(s), _) => s.to_string(),
            (None, _) => String::new(),
        };
        let per = if it.source.map(|s| s.as_str()) == Some("time") {
            "window"
        } else {
            "iter"
        };
        let m = &report.memory;
        self.summary = Summary {
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
            growth: it
                .device_verdict()
                .map(|v| v.as_str().to_string())
                .zip(it.device_bytes_per_iteration()),
            per,
            events: replay.events(),
            // While the trace grows, the rate it grows at; once it has stopped, the program's
            // average over its run (the rate the file was read at would mean nothing).
            events_per_s: if follower.complete()
                || follower.idle_for(self.now).is_none_or(|d| d >= IDLE)
            {
                let span = replay.last_time_ns().saturating_sub(self.start_ns) as f64 / 1e9;
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

        let keep = self
            .order
            .get(self.selected)
            .map(|&i| self.sites[i].stack_id);
        self.sites_complete = report.complete;
        self.devices = report.devices.clone();
        if let Some(d) = self.device_filter
            && !self.devices.iter().any(|f| f.ordinal == d)
        {
            self.device_filter = None;
        }
        let chosen = self.device_filter;
        if let Some(f) = chosen.and_then(|d| self.devices.iter().find(|f| f.ordinal == d)) {
            // The header follows the device chosen.
            self.summary.live = f.live_bytes_at_end;
            self.summary.peak = f.peak_live_bytes;
            self.summary.device_total = f.total_bytes;
            self.summary.device_name = f.name.clone();
            self.summary.growth = f
                .verdict()
                .map(|v| v.as_str().to_string())
                .zip(f.bytes_per_iteration());
        }
        self.sites = report.sites;
        self.site_index = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| (site_key(s), i))
            .collect();
        let mut findings: Vec<usize> = (0..self.sites.len())
            .filter(|&i| rank(self.sites[i].verdict().map(|v| v.as_str())).is_some())
            .filter(|&i| chosen.is_none_or(|d| self.sites[i].device == Some(d)))
            .collect();
        let sites = &self.sites;
        findings.sort_by_key(|&i| {
            (
                rank(sites[i].verdict().map(|v| v.as_str())),
                std::cmp::Reverse(sites[i].bytes_per_iteration()),
            )
        });
        self.findings = findings;
        self.diagnosis = report.diagnosis.clone();
        self.allocs = alloc_rows(replay);
        self.iterations = iteration_rows(&self.bounds, self.bounds_partial, &self.series, replay);
        if self.iter_follow {
            self.iter_selected = self.iterations.len().saturating_sub(1);
        }
        self.analysed = Some((self.current, generation));
        self.refilter();
        if let Some(k) = keep
            && let Some(pos) = self.order.iter().position(|&i| self.sites[i].stack_id == k)
        {
            self.selected = pos;
        }
        self.update_selected_series();
        self.update_status();
    }

    /// The header's status: the program's state under `gpuleak run`, else the trace's.
    fn update_status(&mut self) {
        let now = self.now;
        let Some(proc) = self.procs.get(self.current) else {
            return;
        };
        let f = &proc.follower;
        let own = self
            .run
            .as_ref()
            .filter(|r| self.summary.pid.is_none_or(|p| p == r.pid));
        let (status, alarming) = if let Some(run) = own {
            match run.exit() {
                None => {
                    let s = now.saturating_duration_since(run.started).as_secs();
                    (
                        format!("running {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
                        false,
                    )
                }
                Some(Exit::Code(c)) => (format!("exited {c}"), c != 0),
                Some(Exit::Signal(sig)) => (format!("killed by {}", signal_name(sig)), true),
            }
        } else if f.complete() {
            ("complete".to_string(), false)
        } else if !f.caught_up && f.generation > 0 && f.error.is_none() {
            ("reading the trace".to_string(), false)
        } else if f.idle_for(now).is_some_and(|d| d < IDLE) {
            ("recording".to_string(), false)
        } else if f.truncated_at.is_some() {
            ("killed (trace cut short)".to_string(), true)
        } else if f.generation == 0 {
            ("waiting for the first CUDA call".to_string(), false)
        } else {
            ("no clean exit".to_string(), true)
        };
        self.summary.alarming = alarming || self.summary.oom;
        self.summary.status = if self.summary.oom {
            format!("{status}, OOM")
        } else {
            status
        };
    }

    /// The program of `gpuleak run` is still running.
    pub fn program_running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.exit().is_none())
    }

    /// Applies a terminal event: text while the filter is being typed, else its action.
    pub fn handle(&mut self, event: &Event) {
        if self.editing_filter {
            match input::filter_edit(event) {
                Some(input::Edit::Char(c)) => {
                    self.filter.push(c);
                    self.refilter();
                }
                Some(input::Edit::Backspace) => {
                    self.filter.pop();
                    self.refilter();
                }
                Some(input::Edit::Done) => self.editing_filter = false,
                Some(input::Edit::Cancel) => {
                    self.editing_filter = false;
                    self.filter.clear();
                    self.refilter();
                }
                None => {}
            }
            return;
        }
        if let Some(action) = input::action(event) {
            self.apply(action);
        }
    }

    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => {
                self.detached = self.program_running();
                self.quit = true;
            }
            Action::Interrupt => match self.run.as_ref() {
                Some(run) if run.exit().is_none() => {
                    if let Some(f) = &run.interrupt {
                        f();
                    }
                }
                _ => self.quit = true,
            },
            Action::ToggleHelp => self.help = !self.help,
            Action::CloseHelp => {
                if self.help {
                    self.help = false;
                } else if self.cursor.is_some() {
                    self.cursor = None;
                    self.moment = None;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.refilter();
                }
            }
            Action::NextScreen | Action::PrevScreen => {
                let i = Screen::ALL
                    .iter()
                    .position(|s| *s == self.screen)
                    .unwrap_or(0);
                let n = Screen::ALL.len();
                let j = if action == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.screen = Screen::ALL[j];
            }
            Action::Screen(n) => {
                if let Some(s) = Screen::ALL.get(n) {
                    self.screen = *s;
                }
            }
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(20),
            Action::PageUp => self.move_by(-20),
            Action::Sort => match self.screen {
                Screen::Allocations => {
                    self.alloc_sort = match self.alloc_sort {
                        AllocSort::Size => AllocSort::Age,
                        AllocSort::Age => AllocSort::Size,
                    };
                    self.refilter();
                }
                _ => {
                    self.sort = self.sort.next();
                    self.resort();
                }
            },
            Action::Filter => self.editing_filter = true,
            Action::Pause => {
                self.paused = !self.paused;
                if !self.paused {
                    self.analyse();
                }
            }
            Action::NextProcess | Action::PrevProcess => {
                let n = self.procs.len();
                if n > 1 {
                    self.current = if action == Action::NextProcess {
                        (self.current + 1) % n
                    } else {
                        (self.current + n - 1) % n
                    };
                    self.cursor = None;
                    self.moment = None;
                    self.analyse();
                }
            }
            Action::NextDevice => {
                let ordinals: Vec<i32> = self.devices.iter().map(|d| d.ordinal).collect();
                if ordinals.len() > 1 {
                    self.device_filter = match self.device_filter {
                        None => ordinals.first().copied(),
                        Some(d) => ordinals
                            .iter()
                            .position(|&o| o == d)
                            .and_then(|i| ordinals.get(i + 1).copied()),
                    };
                    // Figures, findings and lists are made again for the device chosen.
                    self.analysed = None;
                    self.analyse();
                }
            }
            Action::CursorBack => self.move_cursor(-1),
            Action::CursorForward => self.move_cursor(1),
        }
    }

    /// Whether a site is on the device the view is narrowed to (always, with no device chosen).
    fn on_device(&self, s: &Site) -> bool {
        self.device_filter.is_none_or(|d| s.device == Some(d))
    }

    /// "GPU 1 of 2 (g switches)" when the process used several devices.
    pub fn device_label(&self) -> Option<String> {
        (self.devices.len() > 1).then(|| match self.device_filter {
            None => format!("all {} GPUs (g switches)", self.devices.len()),
            Some(d) => format!("GPU {d} of {} (g switches)", self.devices.len()),
        })
    }

    fn move_by(&mut self, delta: isize) {
        let step = |at: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            (at as isize + delta).clamp(0, len as isize - 1) as usize
        };
        match self.screen {
            Screen::Overview | Screen::Sites => {
                self.selected = step(self.selected, self.order.len());
                self.update_selected_series();
            }
            Screen::Allocations => {
                self.alloc_selected = step(self.alloc_selected, self.alloc_count());
            }
            Screen::Iterations => {
                self.iter_selected = step(self.iter_selected, self.iterations.len());
                self.iter_follow = self.iter_selected + 1 >= self.iterations.len();
            }
        }
    }

    /// The time cursor works on a finished trace: one still growing has no fixed moments.
    pub fn cursor_available(&self) -> bool {
        self.procs
            .get(self.current)
            .is_some_and(|p| p.follower.complete() && !self.program_running())
    }

    fn move_cursor(&mut self, delta: isize) {
        if !self.cursor_available() {
            return;
        }
        let Some(proc) = self.procs.get(self.current) else {
            return;
        };
        let (bounds, boundary) = (&self.bounds, &self.boundary);
        let partial = self.bounds_partial;
        let cursor = self.cursor.get_or_insert_with(|| {
            let f = &proc.follower;
            let (stops, boundary) = if bounds.len() > 1 && !partial {
                // The end of each iteration: where the next starts, and the trace's end.
                let mut stops: Vec<u64> = bounds[1..].iter().map(|m| m.time_ns).collect();
                stops.push(f.replay.last_time_ns());
                (stops, boundary.clone())
            } else {
                let start = f.timeline.points.first().map_or(0, |p| p.0);
                let end = f.replay.last_time_ns().max(start);
                let stops = (1..=TIME_STOPS)
                    .map(|i| start + (end - start) * i / TIME_STOPS)
                    .collect();
                (stops, None)
            };
            let last = stops.len().saturating_sub(1);
            // The first press lands one step back from the end, where the screens already are.
            Cursor::new(f.source.clone(), stops, boundary, last + 1)
        });
        let n = cursor.stops.len();
        if n == 0 {
            return;
        }
        cursor.index = (cursor.index as isize + delta).clamp(0, n as isize - 1) as usize;
        self.moment = cursor.moment();
        self.alloc_selected = 0;
    }

    /// What the cursor stands on: "end of iter 12" or "t 1.25 s".
    pub fn cursor_label(&self) -> Option<String> {
        let c = self.cursor.as_ref()?;
        Some(if c.by_iteration() {
            format!("end of iter {}", c.index)
        } else {
            format!(
                "t {:.2} s",
                c.time_ns().saturating_sub(self.start_ns) as f64 / 1e9
            )
        })
    }

    /// The cursor's time in seconds since the trace started.
    pub fn cursor_secs(&self) -> Option<f64> {
        let c = self.cursor.as_ref()?;
        Some(c.time_ns().saturating_sub(self.start_ns) as f64 / 1e9)
    }

    /// Puts `order` (sites) and `alloc_order` in their sort, with the filter applied.
    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        let matches = |s: &Site| {
            self.on_device(s)
                && (needle.is_empty()
                    || s.frames.iter().any(|f| f.to_lowercase().contains(&needle)))
        };
        let keep_site = self.order.get(self.selected).copied();
        self.order = (0..self.sites.len())
            .filter(|&i| matches(&self.sites[i]))
            .collect();
        self.selected = keep_site
            .and_then(|k| self.order.iter().position(|&i| i == k))
            .unwrap_or(0);
        self.resort();

        let narrowed = !needle.is_empty() || self.device_filter.is_some();
        let wanted: Option<HashSet<SiteKey>> = narrowed.then(|| {
            self.order
                .iter()
                .map(|&i| site_key(&self.sites[i]))
                .collect()
        });
        self.alloc_order = (0..self.allocs.len())
            .filter(|&i| {
                let r = &self.allocs[i];
                wanted.as_ref().is_none_or(|w| {
                    w.contains(&SiteKey {
                        stack: r.stack,
                        kind: r.kind,
                        device: r.device,
                    })
                })
            })
            .collect();
        if self.alloc_sort == AllocSort::Age {
            let allocs = &self.allocs;
            self.alloc_order.sort_by_key(|&i| allocs[i].seq);
        }
        self.alloc_selected = self
            .alloc_selected
            .min(self.alloc_order.len().saturating_sub(1));
    }

    /// Puts `order` in the current sort, keeping the selected site selected.
    fn resort(&mut self) {
        let keep = self.order.get(self.selected).copied();
        let sites = &self.sites;
        // A stable sort on the report's order: ties keep it.
        self.order.sort_unstable();
        match self.sort {
            SortKey::Live => {}
            SortKey::BytesPerIteration => self.order.sort_by_key(|&i| {
                std::cmp::Reverse(sites[i].bytes_per_iteration().unwrap_or(i64::MIN))
            }),
            SortKey::Allocations => self
                .order
                .sort_by_key(|&i| std::cmp::Reverse(sites[i].allocations)),
            SortKey::Verdict => self.order.sort_by_key(|&i| {
                (
                    rank(sites[i].verdict().map(|v| v.as_str())).unwrap_or(u8::MAX),
                    std::cmp::Reverse(sites[i].bytes_per_iteration().unwrap_or(i64::MIN)),
                )
            }),
        }
        self.selected = keep
            .and_then(|k| self.order.iter().position(|&i| i == k))
            .unwrap_or(0);
        self.update_selected_series();
    }

    fn update_selected_series(&mut self) {
        let Some(site) = self.order.get(self.selected).map(|&i| &self.sites[i]) else {
            self.selected_series.clear();
            return;
        };
        let key = site_key(site);
        let Some(proc) = self.procs.get(self.current) else {
            return;
        };
        let replay = &proc.follower.replay;
        let live_now = replay.sites().get(&key).map_or(0, |s| s.live_bytes);
        self.selected_series = site_ends(
            replay,
            &self.summary.iteration_source,
            self.range_index,
            self.auto.as_ref(),
            &key,
            live_now,
        );
    }

    /// The sites table's rows, in order.
    // Used by the tests and benchmarks, which include this module by path.
    #[allow(dead_code)]
    pub fn rows(&self) -> impl Iterator<Item = &Site> {
        self.order.iter().map(|&i| &self.sites[i])
    }

    pub fn selected_site(&self) -> Option<&Site> {
        self.order.get(self.selected).map(|&i| &self.sites[i])
    }

    /// The site an allocation was made at.
    pub fn site_of(&self, row: &AllocRow) -> Option<&Site> {
        let key = SiteKey {
            stack: row.stack,
            kind: row.kind,
            device: row.device,
        };
        self.site_index.get(&key).map(|&i| &self.sites[i])
    }

    /// The allocation rows the table shows: the cursor's moment, or now, filtered.
    pub fn alloc_count(&self) -> usize {
        match &self.moment {
            Some(m) => m.rows.len(),
            None => self.alloc_order.len(),
        }
    }

    pub fn alloc_row(&self, i: usize) -> Option<&AllocRow> {
        match &self.moment {
            Some(m) => m.rows.get(i),
            None => self.alloc_order.get(i).map(|&j| &self.allocs[j]),
        }
    }

    /// An allocation's age in iterations: those begun since it was made. Unknown for time
    /// windows, and for an allocation made after the last iteration start whose figures were
    /// kept when more have started since.
    pub fn age(&self, row: &AllocRow) -> Option<u64> {
        if self.bounds.is_empty() {
            return None;
        }
        let of = iteration_of_seq(&self.bounds, row.seq);
        if self.bounds_partial && of == Some(self.bounds.len() as u64 - 1) {
            return None;
        }
        let born = of.map_or(0, |i| i + 1);
        let now = match &self.cursor {
            Some(c) if c.by_iteration() => c.index as u64 + 1,
            _ if self.bounds_partial => self.summary.iterations,
            _ => self.bounds.len() as u64,
        };
        Some(now.saturating_sub(born))
    }

    /// Why allocated / freed and ages stop before the last iteration, when they do.
    pub fn bounds_note(&self) -> Option<String> {
        if !self.bounds_partial {
            return None;
        }
        let kept = match self.boundary {
            Some(Boundary::Launch(_)) => format!("{} launches", thousands(MAX_LAUNCHES)),
            _ => format!("{} range openings", thousands(MAX_OPENINGS)),
        };
        Some(format!(
            "allocated/freed known for the first {} only: figures are kept for {kept}",
            self.bounds.len().saturating_sub(1)
        ))
    }

    /// Leaks, then sawtooths, then plateaus; fastest growth first within each.
    pub fn findings(&self) -> Vec<&Site> {
        self.findings.iter().map(|&i| &self.sites[i]).collect()
    }

    /// One finding as a line of text: verdict, site, growth, live memory, when full.
    pub fn finding_text(&self, site: &Site) -> String {
        let verdict = site.verdict().map(|v| v.as_str()).unwrap_or("");
        let per = self.summary.per;
        // The label names the site (distinct from every other); its caller comes last, where a
        // narrow terminal cuts, so that growth and when the device is full stay in view.
        let label = &site.label;
        let growth = signed_bytes(site.bytes_per_iteration().unwrap_or(0));
        let mut line = match verdict {
            "leak" => format!("▲ LEAK      {label} leaks {growth}/{per}"),
            "sawtooth" => format!("▲ SAWTOOTH  {label} grows {growth}/{per}, then gives it back"),
            _ => format!("• PLATEAU   {label} grew, then stopped ({growth}/{per})"),
        };
        if let Some(n) = site.full_at_iteration {
            line.push_str(&format!(" — device full at {per} ~{n}"));
        }
        // Memory freed only at exit would read "live 0 B": say what the iterations held.
        match site.live_bytes_at_last_iteration {
            Some(last) if self.sites_complete && last > site.live_bytes_at_end => {
                line.push_str(&format!("  (held {} at the last {per}, ", bytes(last)));
                line.push_str(&if site.live_bytes_at_end == 0 {
                    "freed at exit".to_string()
                } else {
                    format!("{} freed at exit", bytes(last - site.live_bytes_at_end))
                });
            }
            _ => line.push_str(&format!("  (live {}", bytes(site.live_bytes_at_end))),
        }
        if let Some(caller) = site.frames.get(site.user_frame + 1)
            && !label.contains(" <- ")
        {
            line.push_str(&format!(", called from {}", short_frame(caller)));
        }
        line.push(')');
        line
    }

    /// "proc 2/3" when the run has several processes.
    pub fn process_label(&self) -> Option<String> {
        (self.procs.len() > 1).then(|| format!("proc {}/{}", self.current + 1, self.procs.len()))
    }

    /// The status line: what is going on and what q will do, the most pressing first.
    pub fn status_line(&self) -> String {
        let mut parts = Vec::new();
        if self.paused {
            parts.push("PAUSED: display frozen, trace still read (p resumes)".to_string());
        }
        if let Some(label) = self.cursor_label() {
            let at = self.moment.as_ref().map_or(String::new(), |m| {
                format!(
                    ": live {} in {} allocations",
                    bytes(m.live_bytes),
                    m.live_allocations
                )
            });
            parts.push(format!("cursor at {label}{at} (Esc: back to the end)"));
        }
        let proc = self.procs.get(self.current);
        if let Some(e) = proc.and_then(|p| p.follower.error.as_ref()) {
            parts.push(format!("trace unreadable past this point: {e}"));
        }
        if let Some(run) = &self.run {
            parts.push(if run.exit().is_none() {
                "q detaches (the program keeps running and recording)".to_string()
            } else {
                "the program has ended; q quits".to_string()
            });
            if let Some(log) = &run.log {
                parts.push(format!("program output: {}", log.display()));
            }
        }
        if let Some(p) = proc {
            parts.push(format!("trace {}", p.follower.source.name()));
        }
        parts.join("  ·  ")
    }
}

impl Proc {
    fn new(follower: Follower) -> Proc {
        Proc {
            follower,
            symbols: Symbolizer::new(),
        }
    }
}

/// The iteration (0-based, as `bounds` start them) during which event `seq` happened; `None`
/// before the first.
pub fn iteration_of_seq(bounds: &[Mark], seq: u64) -> Option<u64> {
    let n = bounds.partition_point(|m| m.seq <= seq);
    (n > 0).then(|| n as u64 - 1)
}

/// Per iteration: from the device figures where each starts, where known (allocated, freed and
/// net), else from the live series alone (net only).
fn iteration_rows(bounds: &[Mark], partial: bool, series: &[u64], replay: &Replay) -> Vec<IterRow> {
    let d = replay.gpu();
    let now = Mark {
        time_ns: 0,
        seq: 0,
        allocated: d.bytes_allocated,
        live: d.live_bytes,
    };
    let count = if bounds.is_empty() || partial {
        series.len().max(bounds.len())
    } else {
        bounds.len()
    };
    (0..count)
        .map(|i| {
            let end = match bounds.get(i + 1) {
                Some(next) => Some(next),
                None if !partial && i + 1 == bounds.len() => Some(&now),
                None => None,
            };
            if let (Some(start), Some(end)) = (bounds.get(i), end) {
                let allocated = end.allocated.saturating_sub(start.allocated);
                let net = end.live as i64 - start.live as i64;
                return IterRow {
                    index: i as u64,
                    allocated: Some(allocated),
                    freed: Some((allocated as i64 - net).max(0) as u64),
                    net,
                    live_end: end.live,
                };
            }
            let live = series.get(i).copied().unwrap_or(0);
            let before = match i {
                0 => 0,
                _ => series.get(i - 1).copied().unwrap_or(0),
            };
            IterRow {
                index: i as u64,
                allocated: None,
                freed: None,
                net: live as i64 - before as i64,
                live_end: live,
            }
        })
        .collect()
}

/// A site's live bytes at the end of each iteration, as the report's iterations count them.
fn site_ends(
    replay: &Replay,
    source: &str,
    range_index: Option<usize>,
    auto: Option<&AutoIterations>,
    key: &SiteKey,
    live_now: u64,
) -> Vec<u64> {
    let Some(series) = replay.site_series(key) else {
        return Vec::new();
    };
    if source == "marker" {
        growth::iteration_ends(&series.at_markers, live_now)
    } else if source.starts_with("nvtx ") {
        range_index
            .and_then(|i| series.at_ranges.get(i))
            .map_or_else(Vec::new, |b| growth::iteration_ends(&b.at, live_now))
    } else if source == "auto" {
        auto.and_then(|a| a.series.get(key))
            .map(|s| growth::iteration_ends(&s.at, live_now))
            .unwrap_or_default()
    } else {
        let mut ends = series.at_windows.clone();
        ends.push(live_now);
        ends
    }
}

/// 2000000 as "2,000,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rank(verdict: Option<&str>) -> Option<u8> {
    match verdict? {
        "leak" => Some(0),
        "sawtooth" => Some(1),
        "plateau" => Some(2),
        _ => None,
    }
}

/// "+3.00 MiB" / "-512 B".
pub fn signed_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", bytes(n.unsigned_abs()))
}

/// "SIGKILL" for 9, else "signal N".
pub fn signal_name(sig: i32) -> String {
    match sig {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
