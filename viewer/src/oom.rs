//! The out-of-memory report (`Report.oom`) in words, once for the text report, the HTML page and
//! the live view: the failed request, one row per part of the device, the sum against the
//! device's total, the cause and each piece of advice. The words of each part, cause and advice
//! are the analysis' own (`PartKind::title`, `OomCause::title`, `AdviceKind::action`); this
//! only puts figures beside them.

use gpuleak_analysis::units::bytes;
use gpuleak_analysis::{Advice, OomPart, OomReport, PartKind};

use crate::format::share;

/// Named shares shown in a part's "what": the largest few say what it is, the rest are counted.
const SHARES_SHOWN: usize = 3;

/// One part of the device, as a table's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartRow {
    pub kind: PartKind,
    /// "1.00 GiB", or "~1.00 GiB" for an estimate.
    pub bytes: String,
    /// Its share of the device ("25%"); empty without a device total.
    pub share: String,
    /// The part's title, then its largest shares and its note:
    /// "loaded before the work began: UNET 1.60 GiB, VAE 160 MiB".
    pub what: String,
}

/// "cudaMalloc of 1.00 GiB by Decoder.forward (vae.py:300) failed; retried after the program
/// freed 141 MiB": the request, as one sentence.
pub fn request_line(o: &OomReport) -> String {
    let r = &o.request;
    let by = if r.label.is_empty() {
        String::new()
    } else {
        format!(" by {}", r.label)
    };
    let retried = if r.retried_after_freeing {
        format!(
            "; retried after the program freed {}",
            bytes(r.freed_before_retry_bytes)
        )
    } else {
        String::new()
    };
    format!("{} of {}{by} failed{retried}", r.api, bytes(r.bytes))
}

/// A part's bytes, with "~" when they are an estimate.
fn part_bytes(p: &OomPart) -> String {
    if p.estimated {
        format!("~{}", bytes(p.bytes))
    } else {
        bytes(p.bytes)
    }
}

/// What a part is: its title, its largest shares (the rest counted), its note.
fn part_what(p: &OomPart, per: &str) -> String {
    let mut what = p.part.title(per);
    if !p.by.is_empty() {
        let shown: Vec<String> =
            p.by.iter()
                .take(SHARES_SHOWN)
                .map(|s| format!("{} {}", s.label, bytes(s.bytes)))
                .collect();
        what.push_str(": ");
        what.push_str(&shown.join(", "));
        if p.by.len() > SHARES_SHOWN {
            what.push_str(&format!(", {} more", p.by.len() - SHARES_SHOWN));
        }
    }
    if !p.note.is_empty() {
        what.push_str(&format!(" ({})", p.note));
    }
    what
}

/// Every part as a row, in the report's order (largest first).
pub fn part_rows(o: &OomReport, per: &str) -> Vec<PartRow> {
    o.parts
        .iter()
        .map(|p| PartRow {
            kind: p.part,
            bytes: part_bytes(p),
            share: o
                .device_total_bytes
                .map_or(String::new(), |t| share(p.bytes, t)),
            what: part_what(p, per),
        })
        .collect()
}

/// "together 4.00 GiB of the device's 4.00 GiB; 12.0 MiB unexplained": the parts' sum against
/// the device's total, and by how much they miss it when they do.
pub fn sum_line(o: &OomReport) -> String {
    let sum = o.parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes));
    let Some(total) = o.device_total_bytes else {
        return format!(
            "together {}; the trace does not say the device's total",
            bytes(sum)
        );
    };
    let unexplained = match o.unexplained_bytes {
        Some(0) | None => String::new(),
        Some(n) if n > 0 => format!("; {} unexplained", bytes(n.unsigned_abs())),
        Some(n) => format!("; {} more than the device", bytes(n.unsigned_abs())),
    };
    format!(
        "together {} of the device's {}{unexplained}",
        bytes(sum),
        bytes(total)
    )
}

/// "what is loaded fits, but one step's peak does not (short by 250 MiB)".
pub fn cause_line(o: &OomReport) -> String {
    if o.short_by_bytes > 0 {
        format!("{} (short by {})", o.cause.title(), bytes(o.short_by_bytes))
    } else {
        o.cause.title().to_string()
    }
}

/// "decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)": what to do, and what it saves
/// where the trace shows it.
pub fn advice_action(a: &Advice) -> String {
    match a.saves_bytes {
        Some(b) => format!("{} (saves ~{})", a.advice.action(), bytes(b)),
        None => a.advice.action().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuleak_analysis::{FailedRequest, OomCause, PartShare};

    const MIB: u64 = 1 << 20;

    fn report(total: Option<u64>, unexplained: Option<i64>) -> OomReport {
        OomReport {
            index: 0,
            request: FailedRequest {
                label: String::new(),
                api: "cuMemAlloc".to_string(),
                bytes: 512 * MIB,
                retried_after_freeing: false,
                freed_before_retry_bytes: 0,
            },
            device_total_bytes: total,
            parts: vec![OomPart {
                part: PartKind::Kept,
                bytes: 900 * MIB,
                by: (1..=5)
                    .map(|i| PartShare {
                        label: format!("site{i}"),
                        bytes: 180 * MIB,
                    })
                    .collect(),
                estimated: false,
                note: String::new(),
            }],
            unexplained_bytes: unexplained,
            cause: OomCause::Leak,
            short_by_bytes: 0,
            advice: vec![],
        }
    }

    #[test]
    fn a_request_without_a_label_or_a_retry_is_said_plainly() {
        assert_eq!(
            request_line(&report(None, None)),
            "cuMemAlloc of 512 MiB failed"
        );
    }

    #[test]
    fn a_part_names_its_three_largest_shares_and_counts_the_rest() {
        let rows = part_rows(&report(Some(1024 * MIB), Some(124 * MIB as i64)), "request");
        assert_eq!(
            rows[0].what,
            "kept from earlier requests: site1 180 MiB, site2 180 MiB, site3 180 MiB, 2 more"
        );
        assert_eq!(rows[0].share, "88%");
    }

    #[test]
    fn the_sum_says_what_the_parts_miss_or_exceed_and_when_the_total_is_unknown() {
        let sum = |t, u| sum_line(&report(t, u));
        assert_eq!(
            sum(Some(1024 * MIB), Some(124 * MIB as i64)),
            "together 900 MiB of the device's 1.00 GiB; 124 MiB unexplained"
        );
        assert_eq!(
            sum(Some(800 * MIB), Some(-100 * MIB as i64)),
            "together 900 MiB of the device's 800 MiB; 100 MiB more than the device"
        );
        assert_eq!(
            sum(None, None),
            "together 900 MiB; the trace does not say the device's total"
        );
        // Without a total there is no share to show.
        assert_eq!(part_rows(&report(None, None), "iteration")[0].share, "");
        // A leak with nothing missing says no shortfall.
        assert_eq!(cause_line(&report(None, None)), OomCause::Leak.title());
    }
}
