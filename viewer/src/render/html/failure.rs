//! The page's out-of-memory section, after the diagnosis: the failure the program died of,
//! explained. The request that failed, one bar of the device split into what filled it (a colour
//! per part, a legend, each part's figures in its `<title>`), the parts as a table against the
//! device's total, the cause and the advice with its evidence. Inline SVG and the page's own
//! style: nothing is fetched.

use std::fmt::Write as _;

use gpuleak_analysis::{OomReport, PartKind, Report};

use crate::format::escape;
use crate::oom::{PartRow, advice_action, cause_line, part_rows, request_line, sum_line};

/// The bar's drawing size; it is scaled to the page's width.
const BAR_WIDTH: f64 = 1000.0;
const BAR_HEIGHT: u32 = 28;

/// One colour per part, the same on every page: what the program holds in warm colours, what it
/// does not in cool ones, free space grey.
fn colour(kind: PartKind) -> &'static str {
    match kind {
        PartKind::Loaded => "#4e79a7",
        PartKind::Kept => "#d62728",
        PartKind::Working => "#f28e2b",
        PartKind::Segments => "#edc948",
        PartKind::CacheFree => "#b6d7a8",
        PartKind::Libraries => "#76b7b2",
        PartKind::OtherProcesses => "#b07aa1",
        PartKind::Outside => "#9c755f",
        PartKind::Free => "#dddddd",
    }
}

pub fn section(s: &mut String, r: &Report) {
    let Some(o) = &r.oom else {
        return;
    };
    let per = r.iterations.unit();
    let rows = part_rows(o, per);
    let _ = writeln!(
        s,
        "<h2>Out of memory: what filled the device</h2>\n<div class=\"oom\">"
    );
    let _ = writeln!(s, "<p><strong>{}</strong></p>", escape(&request_line(o)));
    bar(s, o, &rows, per);
    table(s, o, &rows);
    let _ = writeln!(
        s,
        "<p><strong>Cause:</strong> {}.</p>",
        escape(&cause_line(o))
    );
    if !o.advice.is_empty() {
        let _ = writeln!(s, "<p>Advice, most saved first:</p>\n<ol>");
        for a in &o.advice {
            let evidence = if a.evidence.is_empty() {
                String::new()
            } else {
                format!(
                    "<br><span class=\"meta\">evidence: {}</span>",
                    escape(&a.evidence)
                )
            };
            let _ = writeln!(s, "<li>{}{evidence}</li>", escape(&advice_action(a)));
        }
        let _ = writeln!(s, "</ol>");
    }
    let _ = writeln!(s, "</div>");
}

/// The device as one bar, its parts side by side across the total (or across their sum, with
/// no total known), and a legend.
fn bar(s: &mut String, o: &OomReport, rows: &[PartRow], per: &str) {
    let sum = o.parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes));
    let whole = o.device_total_bytes.unwrap_or(sum).max(sum).max(1);
    let _ = writeln!(
        s,
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {BAR_WIDTH} {BAR_HEIGHT}\" \
         width=\"100%\" preserveAspectRatio=\"none\" style=\"height:2em;box-sizing:border-box\" \
         aria-label=\"what filled the device\">"
    );
    let mut x = 0.0;
    for (p, row) in o.parts.iter().zip(rows) {
        let w = p.bytes as f64 * BAR_WIDTH / whole as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"{BAR_HEIGHT}\" fill=\"{}\">\
             <title>{}{}: {}</title></rect>",
            colour(p.part),
            escape(&row.bytes),
            of_device(row),
            escape(&row.what)
        );
        x += w;
    }
    let _ = writeln!(s, "</svg>\n<ul class=\"legend\">");
    for (p, row) in o.parts.iter().zip(rows) {
        let _ = writeln!(
            s,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{} — {}{}</li>",
            colour(p.part),
            escape(&p.part.title(per)),
            escape(&row.bytes),
            of_device(row)
        );
    }
    let _ = writeln!(s, "</ul>");
}

fn of_device(row: &PartRow) -> String {
    if row.share.is_empty() {
        String::new()
    } else {
        format!(" ({} of the device)", row.share)
    }
}

fn table(s: &mut String, o: &OomReport, rows: &[PartRow]) {
    let _ = writeln!(
        s,
        "<table><tr><th class=\"num\">bytes</th><th class=\"num\">of the device</th>\
         <th>what</th></tr>"
    );
    for row in rows {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&row.bytes),
            escape(&row.share),
            escape(&row.what)
        );
    }
    let _ = writeln!(
        s,
        "<tr><td colspan=\"3\">{}</td></tr>\n</table>",
        escape(&sum_line(o))
    );
}
