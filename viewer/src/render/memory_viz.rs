//! A PyTorch memory snapshot (the pickle `torch.cuda.memory._dump_snapshot` writes), which
//! PyTorch's memory_viz page (https://pytorch.org/memory_viz) and `python -m
//! torch.cuda._memory_viz` (`stats`, `trace`, `trace_plot`, `segment_plot`) open.
//!
//! gpuleak sees what the driver hands out, not what a caching allocator makes of it: each
//! allocation the trace recorded is a segment holding one block of its whole size. For a plain
//! CUDA program those are the program's allocations; under PyTorch's default allocator they are
//! its segments (cudaMalloc), and with `gpuleak run --torch-tensors` its tensors
//! (cudaMallocAsync), as the trace shows them.
//!
//! - `segments`: what is live at the end, one segment and one `active_allocated` block each,
//!   with its stack as `frames` (`filename`, `line`, `name`; innermost first, as PyTorch's).
//! - `device_traces`: per device, every allocation and free in order, as PyTorch's allocator
//!   history records them: `segment_alloc` then `alloc`; `free_requested`, `free_completed`,
//!   then `segment_free`; and `oom` for an allocation that failed for lack of memory, with
//!   what the device had free. Each entry has its address, size, stream, `time_us` (wall clock)
//!   and frames. Like PyTorch's history (`max_entries`), only the latest
//!   [`MAX_TRACE_CHANGES`] allocations and frees are kept.
//!
//! `--what leaked` keeps the leaking sites' memory only, in both.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::Fail;
use crate::model::{Model, Timeline, frame_parts, on_gpu};

/// Allocations and frees kept in `device_traces`, the latest ones.
pub const MAX_TRACE_CHANGES: usize = 200_000;

