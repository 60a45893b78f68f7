//! Two runs compared site by site (`gpuleak diff`), as text or JSON.
//!
//! Sites are matched by their symbolized frames and kind of memory, never by stack ids, which
//! differ from one run to the next; a run's processes by rank, else command line, else place.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use gpuleak_analysis::units::bytes;
use gpuleak_analysis::{Report, Site, kind_name};

use crate::findings::verdict;
use crate::format::signed_bytes;
use crate::input::Proc;

/// One site in either trace.
struct Row<'a> {
    /// Distinct from every other row's ([`gpuleak_analysis::labels`]).
    label: String,
    frames: &'a [String],
    memory: &'static str,
    a: Option<&'a Site>,
    b: Option<&'a Site>,
}

impl Row<'_> {
    fn live(s: Option<&Site>) -> u64 {
        s.map_or(0, |s| s.live_bytes_at_end)
    }

    fn live_change(&self) -> i128 {
        i128::from(Row::live(self.b)) - i128::from(Row::live(self.a))
    }

    fn slope(s: Option<&Site>) -> Option<i64> {
        s.and_then(|s| s.bytes_per_iteration())
    }

    fn slope_change(&self) -> i128 {
        i128::from(Row::slope(self.b).unwrap_or(0)) - i128::from(Row::slope(self.a).unwrap_or(0))
    }
}

/// Runs of several processes, each worker against its counterpart: (text, JSON).
pub fn runs(pairs: &[(Option<&Proc>, Option<&Proc>)]) -> (String, String) {
    let mut text_out = String::new();
    let mut json_out = Vec::new();
    for (pa, pb) in pairs {
        let name = |p: Option<&Proc>| p.map_or("(none)".to_string(), |p| p.name());
        match (pa, pb) {
            (Some(pa), Some(pb)) => {
                let rows = rows(&pa.report, &pb.report);
                let _ = writeln!(
                    text_out,
                    "== {} against {} ==",
                    name(Some(pb)),
                    name(Some(pa))
                );
                text_out.push_str(&text_of(&rows, &pa.path, &pb.path));
                json_out.push(serde_json::json!({
                    "a": pa.path.display().to_string(),
                    "b": pb.path.display().to_string(),
                    "rank": pa.report.process.as_ref().and_then(|h| h.rank),
                    "rank_b": pb.report.process.as_ref().and_then(|h| h.rank),
                    "sites": json_value(&rows)["sites"],
                }));
            }
            (only_a, only_b) => {
                let (side, p) = match (only_a, only_b) {
                    (Some(p), None) => ("A", p),
                    (None, Some(p)) => ("B", p),
                    _ => continue,
                };
                let _ = writeln!(
                    text_out,
                    "== {} ({}) is only in {side} ==",
                    p.name(),
                    p.path.display()
                );
                json_out.push(serde_json::json!({
                    "a": only_a.map(|p| p.path.display().to_string()),
                    "b": only_b.map(|p| p.path.display().to_string()),
                    "rank": p.report.process.as_ref().and_then(|h| h.rank),
                    "sites": [],
                }));
            }
        }
    }
    let json =
        serde_json::to_string_pretty(&serde_json::json!({ "schema": 1, "processes": json_out }))
            .unwrap_or_default()
            + "\n";
    (text_out, json)
}

/// Two traces' sites side by side, as text for people.
pub fn text(a: &Report, b: &Report, a_path: &Path, b_path: &Path) -> String {
    text_of(&rows(a, b), a_path, b_path)
}

/// Two traces' sites side by side, as JSON for tools.
pub fn json(a: &Report, b: &Report) -> String {
    serde_json::to_string_pretty(&json_value(&rows(a, b))).unwrap_or_default() + "\n"
}

