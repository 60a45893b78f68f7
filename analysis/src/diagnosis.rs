//! Why memory ran out, or would: the report's figures read as one or two sentences a person can
//! act on. The question users bring is "CUDA out of memory after some steps: is my input too
//! large, is something wasteful, or does something leak?", and each answer points somewhere
//! different (a smaller batch, the allocator's settings, a line of code).
//!
//! Built from a finished [`Report`] alone, so the text report, the JSON and the live view say
//! the same thing.

use crate::growth::Verdict;
use crate::memory::MemoryClass;
use crate::model::{Cache, Report, Site, Source};
pub use crate::model::{Cause, Diagnosis};
use crate::units::bytes;

use crate::thresholds::{POOL_FACTOR, POOL_MIN};

mod holders;
mod oom;
mod phrases;
pub use holders::{OomConclusion, largest_kept, last_holding, oom_conclusion, oom_holding};
pub use oom::{advice_line, fatal_oom, leaked_at, part_line, parts_line};
use phrases::{count_sites, largest_holders, leak_phrase};
pub use phrases::{held, which_device};

/// The diagnoses of a report, most important first; empty for a trace with no device memory.
pub fn diagnose(r: &Report) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    let leaks: Vec<&Site> = r.sites.iter().filter(|s| s.leaks()).collect();
    let per = r.iterations.unit();
    // The last failure is the one a program dies of; failures retried with success (PyTorch
    // empties its cache and tries again) did not stop it.
    // Device and physical (cuMemCreate) memory fill the same GPU.
    let device_ooms = || {
        r.ooms
            .iter()
            .filter(|o| matches!(o.memory, MemoryClass::Device | MemoryClass::Physical))
    };
    if let Some(i) = fatal_oom(r) {
        out.push(oom::out_of_memory(r, &r.ooms[i], &leaks, per));
    } else if let Some(o) = device_ooms().next_back() {
        let n = device_ooms().count();
        let when = match o.iteration {
            Some(i) => format!("by {per} {i}"),
            None => format!("before the first {per}"),
        };
        out.push(Diagnosis {
            cause: Cause::AtLimit,
            text: format!(
                "Memory reached the device's limit {when}: {} failed and each was retried with \
                 success once the program freed memory (PyTorch's caching allocator empties \
                 its cache and tries again), so the run went on, at the cost of those pauses. \
                 The largest holders then: {}.",
                if n == 1 {
                    format!("{} of {}", o.api, bytes(o.requested_bytes))
                } else {
                    format!("{n} allocations")
                },
                largest_holders(o)
            ),
        });
    }
    // A leak that did not cause the failure (or there was none) still fills the device.
    if let Some(first) = leaks.first()
        && out.first().is_none_or(|d| d.cause != Cause::Leak)
    {
        let opening = match (out.is_empty(), r.complete) {
            (true, true) => "No out-of-memory failure in this run, but",
            // A trace still being written (or cut short): what is known so far.
            (true, false) => "No out-of-memory failure so far, but",
            (false, _) => "Besides,",
        };
        let mut text = format!(
            "{opening} {} {} memory every {per}: {}",
            count_sites(leaks.len()),
            if leaks.len() == 1 { "keeps" } else { "keep" },
            leak_phrase(r, first, per)
        );
        if let Some(n) = first.full_at_iteration {
            text.push_str(&format!(
                "; at this rate {} is full at {per} ~{n}",
                which_device(r, first)
            ));
        }
        text.push('.');
        out.push(Diagnosis {
            cause: Cause::Leak,
            text,
        });
    }
    // Growth in all with no leaking site: name the site that explains most of it, if one does;
    // else each growing allocation came from somewhere else.
    let device_growth = r.iterations.device_bytes_per_iteration().unwrap_or(0);
    let main_grower = r
        .sites
        .iter()
        .filter(|s| matches!(s.verdict(), Some(Verdict::Plateau | Verdict::Steady)))
        .filter(|s| s.bytes_per_iteration().is_some_and(|b| b > 0))
        .max_by_key(|s| s.bytes_per_iteration())
        .filter(|s| 2 * s.bytes_per_iteration().unwrap_or(0) > device_growth);
    if leaks.is_empty()
        && r.iterations.device_leaks()
        && out.first().is_none_or(|d| d.cause != Cause::Leak)
        && let Some(s) = main_grower
    {
        out.push(Diagnosis {
            cause: Cause::GrowthAtSite,
            text: format!(
                "Device memory grows {}/{per} in all, most of it at {}: +{}/{per} ({}). Its \
                 own {per}s do not climb steadily enough to call it a leak (judged {}): watch it \
                 over a longer run.",
                bytes(device_growth.unsigned_abs()),
                s.label,
                bytes(s.bytes_per_iteration().unwrap_or(0).unsigned_abs()),
                held(s, r.complete),
                s.verdict().map_or("-", Verdict::as_str)
            ),
        });
    } else if leaks.is_empty()
        && r.iterations.device_leaks()
        && out.first().is_none_or(|d| d.cause != Cause::Leak)
    {
        out.push(Diagnosis {
            cause: Cause::GrowthUnattributed,
            text: format!(
                "Device memory grows {}/{per} in all, but no single call site leaks: the \
                 allocations that grow are made from different places each time. That is how \
                 PyTorch's caching allocator looks (it asks the driver for a new segment \
                 wherever a tensor no longer fits); `gpuleak run --torch-tensors` makes every \
                 tensor an event, so the leaking line shows.",
                bytes(
                    r.iterations
                        .device_bytes_per_iteration()
                        .unwrap_or(0)
                        .unsigned_abs()
                )
            ),
        });
    }
    let pools = r.pools.reserved_bytes_at_end;
    let live = r.memory.device_plus_physical_live_bytes_at_end;
    if pools >= POOL_MIN && pools >= live.saturating_mul(POOL_FACTOR) {
        out.push(Diagnosis {
            cause: Cause::PoolRetention,
            text: format!(
                "Memory pools still hold {} while {} is live: what the program freed stays \
                 reserved for reuse (the stream-ordered pool's release threshold, or PyTorch's \
                 caching allocator). nvidia-smi and other processes see it as used; it is not a \
                 leak, and trimming the pool (torch.cuda.empty_cache(), cuMemPoolTrimTo) gives \
                 it back.",
                bytes(pools),
                bytes(live)
            ),
        });
    }
    if let Some(saw) = r
        .sites
        .iter()
        .filter(|s| s.verdict() == Some(Verdict::Sawtooth))
        .max_by_key(|s| s.bytes_per_iteration())
    {
        out.push(Diagnosis {
            cause: Cause::HeldPerCycle,
            text: format!(
                "{} keeps {}/{per} through each cycle (an image, say) and gives it back at the \
                 cycle's end: no leak, but it raises the peak with every {per} of the cycle. \
                 If nothing needs it until then (an autograd graph kept without \
                 torch.no_grad(), a per-step preview), freeing it each {per} lowers the peak.",
                saw.label,
                bytes(saw.bytes_per_iteration().unwrap_or(0).unsigned_abs())
            ),
        });
    }
    let judged = r.sites.iter().any(|s| s.verdict().is_some());
    if out.is_empty() && (judged || !r.visibility.causes.is_empty()) {
        out.push(no_growth(r, per));
    }
    say_the_unit(r, &mut out);
    out
}

