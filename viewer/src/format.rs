//! One formatter per quantity the viewer writes in more than one place, so that the report,
//! the HTML page, `diff`, the processes table and the terminal UI say it the same way.

use std::path::Path;

use gpuleak_analysis::Report;
use gpuleak_analysis::units::bytes;

/// "+3.00 MiB" / "-512 B": a change in bytes, always signed. Changes beyond what a u64 holds
/// (differences of two u64) are shown at that bound.
pub fn signed_bytes(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let sign = if n < 0 { "-" } else { "+" };
    format!(
        "{sign}{}",
        bytes(n.unsigned_abs().min(u128::from(u64::MAX)) as u64)
    )
}

/// "trace ends early at byte 4096": a trace cut short (its writer killed), where it ends.
pub fn ends_early(at: u64) -> String {
    format!("trace ends early at byte {at}")
}

/// The warning for a trace cut short, before `doing` ("reporting", "exporting") what it holds.
pub fn warn_ends_early(path: &Path, at: u64, doing: &str) {
    eprintln!(
        "gpuleak: warning: {}: {} (process killed?); {doing} what was recorded before it",
        path.display(),
        ends_early(at)
    );
}

/// "pid 1234, rank 2" (the rank when a launcher set it), else the trace's path.
pub fn process_name(path: &Path, report: &Report) -> String {
    match &report.process {
        Some(p) => match p.rank {
            Some(r) => format!("pid {}, rank {r}", p.pid),
            None => format!("pid {}", p.pid),
        },
        None => path.display().to_string(),
    }
}

/// Text made safe inside HTML and XML (the page, the flame graph's SVG).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 2000000 as "2,000,000".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part` as a share of `whole`: "25%", "<1%" for a sliver that is not nothing, "0%" for
/// nothing; a share of nothing is "—".
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_string();
    }
    let pct = part as f64 * 100.0 / whole as f64;
    if part > 0 && pct < 0.5 {
        "<1%".to_string()
    } else {
        format!("{pct:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_whole_percentage_and_a_sliver_is_not_shown_as_nothing() {
        assert_eq!(share(1 << 30, 4 << 30), "25%");
        assert_eq!(share(1335, 4096), "33%");
        assert_eq!(share(8 << 20, 4 << 30), "<1%");
        assert_eq!(share(0, 4 << 30), "0%");
        assert_eq!(share(4 << 30, 4 << 30), "100%");
        assert_eq!(share(1, 0), "—");
    }
}
