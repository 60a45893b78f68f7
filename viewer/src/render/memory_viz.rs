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
//!   and frames. Like PyTorch's history (`max_entries`), only the latest allocations and frees
//!   are kept (`--max-entries`, [`MAX_ENTRIES`](crate::filter::MAX_ENTRIES) by default), and what was cut is said.
//!
//! `--what leaked` keeps the leaking sites' memory only, in both.
//!
//! The file stays near the trace's size: each stack is written once and every entry of it
//! refers to it (the pickle's memo, see [`super::pickle`]), and the pickle is written as it
//! goes, with no copy of the snapshot.

use std::collections::{BTreeMap, HashMap};

use super::pickle::{Memo, Pickler};
use crate::error::Fail;
use crate::format::thousands;
use crate::model::{Change, Model, Timeline, frame_parts, on_gpu};

/// The pickle, and a line saying what of the history was left out, if anything.
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub note: Option<String>,
}

/// The snapshot, its history cut to the latest `max_entries` allocations and frees (0: all).
pub fn render(model: &Model, max_entries: usize) -> Result<Rendered, Fail> {
    let Some(timeline) = &model.timeline else {
        return Err(Fail::new(1, "memory-viz: the timeline was not read"));
    };
    let kept: Vec<&Change> = timeline
        .changes
        .iter()
        .filter(|c| model.keeps_site(&c.site))
        .collect();
    let skip = match max_entries {
        0 => 0,
        n => kept.len().saturating_sub(n),
    };
    let note = (skip > 0).then(|| {
        format!(
            "memory-viz: the history keeps the latest {} of {} allocations and frees \
             (--max-entries); the segments live at the end are all there",
            thousands(kept.len() - skip),
            thousands(kept.len()),
        )
    });
    let mut p = Pickler::new();
    let mut frames = Frames::new(model);
    p.dict();
    p.key("segments");
    segments(&mut p, &mut frames, model, timeline);
    p.key("device_traces");
    device_traces(&mut p, &mut frames, model, timeline, &kept[skip..]);
    p.key("allocator_settings");
    p.dict();
    p.key("gpuleak");
    let mut about = format!(
        "exported by gpuleak {} from {}: each recorded allocation is a segment of one block",
        env!("CARGO_PKG_VERSION"),
        model.trace_name()
    );
    if let Some(n) = &note {
        about.push_str("; ");
        about.push_str(n.trim_start_matches("memory-viz: "));
    }
    p.str(&about);
    p.end_dict();
    p.end_dict();
    Ok(Rendered {
        bytes: p.finish(),
        note,
    })
}

/// Each stack's frames as PyTorch writes them, written once and referred to after.
struct Frames<'a> {
    model: &'a Model,
    /// The report's site of each stack id, for its frames.
    site_of_stack: HashMap<u32, usize>,
    stacks: HashMap<u32, Memo>,
}

