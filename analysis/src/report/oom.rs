//! The out-of-memory report ([`OomReport`]): for the failure the program died of, the request
//! named as people recognise it, the device split into parts that add up to its total, the cause
//! those parts show, and the advice they justify ([`advice`]).
//!
//! Ages on the report's own clock ([`Clock`]): *loaded* is what was allocated before the work
//! began (with markers, before the first marker; with NVTX ranges, before the iterations'
//! range first opened; else before [`Replay::steps_begin_ns`]: the first launch, or the end of
//! a model's loading); *working* was allocated in the iteration the failure happened in (as
//! [`Clock::iteration_of`] places it); *kept* in an iteration before it. Allocations are grouped
//! by the launches, markers and NVTX range openings seen when they were made: a group never
//! straddles an iteration's start, whichever of them marks it.

use std::collections::HashMap;

use crate::diagnosis::{fatal_oom, leaked_at, oom_conclusion, oom_holding};
use crate::frames::{function_name, is_library_frame, is_python_frame, short_frame};
use crate::memory::SiteKey;
use crate::model::{
    FailedRequest, Level, OomCause, OomPart, OomReport, PartKind, PartShare, Report, Source,
};
use crate::replay::{LiveGroup, OomAnatomy, OomEvent, Replay};
use crate::thresholds::{OOM_PART_NAMES, RETRY_WINDOW_EVENTS};

use super::clock::Clock;

mod advice;
#[cfg(test)]
mod tests;

/// When a live allocation was made, relative to the work and the iteration that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Age {
    Loaded,
    Kept,
    Working,
}

/// The out-of-memory report of the failure `r` dies of; `None` when no device failure stopped
/// it (none, or all retried with success).
pub(super) fn build(replay: &Replay, clock: &Clock, r: &Report) -> Option<OomReport> {
    let index = fatal_oom(r)?;
    let ev = replay.ooms().get(index)?;
    let o = r.ooms.get(index)?;
    let total = ev.mem_info.map(|m| m.total);
    let free = ev.mem_info.map(|m| m.free);
    let parts = parts(replay, clock, r, index, ev);
    let unexplained_bytes = total.map(|t| {
        let sum = parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes));
        (i128::from(t) - i128::from(sum)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    });
    let short_by_bytes = o.requested_bytes.saturating_sub(free.unwrap_or(0));
    let walk = oom_holding(r, index).filter(|h| !h.entries.is_empty());
    let cause = cause(replay, clock, r, index, ev);
    let before_failure = &replay.ooms()[..index];
    let retry = before_failure.iter().rev().find(|x| {
        x.tid == ev.tid
            && x.api == ev.api
            && x.requested_bytes == ev.requested_bytes
            && ev.seq.saturating_sub(x.seq) <= RETRY_WINDOW_EVENTS
    });
    let freed_before_retry_bytes = retry
        .and_then(|x| Some(freed(ev)?.saturating_sub(freed(x)?)))
        .unwrap_or(0);
    let mut report = OomReport {
        index,
        request: FailedRequest {
            label: request_label(&o.frames).unwrap_or_else(|| o.label.clone()),
            api: o.api.clone(),
            bytes: o.requested_bytes,
            retried_after_freeing: freed_before_retry_bytes > 0,
            freed_before_retry_bytes,
        },
        device_total_bytes: total,
        parts,
        unexplained_bytes,
        cause,
        short_by_bytes,
        advice: Vec::new(),
    };
    report.advice = advice::advise(replay, r, &report, walk);
    Some(report)
}

/// Device and physical memory freed before a failure, over the run.
fn freed(o: &OomEvent) -> Option<u64> {
    o.anatomy.as_ref().map(|a| a.freed_bytes)
}

/// "main (app.py:122) → Decoder.forward (vae.py:300) → AttnProcessor2_0.__call__
/// (attention_processor.py:2767)": the program's line, the outermost module `forward` of the
/// libraries it called (the model people know, not one of its layers), and the innermost Python
/// frame; `None` for a stack without Python.
fn request_label(frames: &[String]) -> Option<String> {
    let innermost = frames.iter().position(|f| is_python_frame(f))?;
    let program = frames[innermost..]
        .iter()
        .position(|f| is_python_frame(f) && !is_library_frame(f))
        .map(|i| innermost + i);
    let forward = frames[innermost..program.unwrap_or(frames.len())]
        .iter()
        .rposition(|f| is_python_frame(f) && function_name(f).ends_with(".forward"))
        .map(|i| innermost + i);
    let mut chain: Vec<usize> = [program, forward, Some(innermost)]
        .into_iter()
        .flatten()
        .collect();
    chain.dedup();
    Some(
        chain
            .iter()
            .map(|&i| short_frame(&frames[i]))
            .collect::<Vec<_>>()
            .join(" → "),
    )
}

