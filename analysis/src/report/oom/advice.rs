//! The changes an out-of-memory report proposes ([`Advice`]), each only with the evidence that
//! justifies it, most saved first. Not proposed, for want of evidence in a trace: decoding one
//! image at a time (`VaeSlicing`: nothing recorded tells how many images a decode holds).

use gpuleak_trace::Role;

use crate::frames::{function_name, is_python_frame, short_frame};
use crate::model::{
    Advice, AdviceKind, Cache, Holding, Level, OomCause, OomPart, OomReport, PartKind, Report,
};
use crate::replay::Replay;
use crate::units::bytes;

/// The advice for `oom`, read from the report `r` it belongs to and the walk at its failure.
pub(super) fn advise(
    replay: &Replay,
    r: &Report,
    oom: &OomReport,
    walk: Option<&Holding>,
) -> Vec<Advice> {
    let frames = &r.ooms[oom.index].frames;
    let part = |k: PartKind| {
        oom.parts
            .iter()
            .find(|p| p.part == k)
            .map_or(0, |p| p.bytes)
    };
    let total = oom.device_total_bytes.unwrap_or(0);
    let loaded = part(PartKind::Loaded);
    // What the iteration in flight holds: its working memory, or under a segment cache, the
    // segments made since the work began.
    let working = part(PartKind::Working).max(part(PartKind::Segments));
    let mut out = Vec::new();
    let mut give = |advice: AdviceKind, saves_bytes: Option<u64>, evidence: String| {
        out.push(Advice {
            advice,
            saves_bytes,
            evidence,
        })
    };
    if let Some(f) = frame_in(frames, |file, function| {
        (file == "autoencoder_kl.py" || file == "vae.py")
            && (function.contains("Decoder") || function.contains("decode"))
    }) {
        give(
            AdviceKind::VaeTiling,
            (working > 0).then_some(working),
            format!(
                "the failed request came from {} (saves about the working memory, an estimate)",
                short_frame(f)
            ),
        );
    }
    if let Some(f) = frame_in(frames, |file, _| file == "attention_processor.py") {
        give(
            AdviceKind::AttentionSlicing,
            None,
            format!("the failed request came from {}", short_frame(f)),
        );
    }
    let models: Vec<(&str, u64)> = walk
        .map(|h| {
            h.by_model
                .iter()
                .filter(|m| !m.model.is_empty() && m.bytes > 0)
                .map(|m| (m.model.as_str(), m.bytes))
                .collect()
        })
        .unwrap_or_default();
    let largest = models.iter().map(|m| m.1).max().unwrap_or(0);
    if total > 0 && loaded >= total.div_ceil(2) && models.len() >= 2 {
        let all = models.iter().fold(0u64, |a, m| a.saturating_add(m.1));
        // Offloading keeps on the device only the model at work: the one whose class the
        // failed request's frames run (`AutoencoderKL.decode`), else, not knowing, the largest.
        let running = models
            .iter()
            .filter(|(m, _)| model_class(m).is_some_and(|c| runs_class(frames, c)))
            .fold(0u64, |a, m| a.saturating_add(m.1));
        let (stays, which) = if running > 0 {
            (running, "the model the failed request ran stays")
        } else {
            (largest, "the largest stays")
        };
        give(
            AdviceKind::ModelCpuOffload,
            Some(all.saturating_sub(stays)),
            format!(
                "{} of the device's {} was loaded before the work began, in {} models ({which}): {}",
                bytes(loaded),
                bytes(total),
                models.len(),
                models
                    .iter()
                    .map(|(m, b)| format!("{m} {}", bytes(*b)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if oom.cause == OomCause::ModelTooLarge
        && let Some((model, size)) = models.iter().max_by_key(|m| m.1)
    {
        // What the device has for one model once every other model is off it: all but what
        // other processes, the CUDA context and libraries hold.
        let room = total
            .saturating_sub(part(PartKind::Outside))
            .saturating_sub(part(PartKind::OtherProcesses))
            .saturating_sub(part(PartKind::Libraries));
        if size.saturating_add(oom.request.bytes) > room {
            give(
                AdviceKind::SequentialCpuOffload,
                None,
                format!(
                    "{model} had {} on the device and asked for {} more, beyond the {} the \
                     device has for one model",
                    bytes(*size),
                    bytes(oom.request.bytes),
                    bytes(room)
                ),
            );
        }
    }
    let fp32: u64 = walk.map_or(0, |h| {
        h.entries
            .iter()
            .filter(|e| matches!(e.role, Role::Parameter | Role::Buffer))
            .filter(|e| e.owner.starts_with("Tensor float32"))
            .fold(0u64, |a, e| a.saturating_add(e.bytes))
    });
    // Half precision halves them: worth saying when that is a share of the device worth having
    // and, when something was missing, all of it.
    if fp32 / 2 >= (total / 100).max(oom.short_by_bytes).max(1) {
        give(
            AdviceKind::HalfPrecision,
            Some(fp32 / 2),
            format!(
                "{} of weights are float32 tensors, as the walk at the failure found them",
                bytes(fp32)
            ),
        );
    }
    if let Some(evidence) = smaller_input(oom, working, loaded, total) {
        give(AdviceKind::SmallerInput, Some(oom.short_by_bytes), evidence);
    }
    let native_cache = r.visibility.level == Level::Segments
        && r.visibility.cache == Some(Cache::Pytorch)
        && replay
            .totals(crate::memory::MemoryClass::Physical)
            .allocations
            == 0;
    if oom.cause == OomCause::Fragmentation && native_cache {
        give(
            AdviceKind::ExpandableSegments,
            None,
            format!(
                "{} was free on the device, more than the {} asked, under PyTorch's native \
                 caching allocator, whose segments cannot grow",
                bytes(part(PartKind::Free)),
                bytes(oom.request.bytes)
            ),
        );
    }
    if oom.cause == OomCause::Leak {
        let o = &r.ooms[oom.index];
        let leaked = crate::diagnosis::leaked_at(r, o);
        let kept = walk.and_then(crate::diagnosis::largest_kept);
        let site = r.sites.iter().find(|s| s.leaks()).map(|s| s.label.as_str());
        let evidence = match (kept, site) {
            (Some(k), _) => k.trim_end_matches('.').to_string(),
            (None, Some(site)) => format!(
                "the leaking site {site} held {} at the failure",
                bytes(leaked)
            ),
            (None, None) => format!(
                "memory kept from earlier {}s: {}",
                r.iterations.unit(),
                bytes(part(PartKind::Kept))
            ),
        };
        give(
            AdviceKind::FreeLeak,
            (leaked > 0).then_some(leaked),
            evidence,
        );
    }
    if oom.cause == OomCause::OtherProcess
        && let Some(p) = oom
            .parts
            .iter()
            .find(|p| p.part == PartKind::OtherProcesses)
    {
        give(
            AdviceKind::FreeOtherProcesses,
            Some(p.bytes),
            others_evidence(p),
        );
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.saves_bytes));
    out
}

/// Why a smaller input would fit, for a step's peak or a request larger than the device: the
/// share of the current input that would, with memory taken to grow in proportion to it (an
/// estimate); `None` for other causes, or when nothing was missing.
fn smaller_input(oom: &OomReport, working: u64, loaded: u64, total: u64) -> Option<String> {
    if oom.short_by_bytes == 0 {
        return None;
    }
    let percent = |part: u64, whole: u64| {
        (u128::from(part) * 100)
            .checked_div(u128::from(whole))
            .map_or(0, |p| p.min(99) as u64)
    };
    match oom.cause {
        OomCause::RequestTooLarge => Some(format!(
            "one request of {} on a {} device: at most about {}% of the current input would fit \
             (an estimate)",
            bytes(oom.request.bytes),
            bytes(total),
            percent(total, oom.request.bytes)
        )),
        OomCause::StepPeak => {
            let peak = working.saturating_add(oom.request.bytes);
            let fits = percent(peak.saturating_sub(oom.short_by_bytes), peak);
            (fits > 0).then(|| {
                format!(
                    "working memory {} on {} loaded, device {}: about {fits}% of the current \
                     input would fit (an estimate)",
                    bytes(peak),
                    bytes(loaded),
                    bytes(total)
                )
            })
        }
        _ => None,
    }
}

/// "pid 4242 held 1.00 GiB, pid 77 held 512 MiB on the device".
fn others_evidence(p: &OomPart) -> String {
    let each: Vec<String> =
        p.by.iter()
            .map(|s| format!("{} held {}", s.label, bytes(s.bytes)))
            .collect();
    format!("{} on the device when the request failed", each.join(", "))
}

/// The innermost Python frame whose file name and function `wanted` accepts.
/// The class a model is named with: `vae (AutoencoderKL)` → `AutoencoderKL`.
fn model_class(model: &str) -> Option<&str> {
    let class = model.rsplit_once(" (")?.1.strip_suffix(')')?;
    (!class.is_empty()).then_some(class)
}

/// Whether a Python frame of `frames` runs a method of `class` (`AutoencoderKL.decode`).
fn runs_class(frames: &[String], class: &str) -> bool {
    frame_in(frames, |_, function| {
        function
            .strip_prefix(class)
            .is_some_and(|rest| rest.starts_with('.'))
    })
    .is_some()
}

fn frame_in(frames: &[String], wanted: impl Fn(&str, &str) -> bool) -> Option<&String> {
    frames.iter().filter(|f| is_python_frame(f)).find(|f| {
        let function = function_name(f);
        let source = f[function.len()..]
            .trim_start_matches(" (")
            .trim_end_matches(')');
        let file = source.rsplit_once(':').map_or(source, |(file, _)| file);
        let file = file.rsplit('/').next().unwrap_or(file);
        wanted(file, function)
    })
}