#[derive(Serialize)]
struct Snapshot {
    segments: Vec<Segment>,
    device_traces: Vec<Vec<TraceEntry>>,
    allocator_settings: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Segment {
    device: i32,
    address: u64,
    total_size: u64,
    allocated_size: u64,
    active_size: u64,
    requested_size: u64,
    stream: u64,
    segment_type: &'static str,
    segment_pool_id: (u64, u64),
    is_expandable: bool,
    frames: Vec<Frame>,
    blocks: Vec<Block>,
}

#[derive(Serialize)]
struct Block {
    address: u64,
    size: u64,
    requested_size: u64,
    state: &'static str,
    frames: Vec<Frame>,
}

#[derive(Serialize)]
struct TraceEntry {
    action: &'static str,
    addr: u64,
    size: u64,
    stream: u64,
    time_us: u64,
    frames: Vec<Frame>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_free: Option<u64>,
}

#[derive(Clone, Serialize)]
struct Frame {
    filename: String,
    line: u32,
    name: String,
}

/// A report stack as PyTorch's frames: innermost first, `??` and 0 where the file or line is
/// not known (as PyTorch writes C++ frames without symbols).
fn frames(names: &[String]) -> Vec<Frame> {
    names
        .iter()
        .map(|n| {
            let p = frame_parts(n);
            Frame {
                filename: p.file.unwrap_or("??").to_string(),
                line: p.line.unwrap_or(0),
                name: p.function.to_string(),
            }
        })
        .collect()
}

pub fn render(model: &Model) -> Result<Vec<u8>, Fail> {
    let Some(timeline) = &model.timeline else {
        return Err(Fail::new(1, "memory-viz: the timeline was not read"));
    };
    let snapshot = snapshot(model, timeline);
    serde_pickle::to_vec(&snapshot, serde_pickle::SerOptions::new()).map_err(|e| {
        Fail::new(
            1,
            format!("{}: cannot write the pickle: {e}", model.path.display()),
        )
    })
}

fn snapshot(model: &Model, timeline: &Timeline) -> Snapshot {
    let mut stacks: HashMap<u32, Vec<Frame>> = HashMap::new();
    let mut frames_of = |stack: u32| -> Vec<Frame> {
        stacks
            .entry(stack)
            .or_insert_with(|| {
                let names: Vec<String> = model
                    .report
                    .sites
                    .iter()
                    .find(|s| s.stack_id == stack)
                    .map(|s| s.frames.clone())
                    .unwrap_or_default();
                frames(&names)
            })
            .clone()
    };
    let device = |d: i32| d.max(0);

    let mut live: Vec<(u64, gpuleak_analysis::LiveAlloc)> = model
        .replay
        .live()
        .iter()
        .filter(|(_, a)| on_gpu(a.kind()))
        .filter(|(_, a)| {
            model.keeps_site(&gpuleak_analysis::SiteKey {
                stack: a.stack,
                kind: a.kind(),
                device: a.device,
            })
        })
        .map(|((_, address), a)| (*address, *a))
        .collect();
    live.sort_by_key(|(address, a)| (a.device, *address));
    // The stream of each live allocation, from its last allocation in the timeline.
    let streams: HashMap<u64, u64> = timeline
        .changes
        .iter()
        .filter(|c| c.alloc)
        .map(|c| (c.address, c.stream))
        .collect();
    let segments = live
        .iter()
        .map(|(address, a)| {
            let f = frames_of(a.stack);
            Segment {
                device: device(a.device),
                address: *address,
                total_size: a.size,
                allocated_size: a.size,
                active_size: a.size,
                requested_size: a.size,
                stream: streams.get(address).copied().unwrap_or(0),
                segment_type: "large",
                segment_pool_id: (0, 0),
                is_expandable: false,
                frames: f.clone(),
                blocks: vec![Block {
                    address: *address,
                    size: a.size,
                    requested_size: a.size,
                    state: "active_allocated",
                    frames: f,
                }],
            }
        })
        .collect();

    let time_us = |t: u64| (timeline.start_unix_ns + t.saturating_sub(timeline.start_ns)) / 1000;
    let kept: Vec<&crate::model::Change> = timeline
        .changes
        .iter()
        .filter(|c| model.keeps_site(&c.site))
        .collect();
    let skip = kept.len().saturating_sub(MAX_TRACE_CHANGES);
    // Entries and failures merged in time order, per device.
    let mut traces: BTreeMap<i32, Vec<(u64, u64, TraceEntry)>> = BTreeMap::new();
    for c in kept.into_iter().skip(skip) {
        let f = frames_of(c.site.stack);
        let actions: &[&'static str] = if c.alloc {
            &["segment_alloc", "alloc"]
        } else {
            &["free_requested", "free_completed", "segment_free"]
        };
        let list = traces.entry(device(c.site.device)).or_default();
        for action in actions {
            list.push((
                c.time_ns,
                c.seq,
                TraceEntry {
                    action,
                    addr: c.address,
                    size: c.size,
                    stream: c.stream,
                    time_us: time_us(c.time_ns),
                    frames: f.clone(),
                    device_free: None,
                },
            ));
        }
    }
    let start = model.replay.header().map_or(0, |h| h.start_mono_ns);
    for o in &model.report.ooms {
        if !matches!(
            o.memory,
            gpuleak_analysis::MemoryClass::Device | gpuleak_analysis::MemoryClass::Physical
        ) {
            continue;
        }
        let t = start + o.time_ns;
        traces
            .entry(device(o.device.unwrap_or(0)))
            .or_default()
            .push((
                t,
                o.seq,
                TraceEntry {
                    action: "oom",
                    addr: 0,
                    size: o.requested_bytes,
                    stream: 0,
                    time_us: time_us(t),
                    frames: frames(&o.frames),
                    device_free: Some(o.device_free_bytes.unwrap_or(0)),
                },
            ));
    }
    let devices = traces.keys().max().map_or(1, |d| *d as usize + 1);
    let mut device_traces: Vec<Vec<TraceEntry>> = (0..devices).map(|_| Vec::new()).collect();
    for (d, mut list) in traces {
        // Stable: the actions of one change keep their order.
        list.sort_by_key(|(t, seq, _)| (*t, *seq));
        device_traces[d as usize] = list.into_iter().map(|(_, _, e)| e).collect();
    }
    Snapshot {
        segments,
        device_traces,
        allocator_settings: BTreeMap::from([(
            "gpuleak",
            format!(
                "exported by gpuleak {} from {}: each recorded allocation is a segment of one block",
                env!("CARGO_PKG_VERSION"),
                model.trace_name()
            ),
        )]),
    }
}
