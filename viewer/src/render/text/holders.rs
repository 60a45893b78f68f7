//! The text report's holders: what keeps device memory alive at exit, at an out-of-memory
//! failure or when asked (grouped holders, largest first, with role, root and bytes; totals by
//! role and by model; the part no owner covers; the segments holders keep), and the holders of a
//! finding's memory right under its name.

use std::fmt::Write as _;

use gpuleak_analysis::holders::{partial_words, role_words, walk_heading};
use gpuleak_analysis::model::{Holding, Level};
use gpuleak_analysis::units::{bytes, count};
use gpuleak_analysis::{Report, Site};
use gpuleak_trace::HoldersReason;

/// Holders named under a finding; the rest are counted.
const UNDER_FINDING: usize = 3;

/// What a block holders keep is, by what one recorded allocation stands for: a caching
/// allocator's "segment" (why it cannot be given back), else a "block".
pub fn block_word(r: &Report) -> &'static str {
    match r.visibility.level {
        Level::Segments => "segment",
        Level::Tensors | Level::Allocations => "block",
    }
}

/// The walks a report shows: each at exit and at an out-of-memory failure, and the last one
/// asked for (on-demand walks of a long run are many; the last says what is held now).
pub fn shown(r: &Report) -> Vec<&Holding> {
    let last_asked = r
        .holders
        .iter()
        .rposition(|h| h.reason == HoldersReason::OnDemand);
    r.holders
        .iter()
        .enumerate()
        .filter(|(i, h)| h.reason != HoldersReason::OnDemand || Some(*i) == last_asked)
        .map(|(_, h)| h)
        .collect()
}

/// The "Holders" section; nothing for a trace without walks.
pub fn section(s: &mut String, r: &Report, top: usize) {
    for h in shown(r) {
        let _ = writeln!(s);
        let _ = writeln!(s, "{}:", walk_heading(h.reason, h.visited, h.elapsed_ms));
        if let Some(line) = partial_words(h.reason, h.end, &h.note) {
            let _ = writeln!(s, "  {line}");
        }
        for g in h.groups.iter().take(top.max(1)) {
            let _ = writeln!(s, "  {}", g.line());
        }
        if h.groups.len() > top.max(1) {
            let _ = writeln!(
                s,
                "  ... {} more (--top N shows more)",
                count((h.groups.len() - top.max(1)) as u64, "holder", "holders")
            );
        }
        if !h.by_role.is_empty() {
            let roles: Vec<String> = h
                .by_role
                .iter()
                .map(|t| format!("{} {} ({})", role_words(t.role), bytes(t.bytes), t.count))
                .collect();
            let _ = writeln!(s, "  by role: {}", roles.join(", "));
        }
        if !h.by_model.is_empty() {
            let models: Vec<String> = h
                .by_model
                .iter()
                .map(|m| format!("{} {}", m.model, bytes(m.bytes)))
                .collect();
            let _ = writeln!(s, "  by model: {}", models.join(", "));
        }
        let _ = writeln!(
            s,
            "  not reachable from Python: {} of {} live (allocator caches, library workspaces, \
             native memory)",
            bytes(h.unheld_bytes),
            bytes(h.live_bytes)
        );
        // A block kept by less than it holds is why a cache cannot give it back.
        for b in h.blocks.iter().filter(|b| b.held_bytes < b.bytes).take(3) {
            let by: Vec<String> = b.holders.iter().take(3).map(|p| format!("`{p}`")).collect();
            let more = b.holders.len().saturating_sub(3);
            let _ = writeln!(
                s,
                "  a {} {}{} kept by {}{}, {} of it",
                bytes(b.bytes),
                block_word(r),
                b.site
                    .as_deref()
                    .map_or(String::new(), |l| format!(" from {l}")),
                by.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                bytes(b.held_bytes)
            );
        }
    }
}

/// A finding's holders, right under its line.
pub fn under_finding(s: &mut String, site: &Site) {
    for g in site.holders.iter().take(UNDER_FINDING) {
        let _ = writeln!(s, "      held by {}", g.line());
    }
    if site.holders.len() > UNDER_FINDING {
        let _ = writeln!(
            s,
            "      ... {} more",
            count(
                (site.holders.len() - UNDER_FINDING) as u64,
                "holder",
                "holders"
            )
        );
    }
}
