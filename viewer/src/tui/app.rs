//! The terminal UI's model: the run followed and its last analysis ([`State`], [`Snapshot`])
//! with the screen state ([`Ui`]), and how time changes them. [`App::tick`] reads every trace on
//! (so each keeps being read whatever is displayed) and, at most every [`ANALYSIS_EVERY`], redoes
//! the analysis of the process shown. Keys are applied in [`super::input`], the text shown is
//! made in [`super::text`], and nothing here draws.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use gpuleak_analysis::{ReportOptions, Site, SiteKey};

use super::cursor::Cursor;
use super::follow::{Follower, IDLE, POLL_BUDGET, Source};
use super::state::holders::{ask, pane};
use super::state::rows::{AllocRow, iteration_of_seq, site_ends, site_key};
use super::state::run::{Discover, Exit, Proc, RunInfo, signal_name};
use super::state::snapshot::{Snapshot, Summary};
use super::state::stack::stack_lines;
use super::state::{ANALYSIS_EVERY, ANALYSIS_WHILE_READING, DISCOVER_EVERY, READ_PER_TICK, State};
use super::ui::{AllocSort, Screen, SortKey, Ui};

/// Stops of the time cursor over a trace without known iteration starts.
const TIME_STOPS: u64 = 50;

/// The terminal UI's whole model: what is followed, what its analysis says, what is on screen.
pub struct App {
    pub state: State,
    pub data: Snapshot,
    pub ui: Ui,
}

impl App {
    fn with_procs(procs: Vec<Proc>, options: ReportOptions) -> App {
        App {
            state: State {
                procs,
                current: 0,
                options,
                discover: None,
                last_discover: None,
                run: None,
                analysed: None,
                last_analysis: None,
                now: Instant::now(),
            },
            data: Snapshot {
                summary: Summary::default(),
                series: Vec::new(),
                loaded: 0,
                bands: Vec::new(),
                timeline: Vec::new(),
                ticks: Vec::new(),
                ooms: Vec::new(),
                sites: Vec::new(),
                devices: Vec::new(),
                sites_complete: false,
                site_index: HashMap::new(),
                findings: Vec::new(),
                diagnosis: Vec::new(),
                oom: None,
                unit: String::new(),
                allocs: Vec::new(),
                iterations: Vec::new(),
                bounds: Vec::new(),
                bounds_partial: false,
                boundary: None,
                range_index: None,
                source: None,
                windows_cut_steps: false,
                auto: None,
                start_ns: 0,
            },
            ui: Ui {
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
                moment_order: Vec::new(),
                wanted: None,
                stack_scroll: 0,
                holders: false,
                holders_error: None,
                color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
                offsets: Default::default(),
                device_filter: None,
                order: Vec::new(),
                selected: 0,
                selected_series: Vec::new(),
                alloc_order: Vec::new(),
                alloc_selected: 0,
                alloc_sort: AllocSort::Size,
                iter_selected: 0,
                iter_follow: true,
            },
        }
    }

    /// Follows the trace files `paths` (which need not exist yet).
    pub fn follow(paths: &[PathBuf], options: ReportOptions) -> App {
        let procs = paths.iter().map(|p| Proc::new(Follower::new(p))).collect();
        App::with_procs(procs, options)
    }

    /// A trace held in memory, read whole and analysed: for tests and benchmarks.
    pub fn from_bytes(bytes: Vec<u8>, options: ReportOptions) -> App {
        App::from_follower(Follower::from_bytes(bytes), options)
    }

    /// A follower of a trace held in memory, read whole and analysed: for tests.
    pub fn from_follower(mut follower: Follower, options: ReportOptions) -> App {
        follower.poll_all();
        let mut app = App::with_procs(vec![Proc::new(follower)], options);
        app.analyse();
        app
    }

    /// Traces of processes that appear later are found with `discover`.
    pub fn with_discovery(mut self, discover: Discover) -> App {
        self.state.discover = Some(discover);
        self
    }

    pub fn with_run(mut self, run: RunInfo) -> App {
        self.state.run = Some(run);
        self
    }

    /// What the clock says; tests set it to get fixed elapsed times.
    pub fn set_now(&mut self, now: Instant) {
        self.state.now = now;
    }

