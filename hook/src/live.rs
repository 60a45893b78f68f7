//! What the program holds now, kept by the hook only when the trace is capped (`--max-size`):
//! each segment starts with it, so that a reader of the kept segments alone still knows every
//! live allocation. The same rules as a reader's replay (section 5.4.2 of the trace format):
//! namespaces, mappings removed by range, reservations apart.

use std::collections::BTreeMap;
use std::hash::BuildHasherDefault;

use gpuleak_trace::{Api, Event, LiveEntry, MemoryKind, Op};

use crate::hash::FxHasher;

#[derive(Default)]
pub struct LiveSet {
    plain: hashbrown::HashMap<(u8, u64), LiveEntry, BuildHasherDefault<FxHasher>>,
    mappings: BTreeMap<u64, LiveEntry>,
    reservations: BTreeMap<u64, LiveEntry>,
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
                match e.api.memory() {
                    MemoryKind::Mapping => {
                        self.mappings.insert(e.address, entry);
                    }
                    MemoryKind::AddressSpace => {
                        self.reservations.insert(e.address, entry);
                    }
                    _ => {
                        self.plain
                            .insert((e.api.namespace() as u8, e.address), entry);
                    }
                }
            }
            Op::Free if e.address != 0 => match e.api {
                Api::CuMemUnmap => {
                    let end = e.address.saturating_add(e.size.max(1));
                    let starts: Vec<u64> = self
                        .mappings
                        .range(e.address..end)
                        .map(|(s, _)| *s)
                        .collect();
                    for s in starts {
                        self.mappings.remove(&s);
                    }
                }
                Api::CuMemAddressFree => {
                    self.reservations.remove(&e.address);
                }
                _ => {
                    self.plain.remove(&(e.api.namespace() as u8, e.address));
                }
            },
            _ => {}
        }
    }

    /// Every live allocation, oldest first.
    pub fn entries(&self) -> Vec<LiveEntry> {
        let mut v: Vec<LiveEntry> = self
            .plain
            .values()
            .chain(self.mappings.values())
            .chain(self.reservations.values())
            .cloned()
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    }
}
