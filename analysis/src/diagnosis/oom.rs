//! The out-of-memory sentence, written from the report's [`OomReport`] in one place: what
//! failed and the cause in the words the diagnosis has always used, then what filled the device
//! (its parts in one line), how much was missing, and the fix. [`part_line`] and
//! [`advice_line`] are the renderers' words for one part and one piece of advice.

use crate::growth;
use crate::memory::MemoryClass;
use crate::model::{
    Advice, Cause, Diagnosis, Oom, OomCause, OomPart, OomReport, PartKind, Report, Site,
};
use crate::units::bytes;

use super::holders::{self, OomConclusion, oom_conclusion, oom_holding};
use super::phrases::{largest_holders, leak_phrase};

/// The index into `ooms` of the failure the program died of: the last device (or physical)
/// failure not retried with success; `None` when there is none, or every one was retried (the
/// program went on).
pub fn fatal_oom(r: &Report) -> Option<usize> {
    r.ooms.iter().rposition(|o| {
        matches!(o.memory, MemoryClass::Device | MemoryClass::Physical) && !o.retried
    })
}

/// What the leaking sites held when `o` failed, from its live set.
pub fn leaked_at(r: &Report, o: &Oom) -> u64 {
    o.live_by_site
        .iter()
        .filter(|held| r.sites.iter().any(|s| s.leaks() && s.frames == held.frames))
        .fold(0u64, |a, held| a.saturating_add(held.live_bytes))
}

/// One part of the device at a failure: "working memory of the iteration in flight 1.00 GiB";
/// "~" before an estimate. `per` is the report's unit ("iteration", "request"). What the part
/// is made of (`by`) is the renderers' to list.
pub fn part_line(p: &OomPart, per: &str) -> String {
    let about = if p.estimated { "~" } else { "" };
    format!("{} {about}{}", p.part.title(per), bytes(p.bytes))
}

/// "The device's 4.00 GiB then: loaded before the work began 2.00 GiB (...), working memory
/// ...; free on the device 774 MiB." ("What this process saw then:" without a total).
pub fn parts_line(oom: &OomReport, per: &str) -> String {
    let opening = match oom.device_total_bytes {
        Some(t) => format!("The device's {} then:", bytes(t)),
        None => "What this process held then:".to_string(),
    };
    let parts: Vec<String> = oom.parts.iter().map(|p| part_line(p, per)).collect();
    format!("{opening} {}.", parts.join("; "))
}

/// One piece of advice: "decode in tiles: pipe.vae.enable_tiling() (saves ~1.00 GiB; the failed
/// request came from Decoder.forward (vae.py:300))".
pub fn advice_line(a: &Advice) -> String {
    let saves = a
        .saves_bytes
        .map_or(String::new(), |b| format!("saves ~{}; ", bytes(b)));
    format!("{} ({saves}{})", a.advice.action(), a.evidence)
}

/// How much was missing, in the cause's words: "Needs ~250 MiB more than the device has at this
/// peak."; empty when nothing was missing.
fn shortfall(oom: &OomReport) -> String {
    if oom.short_by_bytes == 0 {
        return String::new();
    }
    let at = match oom.cause {
        OomCause::StepPeak => "at this peak",
        OomCause::ModelTooLarge => "for what it loads",
        OomCause::Leak => "with what the leak keeps",
        _ => "free when it asked",
    };
    format!(
        " It needs ~{} more than the device has {at}.",
        bytes(oom.short_by_bytes)
    )
}

/// The anatomy after the cause's sentence: where the request came from (when its label says
/// more than the failure's), whether a retry freed memory first, the parts, the shortfall and
/// the fix.
fn anatomy(oom: &OomReport, o: &Oom, per: &str) -> String {
    let mut s = String::new();
    if !oom.request.label.is_empty() && oom.request.label != o.label {
        s.push_str(&format!(" The request came from {}.", oom.request.label));
    }
    if oom.request.retried_after_freeing {
        s.push_str(&format!(
            " It had failed just before, and failed again after {} was freed.",
            bytes(oom.request.freed_before_retry_bytes)
        ));
    }
    s.push(' ');
    s.push_str(&parts_line(oom, per));
    if oom.parts.iter().any(|p| p.part == PartKind::Segments) {
        s.push_str(" The caching allocator's segments do not say what in them is working memory, kept or free.");
    }
    let mut cause = oom.cause.title().to_string();
    if let Some(c) = cause.get_mut(..1) {
        c.make_ascii_uppercase();
    }
    s.push_str(&format!(" {cause}.{}", shortfall(oom)));
    // The best fix with its evidence; the others by name (the report lists each with its own).
    if let Some((first, rest)) = oom.advice.split_first() {
        s.push_str(&format!(" Fix: {}", advice_line(first)));
        let others: Vec<&str> = rest.iter().map(|a| a.advice.action()).collect();
        if !others.is_empty() {
            s.push_str(&format!("; or {}", others.join("; or ")));
        }
        s.push('.');
    }
    s
}

/// The diagnosis of failure `o`, the one the program died of.
pub(super) fn out_of_memory(r: &Report, o: &Oom, leaks: &[&Site], per: &str) -> Diagnosis {
    let index = r.ooms.iter().position(|x| std::ptr::eq(x, o));
    let oom = r.oom.as_ref().filter(|x| Some(x.index) == index);
    let cause = oom.map_or(OomCause::StepPeak, |x| x.cause);
    let mut d = sentence(r, o, index, cause, leaks, per);
    if let Some(oom) = oom {
        d.text.push_str(&anatomy(oom, o, per));
    }
    d
}