/// Each process of A with its counterpart in B: the same rank when both runs have ranks, else
/// the same command line, else the same place in the list; the rest alone.
pub fn pair<'a>(a: &'a [Proc], b: &'a [Proc]) -> Vec<(Option<&'a Proc>, Option<&'a Proc>)> {
    let rank = |p: &Proc| p.report.process.as_ref().and_then(|h| h.rank);
    let argv = |p: &Proc| p.report.process.as_ref().map(|h| h.argv.clone());
    let mut taken = vec![false; b.len()];
    let mut out = Vec::new();
    for (i, pa) in a.iter().enumerate() {
        let found = b
            .iter()
            .enumerate()
            .position(|(j, pb)| !taken[j] && rank(pa).is_some() && rank(pa) == rank(pb))
            .or_else(|| {
                b.iter()
                    .enumerate()
                    .position(|(j, pb)| !taken[j] && rank(pa).is_none() && argv(pa) == argv(pb))
            })
            .or_else(|| (i < b.len() && !taken[i] && rank(pa).is_none()).then_some(i));
        match found {
            Some(j) => {
                taken[j] = true;
                out.push((Some(pa), Some(&b[j])));
            }
            None => out.push((Some(pa), None)),
        }
    }
    for (j, pb) in b.iter().enumerate() {
        if !taken[j] {
            out.push((None, Some(pb)));
        }
    }
    out
}

fn rows<'a>(a: &'a Report, b: &'a Report) -> Vec<Row<'a>> {
    let mut map: BTreeMap<(&'a [String], &'static str), Row<'a>> = BTreeMap::new();
    for (side, report) in [(0, a), (1, b)] {
        for site in &report.sites {
            let memory = kind_name(site.memory);
            let row = map.entry((site.frames.as_slice(), memory)).or_insert(Row {
                label: String::new(),
                frames: &site.frames,
                memory,
                a: None,
                b: None,
            });
            // Sites with the same frames (unsymbolized stacks) add up: keep the larger.
            let slot = if side == 0 { &mut row.a } else { &mut row.b };
            if slot.is_none_or(|s| s.live_bytes_at_end < site.live_bytes_at_end) {
                *slot = Some(site);
            }
        }
    }
    let mut rows: Vec<Row> = map.into_values().collect();
    // Labelled over both traces' sites together: a label names one row of this diff.
    let labels = gpuleak_analysis::labels::labels(
        &rows
            .iter()
            .map(|r| {
                let site = r.a.or(r.b);
                gpuleak_analysis::labels::Named {
                    frames: r.frames,
                    user_frame: site.map_or(0, |s| s.user_frame),
                    memory: site.map_or(gpuleak_trace::MemoryKind::Device, |s| s.memory),
                    device: site.and_then(|s| s.device),
                    stack_id: site.map_or(0, |s| s.stack_id),
                }
            })
            .collect::<Vec<_>>(),
    );
    for (row, label) in rows.iter_mut().zip(labels) {
        row.label = label;
    }
    rows.sort_by(|x, y| {
        y.live_change()
            .abs()
            .cmp(&x.live_change().abs())
            .then(y.slope_change().abs().cmp(&x.slope_change().abs()))
    });
    rows
}

fn text_of(rows: &[Row], a: &Path, b: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Sites of {} against {}, largest change in live memory first:",
        b.display(),
        a.display()
    );
    let changed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.live_change() != 0 || r.slope_change() != 0)
        .collect();
    if changed.is_empty() {
        let _ = writeln!(s, "  no site changed");
    }
    for r in changed {
        let frame = &r.label;
        let memory = if r.memory == "device" {
            String::new()
        } else {
            format!(" [{}]", r.memory)
        };
        let per = |v: Option<i64>| v.map_or("-".to_string(), |v| signed_bytes(i128::from(v)));
        let _ = writeln!(
            s,
            "  {} live ({} -> {}), {}/iteration ({} -> {}){memory}  {frame}",
            signed_bytes(r.live_change()),
            bytes(Row::live(r.a)),
            bytes(Row::live(r.b)),
            signed_bytes(r.slope_change()),
            per(Row::slope(r.a)),
            per(Row::slope(r.b)),
        );
    }
    s
}

fn json_value(rows: &[Row]) -> serde_json::Value {
    let sites: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "label": r.label,
                "frames": r.frames,
                "memory": r.memory,
                "in_a": r.a.is_some(),
                "in_b": r.b.is_some(),
                "live_bytes_at_end_a": Row::live(r.a),
                "live_bytes_at_end_b": Row::live(r.b),
                "live_bytes_change": r.live_change() as i64,
                "bytes_per_iteration_a": Row::slope(r.a),
                "bytes_per_iteration_b": Row::slope(r.b),
                "bytes_per_iteration_change": r.slope_change() as i64,
                "verdict_a": r.a.and_then(verdict),
                "verdict_b": r.b.and_then(verdict),
            })
        })
        .collect();
    serde_json::json!({ "schema": 1, "sites": sites })
}
