//! What the program holds now, kept by the hook only when the trace is capped (`--max-size`):
//! each segment starts with it, so that a reader of the kept segments alone still knows every
//! live allocation. The rules are the trace format's own ([`gpuleak_trace::LiveSet`], section
//! 5.4.2), the ones a reader's replay follows.

use std::hash::BuildHasherDefault;

use gpuleak_trace::{Event, LiveEntry, Op};

use crate::hash::FxHasher;

#[derive(Default)]
pub struct LiveSet {
    set: gpuleak_trace::LiveSet<LiveEntry, BuildHasherDefault<FxHasher>>,
}

impl LiveSet {
    pub fn apply(&mut self, e: &Event) {
        if e.result != 0 {
            return;
        }
        match e.api.op() {
            Op::Alloc => {
                let entry = LiveEntry {
                    seq: e.seq,
                    time_ns: e.time_ns,
                    api: e.api,
                    device: e.device,
                    stream: e.stream,
                    address: e.address,
                    size: e.size,
                    aux: e.aux,
                    stack: e.stack,
                };
                self.set.insert(e.api, e.address, entry);
            }
            Op::Free => {
                self.set.remove(e.api, e.address, e.size, drop);
            }
            Op::Control => {}
        }
    }

    /// Every live allocation, oldest first.
    pub fn entries(&self) -> Vec<LiveEntry> {
        let mut v: Vec<LiveEntry> = self.set.values().cloned().collect();
        v.sort_by_key(|e| e.seq);
        v
    }
}
