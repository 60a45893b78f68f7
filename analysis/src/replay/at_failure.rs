//! The failing device's memory at an out-of-memory failure, split by where and when each live
//! allocation was made ([`OomAnatomy`]): the report tells from it what was loaded, kept from
//! earlier iterations, or the iteration in flight's working memory. Made only at failures, from
//! the live set; bounded in groups and in how many failures keep one.

use crate::memory::FastHasher;
use std::collections::{BTreeMap, HashMap, VecDeque};

use gpuleak_trace::{Api, LiveSet};

use crate::figures::{
    LiveAlloc, LiveGroup, OOM_ANATOMIES, OOM_GROUPS, OomAnatomy, OomEvent, RangeStats, Totals,
};
use crate::memory::{MemoryClass, SiteKey, on_gpu};

/// What the replay holds that a failure's split reads.
pub(super) struct Now<'a> {
    pub live: &'a LiveSet<LiveAlloc, FastHasher>,
    pub gpu: &'a Totals,
    pub gpu_by_device: &'a BTreeMap<i32, Totals>,
    pub pool_reserved_bytes: u64,
    pub ranges: &'a [RangeStats],
}

impl Now<'_> {
    /// The split of `device`'s live memory now (every device's when the failure did not say, as
    /// [`OomEvent::live_bytes`] counts it).
    pub(super) fn split(&self, device: i32) -> OomAnatomy {
        let mine = |d: i32| device < 0 || !self.gpu_by_device.contains_key(&device) || d == device;
        let mut groups: HashMap<(SiteKey, u64, u64, u64), LiveGroup> = HashMap::new();
        let mut stream_ordered = 0u64;
        for a in self.live.plain().values() {
            let kind = a.kind();
            if !on_gpu(MemoryClass::of_kind(kind)) || !mine(a.device) {
                continue;
            }
            if matches!(
                a.api,
                Api::CudaMallocAsync | Api::CuMemAllocAsync | Api::CuMemAllocFromPoolAsync
            ) {
                stream_ordered = stream_ordered.saturating_add(a.size);
            }
            let site = SiteKey {
                stack: a.stack,
                kind,
                device: a.device,
            };
            let g = groups
                .entry((site, a.launches, a.markers, a.openings))
                .or_insert(LiveGroup {
                    site,
                    launches: a.launches,
                    markers: a.markers,
                    seq: a.seq,
                    time_ns: a.time_ns,
                    bytes: 0,
                    allocations: 0,
                });
            if a.seq < g.seq {
                g.seq = a.seq;
                g.time_ns = a.time_ns;
            }
            g.bytes = g.bytes.saturating_add(a.size);
            g.allocations += 1;
        }
        let mut groups: Vec<LiveGroup> = groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(a.seq.cmp(&b.seq))
                .then(a.site.cmp(&b.site))
        });
        let ungrouped_bytes = groups
            .get(OOM_GROUPS..)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |t, g| t.saturating_add(g.bytes));
        groups.truncate(OOM_GROUPS);
        OomAnatomy {
            groups,
            ungrouped_bytes,
            pool_reserved_bytes: self.pool_reserved_bytes,
            stream_ordered_live_bytes: stream_ordered,
            range_openings: self
                .ranges
                .iter()
                .map(|r| (r.first_seq, r.last_seq))
                .collect(),
            freed_bytes: self.gpu.bytes_allocated.saturating_sub(self.gpu.live_bytes),
        }
    }
}

/// Keeps the split of the latest [`OOM_ANATOMIES`] failures (failure `index` the newest, `kept`
/// the failures that keep theirs, oldest first); earlier ones let theirs go.
pub(super) fn let_go_of_old(kept: &mut VecDeque<usize>, ooms: &mut [OomEvent], index: usize) {
    // Retried failures have let theirs go already: they never were the one.
    kept.retain(|&i| ooms.get(i).is_some_and(|o| o.anatomy.is_some()));
    kept.push_back(index);
    while kept.len() > OOM_ANATOMIES {
        if let Some(old) = kept.pop_front()
            && let Some(o) = ooms.get_mut(old)
        {
            o.anatomy = None;
        }
    }
}