    /// One turn of the loop: new traces found, every trace read on, and the shown process
    /// analysed again if its trace moved and the last analysis is old enough.
    pub fn tick(&mut self, now: Instant) {
        self.state.now = now;
        if let Some(discover) = self.state.discover.as_mut()
            && self
                .state
                .last_discover
                .is_none_or(|t| now.saturating_duration_since(t) >= DISCOVER_EVERY)
        {
            self.state.last_discover = Some(now);
            for path in discover() {
                let known = self
                    .state
                    .procs
                    .iter()
                    .any(|p| matches!(&p.follower.source, Source::File(f) if *f == path));
                if !known {
                    self.state.procs.push(Proc::new(Follower::new(&path)));
                }
            }
        }
        // Reading has a time budget per tick (a large saved trace takes a few ticks) so keys
        // and redraws never wait long; a growing trace gains far less than that per tick.
        let until = Instant::now() + READ_PER_TICK;
        for p in &mut self.state.procs {
            while p.follower.poll(POLL_BUDGET, now) && Instant::now() < until {}
        }
        // An empty main trace (the program has not touched CUDA) gives way to one with data.
        if self.generation() == 0
            && let Some(i) = self
                .state
                .procs
                .iter()
                .position(|p| p.follower.generation > 0)
        {
            self.state.current = i;
        }
        // While a large trace is still being read in, each analysis would be of a part soon
        // outdated: fewer of them leave the time to reading.
        let every = if self.behind() {
            ANALYSIS_WHILE_READING
        } else {
            ANALYSIS_EVERY
        };
        let due = self
            .state
            .last_analysis
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        let moved = self.state.analysed != Some((self.state.current, self.generation()));
        if !self.ui.paused && due && moved {
            self.state.last_analysis = Some(now);
            self.analyse();
        }
        // Figures that change without new records (elapsed time, exit status) stay current.
        if !self.ui.paused {
            self.update_status();
        }
    }

    /// Some trace has more to read right now than the last tick had time for.
    pub fn behind(&self) -> bool {
        self.state.procs.iter().any(|p| {
            !p.follower.caught_up && p.follower.error.is_none() && p.follower.generation > 0
        })
    }

    pub(crate) fn generation(&self) -> u64 {
        self.state
            .procs
            .get(self.state.current)
            .map_or(0, |p| p.follower.generation)
    }

    /// Redoes the analysis of the process shown: report, verdicts, series and tables.
    pub fn analyse(&mut self) {
        let generation = self.generation();
        let Some(proc) = self.state.procs.get_mut(self.state.current) else {
            return;
        };
        let keep = self
            .ui
            .order
            .get(self.ui.selected)
            .map(|&i| self.data.sites[i].stack_id);
        let data = Snapshot::build(
            proc,
            &self.state.options,
            self.state.run.as_ref(),
            self.ui.device_filter,
            self.state.now,
        );
        if let Some(d) = self.ui.device_filter
            && !data.devices.iter().any(|f| f.ordinal == d)
        {
            self.ui.device_filter = None;
        }
        self.data = data;
        if self.ui.iter_follow {
            self.ui.iter_selected = self.data.iterations.len().saturating_sub(1);
        }
        self.state.analysed = Some((self.state.current, generation));
        self.refilter();
        if let Some(k) = keep
            && let Some(pos) = self
                .ui
                .order
                .iter()
                .position(|&i| self.data.sites[i].stack_id == k)
        {
            self.ui.selected = pos;
        }
        self.update_selected_series();
        self.update_status();
    }

    /// The header's status: the program's state under `gpuleak run`, else the trace's.
    pub(crate) fn update_status(&mut self) {
        let now = self.state.now;
        let Some(proc) = self.state.procs.get(self.state.current) else {
            return;
        };
        let f = &proc.follower;
        let own = self
            .state
            .run
            .as_ref()
            .filter(|r| self.data.summary.pid.is_none_or(|p| p == r.pid));
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
        self.data.summary.alarming = alarming || self.data.summary.oom;
        self.data.summary.status = if self.data.summary.oom {
            format!("{status}, OOM")
        } else {
            status
        };
    }

    /// The program of `gpuleak run` is still running.
    pub fn program_running(&self) -> bool {
        self.state.run.as_ref().is_some_and(|r| r.exit().is_none())
    }

    /// Lines of the stack pane of the screen shown: the selected site's, or the selected
    /// allocation's site's; or of the Holders pane in its place.
    pub fn stack_len(&self) -> usize {
        if self.ui.holders
            && self.ui.screen == Screen::Sites
            && let Some(proc) = self.state.procs.get(self.state.current)
        {
            return pane(proc, self.selected_site(), self.state.now).line_count();
        }
        let site = match self.ui.screen {
            Screen::Allocations => self
                .alloc_row(self.ui.alloc_selected)
                .and_then(|r| self.site_of(r)),
            _ => self.selected_site(),
        };
        site.map_or(0, |s| stack_lines(s).len())
    }

    /// Shows the Holders pane, or hides it. Shown, it asks a running process for a walk.
    pub(crate) fn toggle_holders(&mut self) {
        self.ui.holders = !self.ui.holders;
        if !self.ui.holders {
            return;
        }
        self.ui.screen = Screen::Sites;
        let now = self.state.now;
        if let Some(proc) = self.state.procs.get_mut(self.state.current) {
            self.ui.holders_error = ask(proc, now).err();
        }
    }

