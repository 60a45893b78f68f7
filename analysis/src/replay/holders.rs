//! Matching a Holders record to what is live when the replay applies it: each holder's memory
//! `[address, address + size)` lies in a live device allocation (a tensor under
//! `--torch-tensors`, a ctypes or CuPy allocation, a caching allocator's segment) or in a run of
//! contiguous VMM mappings (expandable segments), whose physical memory's site is the one the
//! report counts.

use crate::memory::FastHasher;
use std::collections::HashMap;

use gpuleak_trace::{Holders, LiveSet, MemoryKind, Namespace};

use crate::figures::LiveAlloc;
use crate::holders::{HeldBlock, HeldEntry, HeldSnapshot, KeptBlock};
use crate::memory::{MemoryClass, SiteKey};

/// Matches one walk against what is live now: `live` the replay's live set, `gpu_live` the
/// device and physical bytes live, `ooms` the out-of-memory failures recorded so far.
pub(crate) fn match_walk(
    h: &Holders,
    live: &LiveSet<LiveAlloc, FastHasher>,
    gpu_live: u64,
    ooms: usize,
) -> HeldSnapshot {
    // Device allocations in address order: a holder's block is the one starting at or before
    // its address. Built per walk; walks are rare.
    let mut plain: Vec<(u64, u64, SiteKey)> = live
        .plain()
        .iter()
        .filter(|((ns, _), a)| {
            *ns == Namespace::Pointer && MemoryClass::of_kind(a.kind()) == MemoryClass::Device
        })
        .map(|((_, addr), a)| (*addr, a.size, site_of(a)))
        .collect();
    plain.sort_unstable_by_key(|(addr, _, _)| *addr);
    let entries: Vec<HeldEntry> = h
        .holders
        .iter()
        .map(|holder| HeldEntry {
            holder: holder.clone(),
            block: find_plain(&plain, holder.address)
                .or_else(|| find_mapped(live, holder.address, holder.size)),
        })
        .collect();
    let blocks = kept_blocks(&entries);
    let held = blocks
        .iter()
        .fold(0u64, |a, b| a.saturating_add(b.held_bytes));
    HeldSnapshot {
        time_ns: h.time_ns,
        reason: h.reason,
        end: h.end,
        note: h.note.clone(),
        elapsed_us: h.elapsed_us,
        visited: h.visited,
        live_bytes: gpu_live,
        unheld_bytes: gpu_live.saturating_sub(held),
        entries,
        blocks,
        ooms_before: ooms,
    }
}

fn site_of(a: &LiveAlloc) -> SiteKey {
    SiteKey {
        stack: a.stack,
        kind: a.kind(),
        device: a.device,
    }
}

/// The run of contiguous mappings that contains `[address, address + size)`: a tensor in an
/// expandable segment spans as many granularity-sized mappings as it needs.
fn find_mapped(
    live: &LiveSet<LiveAlloc, FastHasher>,
    address: u64,
    size: u64,
) -> Option<HeldBlock> {
    let mappings = live.mappings();
    let (&start, first) = mappings.range(..=address).next_back()?;
    let mut end = start.saturating_add(first.size);
    if address >= end {
        return None;
    }
    let want = address.saturating_add(size);
    while end < want {
        match mappings.get(&end) {
            Some(next) if next.size > 0 => end = end.saturating_add(next.size),
            _ => break,
        }
    }
    // The memory is the physical allocation's; the mapping's own site when that is not live.
    let site = match live.plain().get(&(Namespace::Handle, first.aux)) {
        Some(p) if p.kind() == MemoryKind::Physical => site_of(p),
        _ => site_of(first),
    };
    Some(HeldBlock {
        site,
        address: start,
        size: end - start,
    })
}

/// The allocation in `plain` (sorted by address) that contains `address`.
fn find_plain(plain: &[(u64, u64, SiteKey)], address: u64) -> Option<HeldBlock> {
    let i = plain
        .partition_point(|(a, _, _)| *a <= address)
        .checked_sub(1)?;
    let (start, size, site) = plain[i];
    (address < start.saturating_add(size.max(1))).then_some(HeldBlock {
        site,
        address: start,
        size,
    })
}

/// The blocks holders keep, each with its holders (largest first) and the part they cover;
/// largest block first.
fn kept_blocks(entries: &[HeldEntry]) -> Vec<KeptBlock> {
    let mut blocks: Vec<KeptBlock> = Vec::new();
    let mut at: HashMap<u64, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(b) = e.block else { continue };
        match at.get(&b.address) {
            Some(&k) => blocks[k].holders.push(i),
            None => {
                at.insert(b.address, blocks.len());
                blocks.push(KeptBlock {
                    block: b,
                    holders: vec![i],
                    held_bytes: 0,
                });
            }
        }
    }
    for k in &mut blocks {
        k.holders.sort_by(|&a, &b| {
            entries[b]
                .holder
                .size
                .cmp(&entries[a].holder.size)
                .then(a.cmp(&b))
        });
        // Views of one storage, or two owners of one array, cover the same bytes once.
        let mut ranges: Vec<(u64, u64)> = k
            .holders
            .iter()
            .map(|&i| {
                let h = &entries[i].holder;
                let from = h.address.max(k.block.address);
                let to = h.address.saturating_add(h.size).min(k.block.end());
                (from, to.max(from))
            })
            .collect();
        ranges.sort_unstable();
        let (mut covered, mut reach) = (0u64, 0u64);
        for (from, to) in ranges {
            let from = from.max(reach);
            if to > from {
                covered = covered.saturating_add(to - from);
                reach = to;
            }
        }
        k.held_bytes = covered;
    }
    blocks.sort_by(|a, b| {
        b.block
            .size
            .cmp(&a.block.size)
            .then(a.block.address.cmp(&b.block.address))
    });
    blocks
}
