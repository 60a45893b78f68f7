//! Phrases more than one diagnosis says: a leaking site and what it holds, the device it fills,
//! the largest holders at a failure.

use crate::model::{Oom, Report, Site};
use crate::units::bytes;

use super::holders;

/// "denoise_step (sampler.c:154) grows +3.00 MiB/iteration (438 MiB live at the end)"; "live
/// now" while the trace is still being written.
/// With several GPUs, which one it fills: "... grows +1.00 GiB/iteration on GPU 1 (...)".
/// With holders, what keeps its memory comes first ([`holders::held_leak_phrase`]).
pub(super) fn leak_phrase(r: &Report, s: &Site, per: &str) -> String {
    if let Some(phrase) = holders::held_leak_phrase(r, s, per, &held(s, r.complete)) {
        return phrase;
    }
    let growth = s.bytes_per_iteration().unwrap_or(0);
    let sign = if growth < 0 { "-" } else { "+" };
    let on = match s.device {
        Some(d) if r.devices.len() > 1 => format!(" on GPU {d}"),
        _ => String::new(),
    };
    format!(
        "{} grows {sign}{}/{per}{on} ({})",
        s.label,
        bytes(growth.unsigned_abs()),
        held(s, r.complete)
    )
}

/// "the device", or with several, the site's: "GPU 1".
pub fn which_device(r: &Report, s: &Site) -> String {
    match s.device {
        Some(d) if r.devices.len() > 1 => format!("GPU {d}"),
        _ => "the device".to_string(),
    }
}

/// The three largest holders of an out-of-memory failure's live set.
pub(super) fn largest_holders(o: &Oom) -> String {
    let named: Vec<String> = o
        .live_by_site
        .iter()
        .take(3)
        .map(|s| format!("{} ({})", s.label, bytes(s.live_bytes)))
        .collect();
    if named.is_empty() {
        "none recorded".to_string()
    } else {
        named.join(", ")
    }
}

/// What a site holds, in words: "438 MiB live at the end"; "120 MiB held at the last
/// iteration, freed at exit" for memory a program gives back only when it ends (a list of
/// tensors emptied at interpreter shutdown), which "0 B live at the end" would hide; "live now"
/// while the trace is still being written.
pub fn held(s: &Site, complete: bool) -> String {
    let end = s.live_bytes_at_end;
    match s.live_bytes_at_last_iteration {
        Some(last) if complete && last > end => {
            if end == 0 {
                format!("{} held at the last iteration, freed at exit", bytes(last))
            } else {
                format!(
                    "{} held at the last iteration, {} of it freed at exit",
                    bytes(last),
                    bytes(last - end)
                )
            }
        }
        _ if complete => format!("{} live at the end", bytes(end)),
        _ => format!("{} live now", bytes(end)),
    }
}

/// "one site", "3 sites".
pub(super) fn count_sites(n: usize) -> String {
    if n == 1 {
        "one site".to_string()
    } else {
        format!("{n} sites")
    }
}
