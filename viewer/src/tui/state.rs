//! What the screens show, and how actions change it. Nothing here draws.

use gpuleak_analysis::units::bytes;
use gpuleak_analysis::{Replay, Report, ReportOptions, Site, Symbolizer};

use super::input::Action;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Sites,
}

impl Screen {
    pub const ALL: [Screen; 2] = [Screen::Overview, Screen::Sites];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Sites => "Sites",
        }
    }
}

/// The order of the sites table; `s` goes to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Memory live at the end, largest first (the report's order).
    Live,
    /// Growth per iteration, fastest first; sites without a verdict last.
    BytesPerIteration,
    /// Allocations made, most first.
    Allocations,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Live => "live",
            SortKey::BytesPerIteration => "bytes/iter",
            SortKey::Allocations => "allocations",
        }
    }

    fn next(self) -> SortKey {
        match self {
            SortKey::Live => SortKey::BytesPerIteration,
            SortKey::BytesPerIteration => SortKey::Allocations,
            SortKey::Allocations => SortKey::Live,
        }
    }
}

/// The header line's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub command: String,
    pub pid: Option<u32>,
    /// "complete", "killed" (the trace ends early) or "no clean exit".
    pub status: &'static str,
    pub live: u64,
    pub peak: u64,
    pub reserved: u64,
    pub pinned: u64,
    /// "marker", "nvtx \"step\"", "auto", "time"; empty without events.
    pub iteration_source: String,
    pub iterations: u64,
    /// "iter" or, when time windows stand in for iterations, "window".
    pub per: &'static str,
}

pub struct App {
    pub summary: Summary,
    /// Device memory live at the end of each iteration.
    pub series: Vec<u64>,
    /// As the report ranks them (live memory first).
    pub sites: Vec<Site>,
    /// Indices into `sites`, in the table's order.
    pub order: Vec<usize>,
    /// Row of the sites table (an index into `order`).
    pub selected: usize,
    pub screen: Screen,
    pub sort: SortKey,
    pub help: bool,
    pub quit: bool,
    /// False when NO_COLOR is set: meaning is carried by text alone.
    pub color: bool,
}

impl App {
    /// Replays nothing: builds the report of an already replayed trace, and the series.
    pub fn load(replay: &Replay, options: &ReportOptions) -> App {
        let report = Report::build_with(replay, &mut Symbolizer::new(), options);
        let series = gpuleak_analysis::report::device_live_per_iteration(replay, options);
        App::new(&report, series)
    }

    pub fn new(report: &Report, series: Vec<u64>) -> App {
        let (command, pid) = match &report.process {
            Some(p) if !p.argv.is_empty() => (p.argv.join(" "), Some(p.pid)),
            Some(p) => (p.exe.clone(), Some(p.pid)),
            None => ("(no header)".to_string(), None),
        };
        let status = if report.complete {
            "complete"
        } else if report.truncated_at.is_some() {
            "killed"
        } else {
            "no clean exit"
        };
        let it = &report.iterations;
        let iteration_source = match (it.source.as_deref(), &it.range) {
            (Some("nvtx"), Some(r)) => format!("nvtx {r:?}"),
            (Some(s), _) => s.to_string(),
            (None, _) => String::new(),
        };
        let per = if it.source.as_deref() == Some("time") {
            "window"
        } else {
            "iter"
        };
        let m = &report.memory;
        let mut app = App {
            summary: Summary {
                command,
                pid,
                status,
                live: m.device_live_bytes_at_end,
                peak: m.device_peak_live_bytes,
                reserved: report.pools.reserved_bytes_at_end,
                pinned: m.pinned_host_live_bytes_at_end,
                iteration_source,
                iterations: it.count,
                per,
            },
            series,
            sites: report.sites.clone(),
            order: (0..report.sites.len()).collect(),
            selected: 0,
            screen: Screen::Overview,
            sort: SortKey::Live,
            help: false,
            quit: false,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        app.resort();
        app
    }

    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = !self.help,
            Action::CloseHelp => self.help = false,
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
            Action::Down => {
                if self.selected + 1 < self.order.len() {
                    self.selected += 1;
                }
            }
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Sort => {
                self.sort = self.sort.next();
                self.resort();
            }
        }
    }

    /// Puts `order` in the current sort, keeping the selected site selected.
    fn resort(&mut self) {
        let keep = self.order.get(self.selected).copied();
        let sites = &self.sites;
        // A stable sort on the report's order: ties keep it.
        self.order.sort_by_key(|&i| i);
        match self.sort {
            SortKey::Live => {}
            SortKey::BytesPerIteration => self.order.sort_by_key(|&i| {
                std::cmp::Reverse(sites[i].bytes_per_iteration.unwrap_or(i64::MIN))
            }),
            SortKey::Allocations => self
                .order
                .sort_by_key(|&i| std::cmp::Reverse(sites[i].allocations)),
        }
        self.selected = keep
            .and_then(|k| self.order.iter().position(|&i| i == k))
            .unwrap_or(0);
    }

    /// The sites table's rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &Site> {
        self.order.iter().map(|&i| &self.sites[i])
    }

    pub fn selected_site(&self) -> Option<&Site> {
        self.order.get(self.selected).map(|&i| &self.sites[i])
    }

    /// Leaks, then sawtooths, then plateaus; fastest growth first within each.
    pub fn findings(&self) -> Vec<&Site> {
        let mut found: Vec<&Site> = self
            .sites
            .iter()
            .filter(|s| rank(s.verdict.as_deref()).is_some())
            .collect();
        found.sort_by_key(|s| {
            (
                rank(s.verdict.as_deref()),
                std::cmp::Reverse(s.bytes_per_iteration),
            )
        });
        found
    }

    /// One finding as a line of text: verdict, site, growth, live memory, when full.
    pub fn finding_text(&self, site: &Site) -> String {
        let verdict = site.verdict.as_deref().unwrap_or("").to_uppercase();
        let mut line = format!(
            "{verdict:<9} {}  {}/{}  live {}",
            site_label(&site.frames),
            signed_bytes(site.bytes_per_iteration.unwrap_or(0)),
            self.summary.per,
            bytes(site.live_bytes_at_end)
        );
        if let Some(n) = site.full_at_iteration {
            line.push_str(&format!("  full at {} ~{n}", self.summary.per));
        }
        line
    }
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

/// The innermost frame and its caller: "denoise_step <- main".
pub fn site_label(frames: &[String]) -> String {
    match frames {
        [] => "(no stack)".to_string(),
        [only] => only.clone(),
        [inner, caller, ..] => format!("{inner} <- {caller}"),
    }
}