/// The first diagnosis that gives a rate per iteration says what an iteration is, when the
/// program did not mark it: a repetition of the launches may be a request of several steps, and
/// "+128 KiB/iteration" then means 32 KiB a step. Time windows say what they are in their name.
fn say_the_unit(r: &Report, out: &mut [Diagnosis]) {
    if r.iterations.source != Some(Source::Auto) {
        return;
    }
    let Some(meaning) = r.iterations.unit_meaning() else {
        return;
    };
    let rated = out.iter_mut().find(|d| {
        matches!(
            d.cause,
            Cause::Leak | Cause::GrowthAtSite | Cause::GrowthUnattributed | Cause::HeldPerCycle
        )
    });
    if let Some(d) = rated {
        let mut chars = meaning.chars();
        let first = chars.next().map(|c| c.to_uppercase().to_string());
        d.text = format!(
            "{} {}{}.",
            d.text,
            first.unwrap_or_default(),
            chars.as_str()
        );
    }
}

/// A run in which nothing grows: healthy only when a leak would have shown.
fn no_growth(r: &Report, per: &str) -> Diagnosis {
    let v = &r.visibility;
    let n = r.iterations.count;
    let peak = bytes(r.memory.device_plus_physical_peak_live_bytes);
    if v.iterations_needed.is_some() && n == 0 {
        return Diagnosis {
            cause: Cause::TooFewIterations,
            text: format!(
                "No {per} yet: the program was still loading (its launches repeat one kernel \
                 while memory only climbs, a kernel per parameter), and loading is not a leak. \
                 Judging needs {} {per}s or more: record past the loading. Device memory \
                 peaked at {peak}.",
                crate::model::HEALTHY_MIN_ITERATIONS
            ),
        };
    }
    // Time windows before the steps begin are the program loading: only those after count.
    let judged = crate::model::HEALTHY_MIN_ITERATIONS - v.iterations_needed.unwrap_or(0);
    if let Some(more) = v.iterations_needed
        && judged < n
    {
        return Diagnosis {
            cause: Cause::TooFewIterations,
            text: format!(
                "Only {judged} of the {n} {per}s come after the program loaded its model \
                 (before, it loads: until its first kernel launch, or while one kernel per \
                 parameter builds it): too few to tell a leak from warm-up, so this run \
                 says nothing about leaks yet. Judging needs {} {per}s or more ({more} more) \
                 past the loading. Device memory peaked at {peak}.",
                crate::model::HEALTHY_MIN_ITERATIONS
            ),
        };
    }
    if let Some(more) = v.iterations_needed {
        return Diagnosis {
            cause: Cause::TooFewIterations,
            text: format!(
                "Only {n} {per}{}: too few to tell a leak from warm-up, so this run says \
                 nothing about leaks yet. Judging needs {} {per}s or more ({more} more): run \
                 more steps or images. Device memory peaked at {peak}.",
                if n == 1 { "" } else { "s" },
                crate::model::HEALTHY_MIN_ITERATIONS
            ),
        };
    }
    if let Some(cache) = v.cache {
        let who = match cache {
            Cache::Pytorch => "PyTorch's caching allocator",
            Cache::Cupy => "CuPy's memory pool",
            Cache::Pool => {
                "the program (it never gave any back to the driver, as a pool that keeps what \
                 is freed does)"
            }
        };
        let how = match &v.command {
            Some(cmd) => format!("`{cmd}` records every tensor and shows it"),
            None if cache == Cache::Cupy => {
                "The blocks inside CuPy's pool are not seen".to_string()
            }
            None => "Only the allocator itself can show what it hands out".to_string(),
        };
        return Diagnosis {
            cause: Cause::HiddenByCache,
            text: format!(
                "No growth in the memory {who} asks the driver for over the {n} {per}s (peak \
                 {peak}), but that is not \"no leak\": it hands out blocks from memory it \
                 already holds, so a leak smaller than its unused part makes no allocation \
                 gpuleak can see. {how}."
            ),
        };
    }
    // Windows that cut the program's steps apart show no growth of a leak smaller than a step's
    // swing: "no leak" waits for the steps.
    if r.iterations.windows_cut_steps {
        return Diagnosis {
            cause: Cause::TooFewIterations,
            text: format!(
                "No site's memory grows over the {n} {per}s so far, but the program's steps are \
                 not found yet (its kernels repeat, not yet often enough to tell where a step \
                 starts), and {per}s cut steps apart: this says nothing yet about memory kept \
                 from step to step. Device memory peaked at {peak}."
            ),
        };
    }
    Diagnosis {
        cause: Cause::Healthy,
        text: format!(
            "No leak: no site's memory grows over the {n} {per}s, and device memory peaked at \
             {peak}."
        ),
    }
}
