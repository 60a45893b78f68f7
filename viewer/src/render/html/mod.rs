//! `gpuleak report --format html`: the report as one self-contained page.
//!
//! Nothing is fetched: the style is inline, the chart is SVG drawn here, stacks open and close
//! with `<details>` (no script at all). It reads the same model as the text and JSON reports
//! and the exports ([`crate::model::Model`]): the diagnosis first (and after it, when the
//! program died of a lack of memory, what filled the device: `failure.rs`), then device memory at
//! the end of each iteration stacked by its top sites, the findings with each site's whole stack,
//! the sites holding the most memory, the iterations, the out-of-memory failures, and the text
//! report for everything else.

mod bands;
mod chart;
mod failure;
mod holders;
mod svg;

use std::fmt::Write as _;

use gpuleak_analysis::units::{bytes, count};
use gpuleak_analysis::{Site, is_library_frame};

use crate::findings::{self, Finding, leaks, report_leaks, source_word, verdict};
use crate::format::{escape, signed_bytes};
use crate::model::Model;
use crate::render::text::{render_text, trace_state};
use crate::stack::{folded, python_first};

/// Iterations listed in the table; past it, the first and last halves.
const TABLE_ITERATIONS: usize = 400;

/// What `--fail-on leak` says, as for the other formats.
pub fn leak_lines(models: &[Model]) -> Vec<String> {
    let procs: Vec<_> = models
        .iter()
        .map(|m| (m.path.as_path(), &m.report))
        .collect();
    findings::leak_lines(&procs)
}