/// Whether the failure came before the work began: while the program loaded.
pub(super) fn before_the_work(replay: &Replay, clock: &Clock, ev: &OomEvent) -> bool {
    match clock.source {
        Some(Source::Marker) => ev.markers_before == 0,
        Some(Source::Nvtx) => clock
            .range
            .is_none_or(|i| ev.ranges_before.get(i).copied().unwrap_or(0) == 0),
        _ if clock.loading => true,
        // Without markers or ranges, the work begins with the first kernel: a program that
        // launched none has not begun it.
        _ => replay.steps_begin_ns().is_none_or(|t| ev.time_ns < t),
    }
}

/// The age of a group of live allocations at failure `ev`, on the report's clock.
fn age(replay: &Replay, clock: &Clock, ev: &OomEvent, a: &OomAnatomy, g: &LiveGroup) -> Age {
    // Without markers or ranges, as [`before_the_work`] reads it.
    let before_steps = replay.steps_begin_ns().is_none_or(|t| g.time_ns < t);
    match clock.source {
        Some(Source::Marker) if g.markers == 0 => Age::Loaded,
        Some(Source::Marker) if g.markers >= ev.markers_before => Age::Working,
        Some(Source::Marker) => Age::Kept,
        Some(Source::Nvtx) => match clock.range.and_then(|i| a.range_openings.get(i)) {
            Some(&(first, _)) if g.seq < first => Age::Loaded,
            Some(&(_, latest)) if g.seq >= latest => Age::Working,
            Some(_) => Age::Kept,
            None => Age::Loaded,
        },
        Some(Source::Auto) => {
            let auto = clock.auto.as_ref();
            let born = auto.and_then(|x| x.iteration_after(g.launches));
            match (born, clock.iteration_of(ev)) {
                _ if before_steps => Age::Loaded,
                (Some(b), Some(now)) if b >= now => Age::Working,
                // Before the first repetition of the launches but after the work began: a
                // warm-up step, earlier than the one in flight.
                _ => Age::Kept,
            }
        }
        Some(Source::Time) if before_steps => Age::Loaded,
        Some(Source::Time) if clock.window_of(g.time_ns) >= clock.window_of(ev.time_ns) => {
            Age::Working
        }
        Some(Source::Time) => Age::Kept,
        None if clock.loading || before_steps => Age::Loaded,
        None => Age::Working,
    }
}

/// The CUDA library a stack allocated through: by the module of one of its frames, or by the
/// PyTorch function that makes the library's workspace (`frames`, symbolized; PyTorch asks its
/// own allocator for it, so no frame is in the library).
fn library_of(replay: &Replay, stack: u32, frames: &[String]) -> Option<&'static str> {
    let modules = replay.modules();
    let by_module = replay.stack(stack).and_then(|stack| {
        stack.iter().find_map(|f| {
            let path = &modules.get(f.module? as usize)?.path;
            let name = path.rsplit('/').next().unwrap_or(path);
            LIBRARIES
                .iter()
                .find(|(prefix, _)| name.starts_with(prefix))
                .map(|(_, library)| *library)
        })
    });
    by_module.or_else(|| {
        frames.iter().find_map(|f| {
            WORKSPACE_FUNCTIONS
                .iter()
                .find(|(function, _)| function_name(f).contains(function))
                .map(|(_, library)| *library)
        })
    })
}

/// PyTorch's functions that allocate a CUDA library's workspace, and the library's name.
const WORKSPACE_FUNCTIONS: [(&str, &str); 3] = [
    ("at::cuda::getCUDABlasLtWorkspace", "cuBLASLt"),
    ("at::cuda::getCurrentCUDABlasLtHandle", "cuBLASLt"),
    ("at::cuda::getCurrentCUDABlasHandle", "cuBLAS"),
];

/// Shared-object name prefixes of the CUDA libraries that keep workspaces, and their names
/// (cuBLASLt before cuBLAS: its name starts with the other's).
const LIBRARIES: [(&str, &str); 4] = [
    ("libcublasLt", "cuBLASLt"),
    ("libcublas", "cuBLAS"),
    ("libcudnn", "cuDNN"),
    ("libnccl", "NCCL"),
];