/// "cudaMalloc of 1.00 GiB by Decoder.forward (vae.py:300) failed on a 4.00 GiB device".
fn which_failed(o: &Oom) -> String {
    let on_device = o
        .device_total_bytes
        .map_or(String::new(), |t| format!(" on a {} device", bytes(t)));
    let by = if o.label.is_empty() {
        String::new()
    } else {
        format!(" by {}", o.label)
    };
    format!(
        "{} of {}{by} failed{on_device}",
        o.api,
        bytes(o.requested_bytes)
    )
}

/// The cause's sentence, in the words the diagnosis has always used.
fn sentence(
    r: &Report,
    o: &Oom,
    index: Option<usize>,
    cause: OomCause,
    leaks: &[&Site],
    per: &str,
) -> Diagnosis {
    let when = match o.iteration {
        Some(i) => format!("in {per} {i}"),
        None => format!("before the first {per}"),
    };
    let failed = which_failed(o);
    // What the walk inside a Python program found at the failure, if one ran.
    let walk = index
        .and_then(|i| oom_holding(r, i))
        .filter(|h| !h.entries.is_empty());
    let said = walk.map_or(String::new(), |h| format!(" {}", holders::oom_breakdown(h)));
    let leaked = leaked_at(r, o);
    let share = if o.live_bytes == 0 {
        0.0
    } else {
        leaked as f64 / o.live_bytes as f64
    };
    let holders = largest_holders(o);
    // Other processes, the CUDA context and memory outside the calls gpuleak sees.
    let outside = match (o.device_total_bytes, o.device_free_bytes) {
        (Some(total), Some(free)) => total.saturating_sub(free).saturating_sub(o.live_bytes),
        _ => 0,
    };
    let outside_note = match o.device_total_bytes {
        Some(total) if outside >= total / 10 => format!(
            " {} more of the device was in use outside this process's allocations (the CUDA \
             context, memory pools' reserve, other processes).",
            bytes(outside)
        ),
        _ => String::new(),
    };
    let d = |cause: Cause, text: String| Diagnosis { cause, text };
    match cause {
        OomCause::Leak if leaked > 0 && !leaks.is_empty() => d(
            Cause::Leak,
            format!(
                "Out of memory {when} because of a leak: {}. The leaking {} held {} ({:.0}%) of \
                 the {} live when {failed}.{said}",
                leak_phrase(r, leaks[0], per),
                if leaks.len() == 1 { "site" } else { "sites" },
                bytes(leaked),
                share * 100.0,
                bytes(o.live_bytes)
            ),
        ),
        OomCause::RequestTooLarge => d(
            Cause::TooLarge,
            format!(
                "Out of memory {when}: one allocation asked for more than the whole device ({} \
                 of {} failed on a {} device), so the work is too large for this GPU as it is \
                 split (batch, resolution or model size), whatever else is freed.{said}",
                o.api,
                bytes(o.requested_bytes),
                bytes(o.device_total_bytes.unwrap_or(0))
            ),
        ),
        OomCause::Fragmentation => {
            let free = o.device_free_bytes.unwrap_or(0);
            let had = if free >= o.requested_bytes {
                format!("the device still had {} free", bytes(free))
            } else {
                let cache = r.oom.as_ref().map_or(0, |x| {
                    x.parts
                        .iter()
                        .find(|p| p.part == PartKind::CacheFree)
                        .map_or(0, |p| p.bytes)
                });
                format!("the allocator's cache held {} free", bytes(cache))
            };
            d(
                Cause::Fragmentation,
                format!(
                    "Out of memory {when} although {had}, more than the {} asked: the free \
                     memory is not in one piece (fragmentation), or is held for another \
                     context. {failed} with {} live; the largest holders: \
                     {holders}.{outside_note}{said}",
                    bytes(o.requested_bytes),
                    bytes(o.live_bytes)
                ),
            )
        }
        OomCause::OtherProcess => d(
            Cause::Elsewhere,
            format!(
                "Out of memory {when}, but this process held only {} of the device's {}: {} \
                 was in use outside its recorded allocations — another process on the same GPU, \
                 memory pools' reserve, or an allocator gpuleak does not see. {failed}.{said}",
                bytes(o.live_bytes),
                bytes(o.device_total_bytes.unwrap_or(0)),
                bytes(outside)
            ),
        ),
        _ if walk.is_some() => {
            let h = walk.unwrap_or_else(|| unreachable!());
            let conclusion = oom_conclusion(r, h);
            let kept = match conclusion {
                OomConclusion::Leaking => {
                    holders::largest_kept(h).map_or(String::new(), |k| format!(" {k}"))
                }
                OomConclusion::InputTooLarge => String::new(),
            };
            d(
                match conclusion {
                    OomConclusion::Leaking => Cause::Leak,
                    OomConclusion::InputTooLarge => Cause::TooLarge,
                },
                format!(
                    "Out of memory {when}: {failed} with {} live.{said} {}{kept}{outside_note}",
                    bytes(o.live_bytes),
                    conclusion.sentence()
                ),
            )
        }
        _ => {
            let early = match o.iteration {
                None => true,
                Some(i) => i < growth::warm_up(r.iterations.count as usize).max(1) as u64,
            };
            if early || cause == OomCause::ModelTooLarge {
                d(
                    Cause::TooLarge,
                    format!(
                        "Out of memory {when}, before memory could grow over {per}s: the work \
                         needs more than the device has (input too large: batch, resolution or \
                         model). {failed} with {} live; the largest holders: \
                         {holders}.{outside_note}",
                        bytes(o.live_bytes)
                    ),
                )
            } else {
                d(
                    Cause::Peak,
                    format!(
                        "Out of memory {when}, with no site growing over {per}s: memory stays \
                         level from {per} to {per}, but this one's peak did not fit. {failed} \
                         with {} live; the largest holders: {holders}.{outside_note}",
                        bytes(o.live_bytes)
                    ),
                )
            }
        }
    }
}