/// Text for HTML: `&`, `<`, `>` and quotes escaped.
const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em 4em}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555;margin:.2em 0}.meta code{color:#333}
.diagnosis{background:#fff4e5;border-left:5px solid #e67e22;padding:.6em 1.2em;margin:1em 0}
.diagnosis.healthy{background:#eaf7ea;border-color:#2e8b57}
.diagnosis p{margin:.5em 0;line-height:1.4}
table{border-collapse:collapse;width:100%;margin:.5em 0;background:#fff}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f0f0f0;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{font-weight:700;text-transform:uppercase;font-size:.85em}
.v-leak{color:#c0392b}.v-sawtooth{color:#d35400}.v-plateau{color:#7d6608}.v-steady{color:#2e7d32}.v-quiet{color:#777}
details{margin:.2em 0}summary{cursor:pointer;color:#1f4e79}
ol.stack{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;margin:.3em 0;padding-left:2.5em}
ol.stack li.lib{color:#999}ol.stack li.own{font-weight:600}
.chart{background:#fff;border:1px solid #e5e5e5;padding:.5em}
.legend{list-style:none;padding:0;margin:.4em 0;font-size:.9em}.legend li{margin:.15em 0}
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:-.1em;border-radius:2px}
pre{background:#fff;border:1px solid #e5e5e5;padding:.8em;overflow-x:auto;font-size:.8em}
.oom{background:#fff;border:1px solid #f0c0c0;border-left:5px solid #c0392b;padding:.5em 1em;margin:.6em 0}
footer{color:#888;font-size:.8em;margin-top:3em}
";

/// The whole page.
pub fn render(models: &[Model], top: usize) -> String {
    let mut s = String::new();
    let title = match models {
        [one] => format!("gpuleak report: {}", one.process_name()),
        all => format!(
            "gpuleak report: a run of {}",
            count(all.len() as u64, "process", "processes")
        ),
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", escape(&title));
    if models.len() > 1 {
        processes(&mut s, models);
    }
    for (i, m) in models.iter().enumerate() {
        if models.len() > 1 {
            let _ = writeln!(
                s,
                "<section id=\"process-{i}\">\n<h2 style=\"font-size:1.35em\">{}</h2>",
                escape(&m.process_name())
            );
        }
        process(&mut s, m, top);
        if models.len() > 1 {
            let _ = writeln!(s, "</section>");
        }
    }
    let _ = writeln!(
        s,
        "<footer>Written by gpuleak {} from {}.</footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        escape(
            &models
                .iter()
                .map(|m| m.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    s
}

fn processes(s: &mut String, models: &[Model]) {
    let _ = writeln!(
        s,
        "<table><tr><th>process</th><th>trace</th><th class=\"num\">live at the end</th>\
         <th class=\"num\">peak</th><th>leaks</th></tr>"
    );
    for (i, m) in models.iter().enumerate() {
        let leaking: Vec<&str> = m
            .report
            .sites
            .iter()
            .filter(|s| leaks(s))
            .map(|s| s.label.as_str())
            .collect();
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#process-{i}\">{}</a></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&m.process_name()),
            escape(&m.trace_name()),
            bytes(m.report.gpu.live_bytes_at_end),
            bytes(m.report.gpu.peak_live_bytes),
            if leaking.is_empty() {
                "none".to_string()
            } else {
                escape(&leaking.join("; "))
            }
        );
    }
    let _ = writeln!(s, "</table>");
}

/// One process: header, diagnosis, chart, findings, sites, iterations, failures, text.
fn process(s: &mut String, m: &Model, top: usize) {
    let r = &m.report;
    if let Some(p) = &r.process {
        let state = trace_state(r);
        let device = p
            .device
            .as_deref()
            .map_or(String::new(), |d| format!(", {}", escape(d)));
        let _ = writeln!(
            s,
            "<p class=\"meta\"><code>{}</code> (pid {}) on {}{device}: {state}</p>",
            escape(&p.exe),
            p.pid,
            escape(&p.hostname)
        );
        if !p.argv.is_empty() {
            let _ = writeln!(
                s,
                "<p class=\"meta\">command: <code>{}</code></p>",
                escape(&p.argv.join(" "))
            );
        }
    }
    let _ = writeln!(
        s,
        "<p class=\"meta\">Device memory: {} live at the end, peak {}, {} ({}) in all.</p>",
        bytes(r.gpu.live_bytes_at_end),
        bytes(r.gpu.peak_live_bytes),
        count(r.gpu.allocations, "allocation", "allocations"),
        bytes(r.gpu.bytes_allocated)
    );

    let _ = writeln!(s, "<h2>Diagnosis</h2>");
    let healthy = r.diagnosis.is_empty() || r.sites.iter().all(|x| verdict(x).is_none());
    let _ = writeln!(
        s,
        "<div class=\"diagnosis{}\">",
        if healthy && r.ooms.is_empty() && !report_leaks(r) {
            " healthy"
        } else {
            ""
        }
    );
    if r.diagnosis.is_empty() {
        let _ = writeln!(
            s,
            "<p>Nothing to say: no growth and no failure was seen.</p>"
        );
    }
    for d in &r.diagnosis {
        let _ = writeln!(s, "<p>{}</p>", escape(&d.text));
    }
    let _ = writeln!(s, "</div>");
    failure::section(s, r);

    let _ = writeln!(s, "<h2>Device memory over iterations</h2>");
    chart::chart(s, m);

    findings(s, m);
    sites(s, m, top);
    iterations(s, m);
    ooms(s, m);
    holders::section(s, r, top);

    let _ = writeln!(
        s,
        "<h2>Everything else</h2>\n<details><summary>The text report</summary>\n<pre>{}</pre>\n</details>",
        escape(&render_text(r, top))
    );
}

/// A site's verdict in the sites table: a quiet one says why it is no finding, greyed.
fn site_verdict_cell(x: &Site) -> String {
    match (findings::verdict_in_list(x), x.quiet) {
        (Some(v), Some(q)) => format!(
            "<span class=\"verdict v-quiet\" title=\"no finding: {}\">{v}</span>",
            q.reason()
        ),
        _ => verdict_cell(verdict(x)),
    }
}

fn verdict_cell(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("<span class=\"verdict v-{v}\">{v}</span>"),
        None => "—".to_string(),
    }
}

/// A stack as the text report's findings show it (findings, sites and out-of-memory failures
/// alike): a Python program's Python frames first, then the native ones; each run of two or
/// more library frames folded into one line of names; the naming frame bold.
fn stack(s: &mut String, frames: &[String], user_frame: usize, open: bool) {
    if frames.is_empty() {
        let _ = writeln!(s, "<p class=\"meta\">(no stack recorded)</p>");
        return;
    }
    let _ = writeln!(
        s,
        "<details{}><summary>stack ({})</summary><ol class=\"stack\">",
        if open { " open" } else { "" },
        count(frames.len() as u64, "frame", "frames")
    );
    let order = python_first(frames, user_frame).order;
    let mut at = 0;
    while at < order.len() {
        let i = order[at];
        let run = order[at..]
            .iter()
            .take_while(|&&j| j != user_frame && is_library_frame(&frames[j]))
            .count();
        if run >= 2 {
            let names = order[at..at + run].iter().map(|&j| &frames[j]);
            let _ = writeln!(s, "<li class=\"lib\">[{}]</li>", escape(&folded(names)));
            at += run;
            continue;
        }
        let class = if i == user_frame {
            "own"
        } else if is_library_frame(&frames[i]) {
            "lib"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<li class=\"{class}\">{}</li>",
            escape(&gpuleak_analysis::tidy_frame(&frames[i]))
        );
        at += 1;
    }
    let _ = writeln!(s, "</ol></details>");
}

fn findings(s: &mut String, m: &Model) {
    let r = &m.report;
    let mut found: Vec<(Finding, &Site)> = r
        .sites
        .iter()
        .filter_map(|x| Some((Finding::of(x)?, x)))
        .collect();
    found.sort_by_key(|(rank, x)| (*rank, std::cmp::Reverse(x.bytes_per_iteration())));
    let _ = writeln!(s, "<h2>Findings</h2>");
    let quiet = findings::quiet_note(r).map_or(String::new(), |q| {
        format!("<p class=\"meta\">{}.</p>", escape(&q))
    });
    if found.is_empty() {
        let _ = writeln!(
            s,
            "<p>No site grows over iterations (no leak, sawtooth or plateau).</p>{quiet}"
        );
        return;
    }
    let per = r.iterations.unit();
    let _ = writeln!(
        s,
        "<table><tr><th>verdict</th><th>site</th><th class=\"num\">per {per}</th>\
         <th class=\"num\">live at the end</th><th>device full</th></tr>"
    );
    for (_, x) in found {
        let slope = x.bytes_per_iteration().unwrap_or(0);
        let full = x
            .full_at_iteration
            .map_or("—".to_string(), |n| format!("at {per} ~{n}"));
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code>",
            verdict_cell(verdict(x)),
            escape(&x.label)
        );
        holders::under_finding(s, x);
        stack(s, &x.frames, x.user_frame, leaks(x));
        let _ = writeln!(
            s,
            "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{full}</td></tr>",
            signed_bytes(slope),
            bytes(x.live_bytes_at_end)
        );
    }
    let _ = writeln!(s, "</table>{quiet}");
}

fn sites(s: &mut String, m: &Model, top: usize) {
    let r = &m.report;
    let _ = writeln!(s, "<h2>Sites by memory live at the end</h2>");
    if r.sites.is_empty() {
        let _ = writeln!(s, "<p>No allocations were recorded.</p>");
        return;
    }
    let _ = writeln!(
        s,
        "<table><tr><th>#</th><th>site</th><th>memory</th><th class=\"num\">live at the end</th>\
         <th class=\"num\">allocated in all</th><th>verdict</th></tr>"
    );
    for (i, x) in r.sites.iter().take(top.max(1)).enumerate() {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code>",
            i + 1,
            escape(&x.label)
        );
        stack(s, &x.frames, x.user_frame, false);
        let _ = writeln!(
            s,
            "</td><td>{}</td><td class=\"num\">{} in {}</td><td class=\"num\">{} in {}</td><td>{}</td></tr>",
            gpuleak_analysis::kind_name(x.memory),
            bytes(x.live_bytes_at_end),
            count(x.live_allocations_at_end, "allocation", "allocations"),
            bytes(x.bytes_allocated),
            count(x.allocations, "allocation", "allocations"),
            site_verdict_cell(x)
        );
    }
    let _ = writeln!(s, "</table>");
    if r.sites.len() > top.max(1) {
        let _ = writeln!(
            s,
            "<p class=\"meta\">… {} more (--top N lists more).</p>",
            count((r.sites.len() - top.max(1)) as u64, "site", "sites")
        );
    }
}

/// Per iteration: device memory allocated and freed in it (from the timeline), the net change,
/// and what was live at its end (the report's series).
fn iterations(s: &mut String, m: &Model) {
    let _ = writeln!(s, "<h2>Iterations</h2>");
    let Some(timeline) = &m.timeline else {
        return;
    };
    let live = gpuleak_analysis::report::device_live_per_iteration(&m.replay, &m.options);
    let spans = timeline.iterations();
    let n = live.len().max(spans.len());
    if n == 0 {
        let _ = writeln!(s, "<p>No iterations were found.</p>");
        return;
    }
    let mut allocated = vec![0u64; n];
    let mut freed = vec![0u64; n];
    let starts: Vec<u64> = spans.iter().map(|(a, _)| *a).collect();
    let (mut before_alloc, mut before_free) = (0u64, 0u64);
    for c in &timeline.changes {
        let at = starts.partition_point(|&b| b <= c.time_ns);
        let (a, f) = match at.checked_sub(1) {
            Some(i) => (&mut allocated[i], &mut freed[i]),
            None => (&mut before_alloc, &mut before_free),
        };
        if c.alloc {
            *a = a.saturating_add(c.size);
        } else {
            *f = f.saturating_add(c.size);
        }
    }
    let meaning = m
        .report
        .iterations
        .unit_meaning()
        .map_or(String::new(), |w| format!("; {}", escape(&w)));
    let _ = writeln!(
        s,
        "<p class=\"meta\">{} ({}{meaning}). Device and physical memory.</p>",
        count(n as u64, "iteration", "iterations"),
        source_word(&m.report.iterations).unwrap_or("no source")
    );
    let _ = writeln!(
        s,
        "<table><tr><th class=\"num\">iteration</th><th class=\"num\">allocated</th>\
         <th class=\"num\">freed</th><th class=\"num\">net</th><th class=\"num\">live at its end</th></tr>"
    );
    if before_alloc + before_free > 0 {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">before</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\"></td></tr>",
            bytes(before_alloc),
            bytes(before_free),
            signed_bytes(before_alloc as i128 - before_free as i128)
        );
    }
    let half = TABLE_ITERATIONS / 2;
    for i in 0..n {
        if n > TABLE_ITERATIONS && i == half {
            let _ = writeln!(
                s,
                "<tr><td colspan=\"5\">… {} left out …</td></tr>",
                count((n - 2 * half) as u64, "iteration", "iterations")
            );
        }
        if n > TABLE_ITERATIONS && i >= half && i < n - half {
            continue;
        }
        let has_span = i < spans.len();
        let cell = |v: u64| {
            if has_span { bytes(v) } else { String::new() }
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{i}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            cell(allocated[i]),
            cell(freed[i]),
            if has_span {
                signed_bytes(allocated[i] as i128 - freed[i] as i128)
            } else {
                String::new()
            },
            live.get(i).map_or(String::new(), |v| bytes(*v))
        );
    }
    let _ = writeln!(s, "</table>");
}

fn ooms(s: &mut String, m: &Model) {
    let r = &m.report;
    let _ = writeln!(s, "<h2>Out of memory</h2>");
    if r.ooms.is_empty() {
        let _ = writeln!(s, "<p>No allocation failed for lack of memory.</p>");
        return;
    }
    for o in &r.ooms {
        let _ = writeln!(s, "<div class=\"oom\">");
        let device = match (o.device_free_bytes, o.device_total_bytes) {
            (Some(free), Some(total)) => {
                format!("; the device had {} free of {}", bytes(free), bytes(total))
            }
            _ => String::new(),
        };
        let iteration = o.iteration.map_or(String::new(), |i| {
            format!(", in {} {i}", r.iterations.unit())
        });
        let _ = writeln!(
            s,
            "<p><strong>{} of {}</strong> failed with {} live{device}{iteration}{}.</p>",
            escape(&o.api),
            bytes(o.requested_bytes),
            bytes(o.live_bytes),
            if o.retried {
                "; retried soon after, with success"
            } else {
                ""
            }
        );
        stack(s, &o.frames, gpuleak_analysis::user_frame(&o.frames), true);
        if !o.live_by_site.is_empty() {
            let _ = writeln!(
                s,
                "<p>What held the memory:</p><table><tr><th>site</th>\
                 <th class=\"num\">live</th></tr>"
            );
            for x in &o.live_by_site {
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"num\">{} in {}</td></tr>",
                    escape(&x.label),
                    bytes(x.live_bytes),
                    count(x.live_allocations, "allocation", "allocations")
                );
            }
            let _ = writeln!(s, "</table>");
        }
        let _ = writeln!(s, "</div>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            escape("a<b> & \"c\" 'd'"),
            "a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;"
        );
    }
}
