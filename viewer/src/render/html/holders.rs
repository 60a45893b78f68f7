//! The HTML page's holders: a "Holders" section per walk shown (at exit, at an out-of-memory
//! failure, the last asked for) with the grouped holders in a table, largest first, totals by
//! role and by model, the part no owner covers and the segments holders keep; and a finding's
//! holders under its name. The words are the text report's ([`crate::render::text::holders`], [`gpuleak_analysis::HeldGroup::line`]).

use std::fmt::Write as _;

use gpuleak_analysis::holders::{partial_words, reason_words, role_words, root_words};
use gpuleak_analysis::units::{bytes, count};
use gpuleak_analysis::{Report, Site};

use crate::format::escape;
use crate::render::text::holders::{block_word, shown};

/// The section; nothing for a trace without walks.
pub fn section(s: &mut String, r: &Report, top: usize) {
    let walks = shown(r);
    if walks.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2>Holders: what keeps the memory</h2>");
    for h in walks {
        let _ = writeln!(
            s,
            "<h3>{} <span class=\"meta\">({} visited in {:.0} ms)</span></h3>",
            escape(&capitalised(reason_words(h.reason))),
            count(h.visited, "Python object", "Python objects"),
            h.elapsed_ms
        );
        if let Some(line) = partial_words(h.reason, h.end, &h.note) {
            let _ = writeln!(s, "<p class=\"oom\">{}</p>", escape(&line));
        }
        if !h.groups.is_empty() {
            let _ = writeln!(
                s,
                "<table><tr><th>holder</th><th class=\"num\">count</th>\
                 <th class=\"num\">bytes</th><th>role</th><th>root</th><th>owner</th></tr>"
            );
            for g in h.groups.iter().take(top.max(1)) {
                let model = if g.model.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", g.model)
                };
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&g.path),
                    g.count,
                    bytes(g.bytes),
                    escape(&format!("{}{model}", role_words(g.role))),
                    escape(&root_words(g.root, &g.root_where)),
                    escape(&g.owner)
                );
            }
            let _ = writeln!(s, "</table>");
            if h.groups.len() > top.max(1) {
                let _ = writeln!(
                    s,
                    "<p class=\"meta\">… {} more (--top N lists more).</p>",
                    count((h.groups.len() - top.max(1)) as u64, "holder", "holders")
                );
            }
        }
        let roles: Vec<String> = h
            .by_role
            .iter()
            .map(|t| format!("{} {} ({})", role_words(t.role), bytes(t.bytes), t.count))
            .collect();
        if !roles.is_empty() {
            let _ = writeln!(s, "<p>By role: {}.</p>", escape(&roles.join(", ")));
        }
        let models: Vec<String> = h
            .by_model
            .iter()
            .map(|m| format!("{} {}", m.model, bytes(m.bytes)))
            .collect();
        if !models.is_empty() {
            let _ = writeln!(s, "<p>By model: {}.</p>", escape(&models.join(", ")));
        }
        let _ = writeln!(
            s,
            "<p>Not reachable from Python: {} of {} live (allocator caches, library \
             workspaces, native memory).</p>",
            bytes(h.unheld_bytes),
            bytes(h.live_bytes)
        );
        for b in h.blocks.iter().filter(|b| b.held_bytes < b.bytes).take(3) {
            let by: Vec<String> = b
                .holders
                .iter()
                .take(3)
                .map(|p| format!("<code>{}</code>", escape(p)))
                .collect();
            let _ = writeln!(
                s,
                "<p class=\"meta\">A {} {}{} kept by {}, {} of it.</p>",
                bytes(b.bytes),
                block_word(r),
                b.site.as_deref().map_or(String::new(), |l| format!(
                    " from <code>{}</code>",
                    escape(l)
                )),
                by.join(", "),
                bytes(b.held_bytes)
            );
        }
    }
}

/// A finding's holders, under its name.
pub fn under_finding(s: &mut String, site: &Site) {
    for g in site.holders.iter().take(3) {
        let _ = writeln!(s, "<div class=\"meta\">held by {}</div>", escape(&g.line()));
    }
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