    pub(crate) fn move_by(&mut self, delta: isize) {
        // Another row's stack is read from its innermost frame.
        self.ui.stack_scroll = 0;
        let step = |at: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            (at as isize + delta).clamp(0, len as isize - 1) as usize
        };
        match self.ui.screen {
            Screen::Overview | Screen::Sites => {
                self.ui.selected = step(self.ui.selected, self.ui.order.len());
                self.update_selected_series();
            }
            Screen::Allocations => {
                self.ui.alloc_selected = step(self.ui.alloc_selected, self.alloc_count());
            }
            Screen::Iterations => {
                self.ui.iter_selected = step(self.ui.iter_selected, self.data.iterations.len());
                self.ui.iter_follow = self.ui.iter_selected + 1 >= self.data.iterations.len();
            }
        }
    }

    /// The time cursor works on a finished trace: one still growing has no fixed moments.
    pub fn cursor_available(&self) -> bool {
        self.state
            .procs
            .get(self.state.current)
            .is_some_and(|p| p.follower.complete() && !self.program_running())
    }

    pub(crate) fn move_cursor(&mut self, delta: isize) {
        if !self.cursor_available() {
            return;
        }
        let Some(proc) = self.state.procs.get(self.state.current) else {
            return;
        };
        let (bounds, boundary) = (&self.data.bounds, &self.data.boundary);
        let partial = self.data.bounds_partial;
        let cursor = self.ui.cursor.get_or_insert_with(|| {
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
        self.ui.moment = cursor.moment();
        self.ui.alloc_selected = 0;
        self.ui.refilter_moment();
    }

    /// Puts the sites and the allocations in their sort, with the filter applied.
    pub(crate) fn refilter(&mut self) {
        self.ui.refilter(&self.data);
        self.update_selected_series();
    }

    /// Puts the sites in the current sort, keeping the selected site selected.
    pub(crate) fn resort(&mut self) {
        self.ui.resort(&self.data);
        self.update_selected_series();
    }

    pub(crate) fn update_selected_series(&mut self) {
        let Some(site) = self
            .ui
            .order
            .get(self.ui.selected)
            .map(|&i| &self.data.sites[i])
        else {
            self.ui.selected_series.clear();
            return;
        };
        let key = site_key(site);
        let Some(proc) = self.state.procs.get(self.state.current) else {
            return;
        };
        let replay = &proc.follower.replay;
        let live_now = replay.sites().get(&key).map_or(0, |s| s.live_bytes);
        self.ui.selected_series = site_ends(
            replay,
            self.data.source,
            self.data.range_index,
            self.data.auto.as_ref(),
            &key,
            live_now,
        );
    }

    /// The sites table's rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &Site> {
        self.ui.order.iter().map(|&i| &self.data.sites[i])
    }

    pub fn selected_site(&self) -> Option<&Site> {
        self.ui
            .order
            .get(self.ui.selected)
            .map(|&i| &self.data.sites[i])
    }

    /// The site an allocation was made at.
    pub fn site_of(&self, row: &AllocRow) -> Option<&Site> {
        let key = SiteKey {
            stack: row.stack,
            kind: row.kind,
            device: row.device,
        };
        self.data.site_index.get(&key).map(|&i| &self.data.sites[i])
    }

    /// The allocation rows the table shows: the cursor's moment, or now, filtered.
    pub fn alloc_count(&self) -> usize {
        match &self.ui.moment {
            Some(_) => self.ui.moment_order.len(),
            None => self.ui.alloc_order.len(),
        }
    }

    pub fn alloc_row(&self, i: usize) -> Option<&AllocRow> {
        match &self.ui.moment {
            Some(m) => self.ui.moment_order.get(i).and_then(|&j| m.rows.get(j)),
            None => self.ui.alloc_order.get(i).map(|&j| &self.data.allocs[j]),
        }
    }

    /// An allocation's age in iterations: those begun since it was made. Unknown for time
    /// windows, and for an allocation made after the last iteration start whose figures were
    /// kept when more have started since.
    pub fn age(&self, row: &AllocRow) -> Option<u64> {
        if self.data.bounds.is_empty() {
            return None;
        }
        let of = iteration_of_seq(&self.data.bounds, row.seq);
        if self.data.bounds_partial && of == Some(self.data.bounds.len() as u64 - 1) {
            return None;
        }
        let born = of.map_or(0, |i| i + 1);
        let now = match &self.ui.cursor {
            Some(c) if c.by_iteration() => c.index as u64 + 1,
            _ if self.data.bounds_partial => self.data.summary.iterations,
            _ => self.data.bounds.len() as u64,
        };
        Some(now.saturating_sub(born))
    }

    /// Leaks, then sawtooths, then plateaus; fastest growth first within each.
    pub fn findings(&self) -> Vec<&Site> {
        self.data
            .findings
            .iter()
            .map(|&i| &self.data.sites[i])
            .collect()
    }
}
