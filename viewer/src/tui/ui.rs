//! Screen state: which screen, the tables' selection, sort and filter, the time cursor, and
//! the flags the keys toggle. Kept apart from the data ([`super::state`]) it is about.

use std::cell::Cell;
use std::rc::Rc;

use super::cursor::{Cursor, Moment};

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
    /// False when NO_COLOR is set: meaning is carried by text alone.
    pub color: bool,
    /// First row shown of each table, kept between frames so scrolling is smooth.
    pub offsets: [Cell<usize>; 3],
}
