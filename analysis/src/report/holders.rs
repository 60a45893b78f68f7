//! The report's holders from the replay's matched walks: each walk as `holders[]`, and each
//! site's grouped holders from the last walk that found any.

use std::collections::HashMap;

use crate::holders::HeldSnapshot;
use crate::memory::SiteKey;
use crate::model::{HolderEntry, Holding, KeptSegment, ModelBytes, Site};
use crate::replay::Replay;

/// A site's key back from the report's fields.
fn key_of(s: &Site) -> SiteKey {
    SiteKey {
        stack: s.stack_id,
        kind: s.memory,
        device: s.device.unwrap_or(gpuleak_trace::NO_DEVICE),
    }
}

/// Fills `sites[].holders` from the last walk that found holders.
pub(crate) fn name_site_holders(replay: &Replay, sites: &mut [Site]) {
    let Some(last) = replay.last_held_snapshot() else {
        return;
    };
    for site in sites {
        site.holders = last.groups_of(&key_of(site));
    }
}

/// Every walk, in trace order, with holders' sites named by the report's labels.
pub(crate) fn holdings(replay: &Replay, sites: &[Site], start_ns: u64) -> Vec<Holding> {
    let labels: HashMap<SiteKey, &str> = sites
        .iter()
        .map(|s| (key_of(s), s.label.as_str()))
        .collect();
    let label = |k: &SiteKey| labels.get(k).map(|l| l.to_string());
    replay
        .held_snapshots()
        .iter()
        .map(|s| holding(s, &label, start_ns))
        .collect()
}

fn holding(
    s: &HeldSnapshot,
    label: &impl Fn(&SiteKey) -> Option<String>,
    start_ns: u64,
) -> Holding {
    let after_oom = s.reason == gpuleak_trace::HoldersReason::OutOfMemory;
    Holding {
        reason: s.reason,
        end: s.end,
        note: s.note.clone(),
        time_s: s.time_ns.saturating_sub(start_ns) as f64 / 1e9,
        elapsed_ms: s.elapsed_us as f64 / 1e3,
        visited: s.visited,
        entries: s
            .entries
            .iter()
            .map(|e| {
                let h = &e.holder;
                HolderEntry {
                    path: h.path.clone(),
                    root: h.root,
                    root_where: h.root_where.clone(),
                    role: h.role,
                    model: h.model.clone(),
                    owner: h.owner.clone(),
                    address: h.address,
                    bytes: h.size,
                    device: h.device,
                    site: e.block.and_then(|b| label(&b.site)),
                    block_bytes: e.block.map(|b| b.size),
                }
            })
            .collect(),
        by_role: s.by_role(),
        by_model: s
            .by_model()
            .into_iter()
            .map(|(model, bytes)| ModelBytes { model, bytes })
            .collect(),
        unheld_bytes: s.unheld_bytes,
        live_bytes: s.live_bytes,
        groups: s.groups(),
        blocks: s
            .blocks
            .iter()
            .map(|k| KeptSegment {
                address: k.block.address,
                bytes: k.block.size,
                site: label(&k.block.site),
                held_bytes: k.held_bytes,
                holders: k
                    .holders
                    .iter()
                    .map(|&i| s.entries[i].holder.path.clone())
                    .collect(),
            })
            .collect(),
        oom: (after_oom && s.ooms_before > 0).then(|| s.ooms_before - 1),
    }
}