/// One part being summed, with what it is made of.
#[derive(Default)]
struct Tally {
    bytes: u64,
    by: HashMap<String, u64>,
}

impl Tally {
    fn add(&mut self, name: String, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        let b = self.by.entry(name).or_insert(0);
        *b = b.saturating_add(bytes);
    }

    fn part(self, part: PartKind, note: String, estimated: bool) -> OomPart {
        let mut by: Vec<PartShare> = self
            .by
            .into_iter()
            .map(|(label, bytes)| PartShare { label, bytes })
            .collect();
        by.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.label.cmp(&b.label)));
        by.truncate(OOM_PART_NAMES);
        OomPart {
            part,
            bytes: self.bytes,
            by,
            estimated,
            note,
        }
    }
}

/// What filled the failing device, largest first, zero parts left out.
fn parts(replay: &Replay, clock: &Clock, r: &Report, index: usize, ev: &OomEvent) -> Vec<OomPart> {
    let sites: HashMap<(u32, gpuleak_trace::MemoryKind, Option<i32>), &crate::model::Site> = r
        .sites
        .iter()
        .map(|s| ((s.stack_id, s.memory, s.device), s))
        .collect();
    let site_of = |k: &SiteKey| sites.get(&(k.stack, k.kind, (k.device >= 0).then_some(k.device)));
    let label_of =
        |k: &SiteKey| site_of(k).map_or_else(|| format!("stack {}", k.stack), |s| s.label.clone());
    let segments = r.visibility.level == Level::Segments;
    let mut libraries_of: HashMap<u32, Option<&'static str>> = HashMap::new();
    let mut loaded = Tally::default();
    let mut kept = Tally::default();
    let mut working = Tally::default();
    let mut libraries = Tally::default();
    let mut program = 0u64;
    let mut parts = Vec::new();
    if let Some(a) = ev.anatomy.as_deref() {
        for g in &a.groups {
            program = program.saturating_add(g.bytes);
            let library = *libraries_of.entry(g.site.stack).or_insert_with(|| {
                let frames = site_of(&g.site).map_or(&[][..], |s| &s.frames[..]);
                library_of(replay, g.site.stack, frames)
            });
            if let Some(library) = library {
                libraries.add(library.to_string(), g.bytes);
                continue;
            }
            let tally = match age(replay, clock, ev, a, g) {
                Age::Loaded => &mut loaded,
                Age::Kept => &mut kept,
                Age::Working => &mut working,
            };
            tally.add(label_of(&g.site), g.bytes);
        }
        program = program.saturating_add(a.ungrouped_bytes);
        let moved = move_weights(
            r,
            index,
            ev,
            segments,
            &mut loaded,
            [&mut kept, &mut working],
        );
        let loaded_note = if moved > 0 {
            format!(
                "with {} of model weights allocated after the work began (parameters and \
                 buffers, as the walk at the failure found them)",
                crate::units::bytes(moved)
            )
        } else {
            String::new()
        };
        let mut working_note = String::new();
        if a.ungrouped_bytes > 0 {
            working.bytes = working.bytes.saturating_add(a.ungrouped_bytes);
            working_note = format!(
                "{} in allocations past the {} largest groups are counted here without their age",
                crate::units::bytes(a.ungrouped_bytes),
                crate::thresholds::OOM_GROUPS
            );
        }
        parts.push(with_models(
            loaded.part(PartKind::Loaded, loaded_note, false),
            r,
            index,
        ));
        if segments {
            let bytes = kept.bytes.saturating_add(working.bytes);
            for (k, b) in working.by {
                kept.add(k, b);
            }
            kept.bytes = bytes;
            parts.push(kept.part(PartKind::Segments, segments_note(r), false));
        } else {
            parts.push(kept.part(PartKind::Kept, String::new(), false));
            let estimated = a.ungrouped_bytes > 0;
            parts.push(working.part(PartKind::Working, working_note, estimated));
        }
        parts.push(libraries.part(
            PartKind::Libraries,
            "allocations whose stack passes through the library".to_string(),
            false,
        ));
    } else {
        program = ev.live_bytes;
        parts.push(OomPart {
            part: PartKind::Working,
            bytes: program,
            by: Vec::new(),
            estimated: true,
            note: "everything this process held, not split by age: the replay let this \
                   failure's split go"
                .to_string(),
        });
    }
    let cache_free = cache_free(r, ev);
    if cache_free > 0 {
        parts.push(OomPart {
            part: PartKind::CacheFree,
            bytes: cache_free,
            by: Vec::new(),
            estimated: false,
            note: "the memory pools' reserve less the live tensors (PyTorch's \"reserved but \
                   unallocated\")"
                .to_string(),
        });
    }
    let others: u64 = ev
        .other_processes
        .iter()
        .flatten()
        .fold(0, |a, (_, b)| a.saturating_add(*b));
    if let Some(list) = &ev.other_processes {
        let mut t = Tally::default();
        for (pid, b) in list {
            t.add(format!("pid {pid}"), *b);
        }
        parts.push(t.part(PartKind::OtherProcesses, String::new(), false));
    }
    if let Some(m) = ev.mem_info {
        let used = m.total.saturating_sub(m.free);
        let outside = used
            .saturating_sub(program)
            .saturating_sub(cache_free)
            .saturating_sub(others);
        parts.push(OomPart {
            part: PartKind::Outside,
            bytes: outside,
            by: Vec::new(),
            estimated: true,
            note: outside_note(ev).to_string(),
        });
        parts.push(OomPart {
            part: PartKind::Free,
            bytes: m.free,
            by: Vec::new(),
            estimated: false,
            note: "as the driver reported it when the request failed".to_string(),
        });
    }
    parts.retain(|p| p.bytes > 0);
    parts.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.part.cmp(&b.part)));
    parts
}

