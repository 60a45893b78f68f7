//! Screen state: which screen, the tables' selection, sort and filter, the time cursor, and
//! the flags the keys toggle. Kept apart from the data ([`super::state`]) it is about.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;

use gpuleak_analysis::{Site, SiteKey};

use super::cursor::{Cursor, Moment};
use super::state::rows::{AllocRow, site_key};
use super::state::snapshot::Snapshot;
use crate::findings::Finding;

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

    pub fn next(self) -> SortKey {
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

/// What the user has chosen to see.
pub struct Ui {
    /// The device the lists and the header are narrowed to (`g`); `None`: all.
    pub device_filter: Option<i32>,
    /// Indices into `sites`, in the table's order, filtered.
    pub order: Vec<usize>,
    /// Row of the sites table (an index into `order`).
    pub selected: usize,
    /// The selected site's live bytes at each iteration's end.
    pub selected_series: Vec<u64>,
    pub alloc_order: Vec<usize>,
    pub alloc_selected: usize,
    pub alloc_sort: AllocSort,
    pub iter_selected: usize,
    /// The iterations table keeps the latest iteration selected until the user moves.
    pub(crate) iter_follow: bool,
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
    pub moment: Option<Rc<Moment>>,
    /// Indices into the moment's rows, filtered as `alloc_order` is.
    pub moment_order: Vec<usize>,
    /// The sites the filter and the device keep; `None`: all of them.
    pub(crate) wanted: Option<HashSet<SiteKey>>,
    /// The Holders pane is shown in place of the Stack pane (H).
    pub holders: bool,
    /// Why the last request for holders could not be made.
    pub holders_error: Option<String>,
    /// Frames of the stack pane scrolled past (J / K); back to 0 with a new selection.
    pub stack_scroll: usize,
    /// False when NO_COLOR is set: meaning is carried by text alone.
    pub color: bool,
    /// First row shown of each table, kept between frames so scrolling is smooth.
    pub offsets: [Cell<usize>; 3],
}

impl Ui {
    /// Whether a site is on the device the view is narrowed to (always, with no device chosen).
    pub fn on_device(&self, s: &Site) -> bool {
        self.device_filter.is_none_or(|d| s.device == Some(d))
    }

    /// Puts `order` (sites) and `alloc_order` in their sort, with the filter applied.
    pub fn refilter(&mut self, data: &Snapshot) {
        let needle = self.filter.to_lowercase();
        let matches = |s: &Site| {
            self.on_device(s)
                && (needle.is_empty()
                    || s.frames.iter().any(|f| f.to_lowercase().contains(&needle)))
        };
        let keep_site = self.order.get(self.selected).copied();
        self.order = (0..data.sites.len())
            .filter(|&i| matches(&data.sites[i]))
            .collect();
        self.selected = keep_site
            .and_then(|k| self.order.iter().position(|&i| i == k))
            .unwrap_or(0);
        self.resort(data);

        let narrowed = !needle.is_empty() || self.device_filter.is_some();
        self.wanted = narrowed.then(|| {
            self.order
                .iter()
                .map(|&i| site_key(&data.sites[i]))
                .collect()
        });
        self.alloc_order = (0..data.allocs.len())
            .filter(|&i| self.keeps(&data.allocs[i]))
            .collect();
        self.refilter_moment();
        if self.alloc_sort == AllocSort::Age {
            let allocs = &data.allocs;
            self.alloc_order.sort_by_key(|&i| allocs[i].seq);
        }
        self.alloc_selected = self
            .alloc_selected
            .min(self.alloc_order.len().saturating_sub(1));
    }

    /// Whether an allocation is at a site the filter and the device keep.
    fn keeps(&self, r: &AllocRow) -> bool {
        self.wanted.as_ref().is_none_or(|w| {
            w.contains(&SiteKey {
                stack: r.stack,
                kind: r.kind,
                device: r.device,
            })
        })
    }

    /// Filters the live set at the cursor as the list of now is: called when either changes.
    pub fn refilter_moment(&mut self) {
        let Some(m) = &self.moment else {
            self.moment_order.clear();
            return;
        };
        self.moment_order = (0..m.rows.len())
            .filter(|&i| self.keeps(&m.rows[i]))
            .collect();
        self.alloc_selected = self
            .alloc_selected
            .min(self.moment_order.len().saturating_sub(1));
    }

    /// Puts `order` in the current sort, keeping the selected site selected.
    pub fn resort(&mut self, data: &Snapshot) {
        let keep = self.order.get(self.selected).copied();
        let sites = &data.sites;
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
                    Finding::of(&sites[i]).map_or(u8::MAX, |f| f as u8),
                    std::cmp::Reverse(sites[i].bytes_per_iteration().unwrap_or(i64::MIN)),
                )
            }),
        }
        self.selected = keep
            .and_then(|k| self.order.iter().position(|&i| i == k))
            .unwrap_or(0);
    }
}
