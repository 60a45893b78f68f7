//! A trace for Perfetto's UI (https://ui.perfetto.dev) in the Chrome trace-event JSON format
//! (`{"traceEvents": [...]}`, which Perfetto, chrome://tracing and speedscope read):
//!
//! - a counter track of the device memory live (device and physical memory, bytes), one point
//!   per allocation or free (those at one microsecond merged);
//! - one counter track per top site (`--top`, largest live at the end, then most allocated),
//!   named by its label;
//! - iterations as slices on their own track (`iteration N`), as the report counts them;
//! - out-of-memory failures as instant events, with the request, what was live, the device's
//!   free and total memory, and the failing call's stack in their arguments.
//!
//! Times are microseconds since the trace began. `--what leaked` keeps the leaking sites'
//! memory only.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::model::{Model, Timeline};

/// Thread ids of the tracks that are not counters.
const ITERATIONS_TID: u64 = 1;
const OOM_TID: u64 = 2;

pub fn document(model: &Model, top: usize) -> Value {
    let pid = u64::from(model.report.process.as_ref().map_or(1, |p| p.pid));
    let mut events: Vec<Value> = vec![
        json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
               "args": {"name": format!("{} — gpuleak", model.process_name())}}),
        json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": ITERATIONS_TID,
               "args": {"name": "iterations"}}),
        json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": OOM_TID,
               "args": {"name": "out of memory"}}),
    ];
    let Some(timeline) = &model.timeline else {
        return json!({ "traceEvents": events });
    };
    counters(model, timeline, pid, top, &mut events);
    for (i, (start, end)) in timeline.iterations().into_iter().enumerate() {
        events.push(json!({
            "ph": "X", "name": format!("iteration {i}"), "cat": "iteration",
            "pid": pid, "tid": ITERATIONS_TID,
            "ts": timeline.micros(start), "dur": (end - start) as f64 / 1000.0,
            "args": {"iteration": i},
        }));
    }
    let start = model.replay.header().map_or(0, |h| h.start_mono_ns);
    for o in &model.report.ooms {
        events.push(json!({
            "ph": "i", "s": "p", "name": format!("out of memory: {} of {} bytes", o.api, o.requested_bytes),
            "cat": "oom", "pid": pid, "tid": OOM_TID,
            "ts": timeline.micros(start + o.time_ns),
            "args": {
                "requested_bytes": o.requested_bytes,
                "live_bytes": o.live_bytes,
                "device_free_bytes": o.device_free_bytes,
                "device_total_bytes": o.device_total_bytes,
                "iteration": o.iteration,
                "retried": o.retried,
                "stack": o.frames,
            },
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "exporter": format!("gpuleak {}", env!("CARGO_PKG_VERSION")),
            "trace": model.trace_name(),
            "measure": model.measure(),
        },
    })
}

/// The device memory counter and one per top site: a point at each change, the changes of one
/// microsecond merged into its last value.
fn counters(model: &Model, timeline: &Timeline, pid: u64, top: usize, events: &mut Vec<Value>) {
    let tops: Vec<usize> = model
        .stacks
        .iter()
        .filter(|s| model.selected().any(|k| k.site == s.site))
        .take(top)
        .map(|s| s.site)
        .collect();
    let mut track_of: HashMap<usize, usize> = HashMap::new();
    for (i, site) in tops.iter().enumerate() {
        track_of.insert(*site, i);
    }
    let names: Vec<String> = tops
        .iter()
        .map(|&i| format!("live: {}", model.report.sites[i].label))
        .collect();
    let mut total: u64 = 0;
    let mut per: Vec<u64> = vec![0; tops.len()];
    let mut last_us: Option<u64> = None;
    let mut dirty: Vec<bool> = vec![false; tops.len()];
    let mut total_dirty = false;
    let flush = |events: &mut Vec<Value>,
                 us: u64,
                 total: u64,
                 total_dirty: &mut bool,
                 per: &[u64],
                 dirty: &mut [bool]| {
        if *total_dirty {
            events.push(
                json!({"ph": "C", "name": "device memory", "pid": pid, "tid": 0,
                               "ts": us, "args": {"bytes": total}}),
            );
            *total_dirty = false;
        }
        for (i, d) in dirty.iter_mut().enumerate() {
            if *d {
                events.push(json!({"ph": "C", "name": names[i], "pid": pid, "tid": 0,
                                   "ts": us, "args": {"bytes": per[i]}}));
                *d = false;
            }
        }
    };
    // Every counter starts at zero with the trace.
    events.push(
        json!({"ph": "C", "name": "device memory", "pid": pid, "tid": 0,
                       "ts": 0, "args": {"bytes": 0}}),
    );
    for name in &names {
        events.push(json!({"ph": "C", "name": name, "pid": pid, "tid": 0,
                           "ts": 0, "args": {"bytes": 0}}));
    }
    for c in timeline
        .changes
        .iter()
        .filter(|c| model.keeps_site(&c.site))
    {
        let us = c.time_ns.saturating_sub(timeline.start_ns) / 1000;
        if last_us.is_some_and(|l| l != us) {
            flush(
                events,
                last_us.unwrap_or(0),
                total,
                &mut total_dirty,
                &per,
                &mut dirty,
            );
        }
        last_us = Some(us);
        let apply = |v: u64| {
            if c.alloc {
                v.saturating_add(c.size)
            } else {
                v.saturating_sub(c.size)
            }
        };
        total = apply(total);
        total_dirty = true;
        if let Some(i) = model.site_of(&c.site).and_then(|s| track_of.get(&s)) {
            per[*i] = apply(per[*i]);
            dirty[*i] = true;
        }
    }
    if let Some(us) = last_us {
        flush(events, us, total, &mut total_dirty, &per, &mut dirty);
    }
}

pub fn render(model: &Model, top: usize) -> String {
    serde_json::to_string(&document(model, top)).unwrap_or_default() + "\n"
}