/// What the outside part is, and is not.
fn outside_note(ev: &OomEvent) -> &'static str {
    if ev.other_processes.is_some() {
        "the device's used memory less this process's allocations, its cache and other \
         processes: the CUDA context, loaded modules and allocations made by paths gpuleak does \
         not see"
    } else {
        "the device's used memory less this process's allocations and its cache: the CUDA \
         context, loaded modules, allocations made by paths gpuleak does not see, and other \
         processes (the driver did not say which)"
    }
}

/// What a segment cache does not say.
fn segments_note(r: &Report) -> String {
    let tells = r
        .visibility
        .command
        .as_ref()
        .map_or("recording every tensor".to_string(), |c| format!("`{c}`"));
    format!(
        "the caching allocator does not say which of its segments' bytes are working memory, \
         kept from earlier {per}s or free in its cache; {tells} tells them apart",
        per = r.iterations.unit()
    )
}

/// Free inside the allocator's cache, where every tensor is an event: the pools' reserve less
/// the live stream-ordered allocations; 0 where it cannot be known.
fn cache_free(r: &Report, ev: &OomEvent) -> u64 {
    match ev.anatomy.as_deref() {
        Some(a) if r.visibility.level == Level::Tensors => a
            .pool_reserved_bytes
            .saturating_sub(a.stream_ordered_live_bytes),
        _ => 0,
    }
}

/// The loaded part, its models first where a walk at failure `index` named them.
/// Moves into `loaded` the model weights the walk at the failure found (parameters and buffers,
/// each storage once) that the clock placed later: a model built on the device launches kernels
/// before the work begins, and one loaded mid-run (a server's second model) comes after it; both
/// are what the program loads, not what a step keeps. Each is taken from the site whose memory
/// holds it, kept before working; under a segment cache, where a run of expandable segments'
/// mappings is named by one site but made by several, what no site matched is taken from the
/// segments as a whole. Returns the bytes moved.
fn move_weights(
    r: &Report,
    index: usize,
    ev: &OomEvent,
    segments: bool,
    loaded: &mut Tally,
    mut later: [&mut Tally; 2],
) -> u64 {
    let Some(walk) = oom_holding(r, index) else {
        return 0;
    };
    let mut seen = std::collections::HashSet::new();
    let mut by_site: HashMap<&str, u64> = HashMap::new();
    for e in &walk.entries {
        let weight = matches!(
            e.role,
            gpuleak_trace::Role::Parameter | gpuleak_trace::Role::Buffer
        );
        let here = e.device < 0 || ev.device < 0 || e.device == ev.device;
        if let (true, true, Some(site)) = (weight, here, e.site.as_deref())
            && seen.insert(e.address)
        {
            let b = by_site.entry(site).or_insert(0);
            *b = b.saturating_add(e.bytes);
        }
    }
    let mut moved = 0u64;
    for tally in later.iter_mut() {
        for (site, want) in by_site.iter_mut() {
            let Some(have) = tally.by.get_mut(*site) else {
                continue;
            };
            let take = (*want).min(*have);
            *have -= take;
            *want -= take;
            tally.bytes = tally.bytes.saturating_sub(take);
            loaded.add((*site).to_string(), take);
            moved = moved.saturating_add(take);
        }
        tally.by.retain(|_, b| *b > 0);
    }
    let mut unmatched = by_site.values().fold(0u64, |a, b| a.saturating_add(*b));
    if segments {
        for tally in later.iter_mut() {
            let take = unmatched.min(tally.bytes);
            tally.bytes -= take;
            unmatched -= take;
            loaded.bytes = loaded.bytes.saturating_add(take);
            moved = moved.saturating_add(take);
        }
    }
    moved
}

