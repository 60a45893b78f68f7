//! The text report's out-of-memory section, after the diagnosis: the request that failed, what
//! filled the device part by part against its total, the cause, and the advice with what it
//! saves and its evidence. Nothing when the report explains no failure.

use std::fmt::Write as _;

use gpuleak_analysis::Report;
use gpuleak_analysis::units::wrap;

use crate::oom::{advice_action, cause_line, part_rows, request_line, sum_line};

/// Width the section's sentences are wrapped at, as the diagnosis is.
const WIDTH: usize = 96;

pub fn section(s: &mut String, r: &Report) {
    let Some(o) = &r.oom else {
        return;
    };
    let per = r.iterations.unit();
    let _ = writeln!(s);
    let _ = writeln!(s, "Out of memory: what filled the device");
    lines(s, "  ", "    ", &request_line(o));
    let rows = part_rows(o, per);
    if !rows.is_empty() {
        let width = rows.iter().map(|p| p.bytes.len()).max().unwrap_or(0);
        let share = rows.iter().map(|p| p.share.len()).max().unwrap_or(0);
        for p in &rows {
            let lead = format!("    {:>width$}  {:>share$}  ", p.bytes, p.share);
            let more = " ".repeat(lead.chars().count() + 2);
            lines(s, &lead, &more, &p.what);
        }
        lines(s, "    ", "      ", &sum_line(o));
    }
    lines(s, "  ", "    ", &format!("Cause: {}", cause_line(o)));
    if o.advice.is_empty() {
        return;
    }
    let _ = writeln!(s, "  Advice, most saved first:");
    for (i, a) in o.advice.iter().enumerate() {
        lines(s, &format!("    {}. ", i + 1), "       ", &advice_action(a));
        if !a.evidence.is_empty() {
            lines(s, "       evidence: ", "         ", &a.evidence);
        }
    }
}

/// `text` wrapped, its first line after `first`, the others after `rest`.
fn lines(s: &mut String, first: &str, rest: &str, text: &str) {
    let room = WIDTH.saturating_sub(first.chars().count()).max(20);
    let mut lead = first;
    for line in wrap(text, room) {
        let _ = writeln!(s, "{lead}{line}");
        lead = rest;
    }
}
