//! The time cursor over a saved trace: the live set at a chosen moment.
//!
//! The moment's live set is what a replay of the records up to it holds. A second replay, apart
//! from the one the screens show, is driven forward from its own reader: moving the cursor
//! forward applies only the records in between; moving it back starts over from the top (the
//! replay cannot be undone), and every moment computed is kept, so going back and forth between
//! moments already seen costs nothing.

use std::collections::HashMap;
use std::rc::Rc;

use gpuleak_analysis::Replay;
use gpuleak_trace::{RangeOp, Record};

use super::follow::{Source, TraceReader, record_time};
use super::state::rows::{AllocRow, Boundary, alloc_rows};

/// Moments kept at most; beyond that the cache starts over (each holds a sorted live set).
const CACHE: usize = 64;

/// The live set at one moment.
#[derive(Debug)]
pub struct Moment {
    pub live_bytes: u64,
    pub live_allocations: u64,
    /// Largest first.
    pub rows: Vec<AllocRow>,
}

pub struct Cursor {
    source: Source,
    /// The moments the cursor stops at, in trace time: where each iteration ends, or evenly
    /// spaced times when the trace has no iterations whose starts are known.
    pub stops: Vec<u64>,
    /// What starts an iteration when `stops` are iteration ends (else they are time steps).
    pub boundary: Option<Boundary>,
    pub index: usize,
    reader: Option<TraceReader>,
    replay: Replay,
    /// A record read past the moment applied so far, held for the next move forward.
    pending: Option<Record>,
    /// The stop the replay has been driven to.
    applied_to: Option<usize>,
    /// Boundaries applied so far.
    seen: u64,
    /// Launches applied so far.
    launches: u64,
    cache: HashMap<usize, Rc<Moment>>,
    pub error: Option<String>,
}

impl Cursor {
    pub fn new(
        source: Source,
        stops: Vec<u64>,
        boundary: Option<Boundary>,
        index: usize,
    ) -> Cursor {
        Cursor {
            source,
            stops,
            boundary,
            index,
            reader: None,
            replay: Replay::new(),
            pending: None,
            applied_to: None,
            seen: 0,
            launches: 0,
            cache: HashMap::new(),
            error: None,
        }
    }

    /// Whether the stops are iteration ends (else time steps).
    pub fn by_iteration(&self) -> bool {
        self.boundary.is_some()
    }

    pub fn time_ns(&self) -> u64 {
        self.stops.get(self.index).copied().unwrap_or(0)
    }

    /// The live set at the cursor, computed if not cached.
    pub fn moment(&mut self) -> Option<Rc<Moment>> {
        if let Some(m) = self.cache.get(&self.index) {
            return Some(m.clone());
        }
        if self.applied_to.is_some_and(|a| a > self.index) || self.reader.is_none() {
            match self.source.open() {
                Ok(r) => {
                    self.reader = Some(r);
                    self.replay = Replay::new();
                    self.pending = None;
                    self.applied_to = None;
                    self.seen = 0;
                    self.launches = 0;
                }
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
        self.advance();
        let d = self.replay.gpu();
        let moment = Rc::new(Moment {
            live_bytes: d.live_bytes,
            live_allocations: d.live_allocations,
            rows: alloc_rows(&self.replay),
        });
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        self.cache.insert(self.index, moment.clone());
        Some(moment)
    }

    /// Applies every record up to the cursor's moment. By iteration, that is up to (not
    /// including) the record that starts the iteration after the cursor's (a marker, launch or
    /// range opening), counted rather than timed, so that boundaries and events on different
    /// threads cannot be misordered; by time, up to the first record later than the stop.
    /// Records without a time (stacks, modules) go with the timed ones around them.
    fn advance(&mut self) {
        // Taken out while records are read, which needs the rest of `self`.
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        let t = self.stops.get(self.index).copied().unwrap_or(0);
        if let Err(e) = reader.reread_unwritten() {
            self.error = Some(e.to_string());
        }
        loop {
            let record = match self.pending.take() {
                Some(r) => r,
                None => match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        self.error = Some(e.to_string());
                        break;
                    }
                },
            };
            let starts = self.starts_iteration(&record);
            let after = if self.boundary.is_some() {
                starts && self.seen > self.index as u64
            } else {
                record_time(&record).is_some_and(|rt| rt > t)
            };
            if after {
                self.pending = Some(record);
                break;
            }
            if starts {
                self.seen += 1;
            }
            if matches!(record, Record::Launch(_)) {
                self.launches += 1;
            }
            self.replay.apply(record);
        }
        self.reader = Some(reader);
        self.applied_to = Some(self.index);
    }
}

impl Cursor {
    /// `record`, coming after the records applied so far, starts an iteration.
    fn starts_iteration(&self, record: &Record) -> bool {
        match (&self.boundary, record) {
            (Some(Boundary::Marker), Record::Marker(_)) => true,
            (Some(Boundary::Launch(at)), Record::Launch(_)) => {
                at.binary_search(&self.launches).is_ok()
            }
            (Some(Boundary::Range { domain, name }), Record::Range(r)) => {
                matches!(r.op, RangeOp::Push | RangeOp::Start)
                    && r.name.as_ref() == Some(name)
                    && r.domain == *domain
            }
            _ => false,
        }
    }
}