fn with_models(mut part: OomPart, r: &Report, index: usize) -> OomPart {
    let Some(walk) = oom_holding(r, index) else {
        return part;
    };
    let models: Vec<PartShare> = walk
        .by_model
        .iter()
        .filter(|m| !m.model.is_empty() && m.bytes > 0)
        .take(OOM_PART_NAMES)
        .map(|m| PartShare {
            label: m.model.clone(),
            bytes: m.bytes,
        })
        .collect();
    let sites = std::mem::take(&mut part.by);
    part.by = models;
    part.by.extend(sites);
    part.by.truncate(2 * OOM_PART_NAMES);
    part
}

/// Under PyTorch's native caching allocator the trace sees segments, not what is free inside
/// them; the walk at the failure sees every tensor Python reaches. When the failure is the
/// allocator's retry (it has already given back its wholly free segments) and what no owner
/// covers inside the remaining segments could hold the request, the free memory is there but
/// split between segments kept by a few live tensors each: fragmentation, an estimate (tensors
/// only C++ holds count as free here).
fn fragmented_segments(r: &Report, index: usize, ev: &OomEvent) -> bool {
    // Expandable segments (physical memory) map and unmap pages: what is free inside them is
    // given back, not split.
    let native = r.visibility.level == Level::Segments
        && r.visibility.cache == Some(crate::model::Cache::Pytorch)
        && r.ooms[index].memory == crate::memory::MemoryClass::Device;
    let retried = r.ooms[..index].iter().rev().any(|x| {
        x.api == r.ooms[index].api
            && x.requested_bytes == ev.requested_bytes
            && ev.seq.saturating_sub(x.seq) <= RETRY_WINDOW_EVENTS
    });
    native
        && retried
        && oom_holding(r, index)
            .is_some_and(|h| !h.entries.is_empty() && h.unheld_bytes >= ev.requested_bytes)
}

/// What the parts show made the request fail: the rules the diagnosis has always read (a leak
/// holding at least what was missing, a request larger than the device, free bytes not in one
/// piece, memory outside the process), then whether the program was still loading.
fn cause(replay: &Replay, clock: &Clock, r: &Report, index: usize, ev: &OomEvent) -> OomCause {
    let o = &r.ooms[index];
    let leaked = leaked_at(r, o);
    let share = if o.live_bytes == 0 {
        0.0
    } else {
        leaked as f64 / o.live_bytes as f64
    };
    let caused = match o.device_free_bytes {
        Some(free) => leaked > 0 && leaked >= o.requested_bytes.saturating_sub(free),
        None => share >= crate::thresholds::LEAK_SHARE,
    };
    if caused && r.sites.iter().any(|s| s.leaks()) {
        return OomCause::Leak;
    }
    if o.device_total_bytes
        .is_some_and(|total| o.requested_bytes > total)
    {
        return OomCause::RequestTooLarge;
    }
    let cache_free = cache_free(r, ev);
    if o.device_free_bytes.is_some_and(|f| f >= o.requested_bytes)
        || (cache_free > 0 && cache_free >= o.requested_bytes)
    {
        return OomCause::Fragmentation;
    }
    if let (Some(total), Some(free)) = (o.device_total_bytes, o.device_free_bytes) {
        let outside = total.saturating_sub(free).saturating_sub(o.live_bytes);
        if outside > o.live_bytes && outside >= total / 4 {
            return OomCause::OtherProcess;
        }
    }
    if fragmented_segments(r, index, ev) {
        return OomCause::Fragmentation;
    }
    if let Some(h) = oom_holding(r, index).filter(|h| !h.entries.is_empty())
        && oom_conclusion(r, h) == crate::diagnosis::OomConclusion::Leaking
    {
        return OomCause::Leak;
    }
    if before_the_work(replay, clock, ev) {
        return OomCause::ModelTooLarge;
    }
    OomCause::StepPeak
}