impl<'a> Frames<'a> {
    fn new(model: &'a Model) -> Frames<'a> {
        let mut site_of_stack = HashMap::new();
        for (i, s) in model.report.sites.iter().enumerate() {
            site_of_stack.entry(s.stack_id).or_insert(i);
        }
        Frames {
            model,
            site_of_stack,
            stacks: HashMap::new(),
        }
    }

    /// The frames of a recorded stack, innermost first.
    fn stack(&mut self, p: &mut Pickler, stack: u32) {
        if let Some(&m) = self.stacks.get(&stack) {
            return p.get(m);
        }
        let model = self.model;
        let names: &'a [String] = self
            .site_of_stack
            .get(&stack)
            .map_or(&[], |&i| model.report.sites[i].frames.as_slice());
        let m = p.list(true).expect("memoized");
        for n in names {
            p.next();
            self.frame(p, n);
        }
        p.end_list();
        self.stacks.insert(stack, m);
    }

    /// Frames not of a recorded stack (an out-of-memory failure's).
    fn list(&mut self, p: &mut Pickler, names: &[String]) {
        p.list(false);
        for n in names {
            p.next();
            self.frame(p, n);
        }
        p.end_list();
    }

    /// One frame, written out (it is in a shared list): `??` and 0 where the file or line is
    /// not known (as PyTorch writes C++ frames without symbols).
    fn frame(&mut self, p: &mut Pickler, name: &str) {
        let parts = frame_parts(name);
        p.dict();
        p.key_inline("filename");
        p.str_inline(parts.file.unwrap_or("??"));
        p.key_inline("line");
        p.uint(u64::from(parts.line.unwrap_or(0)));
        p.key_inline("name");
        p.str_inline(parts.function);
        p.end_dict();
    }
}

/// PyTorch's device index: gpuleak's -1 (no device known) is device 0.
fn device(d: i32) -> i32 {
    d.max(0)
}

fn segments(p: &mut Pickler, frames: &mut Frames, model: &Model, timeline: &Timeline) {
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
    let mut streams: HashMap<u64, u64> = HashMap::with_capacity(live.len());
    for c in timeline.changes.iter().filter(|c| c.alloc) {
        streams.insert(c.address, c.stream);
    }
    p.list(false);
    for (address, a) in &live {
        p.next();
        p.dict();
        p.key("device");
        p.int(i64::from(device(a.device)));
        p.key("address");
        p.uint(*address);
        for key in [
            "total_size",
            "allocated_size",
            "active_size",
            "requested_size",
        ] {
            p.key(key);
            p.uint(a.size);
        }
        p.key("stream");
        p.uint(streams.get(address).copied().unwrap_or(0));
        p.key("segment_type");
        p.str("large");
        p.key("segment_pool_id");
        p.pair(0, 0);
        p.key("is_expandable");
        p.bool(false);
        p.key("frames");
        frames.stack(p, a.stack);
        p.key("blocks");
        p.list(false);
        p.next();
        p.dict();
        p.key("address");
        p.uint(*address);
        p.key("size");
        p.uint(a.size);
        p.key("requested_size");
        p.uint(a.size);
        p.key("state");
        p.str("active_allocated");
        p.key("frames");
        frames.stack(p, a.stack);
        p.end_dict();
        p.end_list();
        p.end_dict();
    }
    p.end_list();
}

/// What one history entry comes from.
#[derive(Clone, Copy)]
enum Source {
    /// An allocation or free (index into the changes kept).
    Change(usize),
    /// An out-of-memory failure (index into the report's).
    Oom(usize),
}

fn device_traces<'a>(
    p: &mut Pickler,
    frames: &mut Frames<'a>,
    model: &'a Model,
    timeline: &Timeline,
    kept: &[&Change],
) {
    let time_us = |t: u64| (timeline.start_unix_ns + t.saturating_sub(timeline.start_ns)) / 1000;
    // Entries and failures merged in time order, per device: only where each comes from is
    // held, and each entry is written from it.
    let mut traces: BTreeMap<i32, Vec<(u64, u64, Source)>> = BTreeMap::new();
    for (i, c) in kept.iter().enumerate() {
        traces.entry(device(c.site.device)).or_default().push((
            c.time_ns,
            c.seq,
            Source::Change(i),
        ));
    }
    let start = model.replay.header().map_or(0, |h| h.start_mono_ns);
    for (i, o) in model.report.ooms.iter().enumerate() {
        if matches!(
            o.memory,
            gpuleak_analysis::MemoryClass::Device | gpuleak_analysis::MemoryClass::Physical
        ) {
            traces
                .entry(device(o.device.unwrap_or(0)))
                .or_default()
                .push((start + o.time_ns, o.seq, Source::Oom(i)));
        }
    }
    let devices = traces.keys().max().map_or(1, |d| *d + 1);
    p.list(false);
    for d in 0..devices {
        p.next();
        p.list(false);
        let mut list = traces.remove(&d).unwrap_or_default();
        list.sort_by_key(|(t, seq, _)| (*t, *seq));
        for (t, _, source) in list {
            match source {
                Source::Change(i) => {
                    let c = kept[i];
                    let actions: &[&str] = if c.alloc {
                        &["segment_alloc", "alloc"]
                    } else {
                        &["free_requested", "free_completed", "segment_free"]
                    };
                    for action in actions {
                        p.next();
                        entry(p, action, c.address, c.size, c.stream, time_us(t));
                        frames.stack(p, c.site.stack);
                        p.end_dict();
                    }
                }
                Source::Oom(i) => {
                    let o = &model.report.ooms[i];
                    p.next();
                    entry(p, "oom", 0, o.requested_bytes, 0, time_us(t));
                    frames.list(p, &o.frames);
                    p.key("device_free");
                    p.uint(o.device_free_bytes.unwrap_or(0));
                    p.end_dict();
                }
            }
        }
        p.end_list();
    }
    p.end_list();
}

/// A history entry, open at its `frames`, which the caller writes (and closes the dict).
fn entry(p: &mut Pickler, action: &str, addr: u64, size: u64, stream: u64, time_us: u64) {
    p.dict();
    p.key("action");
    p.str(action);
    p.key("addr");
    p.uint(addr);
    p.key("size");
    p.uint(size);
    p.key("stream");
    p.uint(stream);
    p.key("time_us");
    p.uint(time_us);
    p.key("frames");
}
