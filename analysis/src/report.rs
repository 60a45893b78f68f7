//! The report: what a replay found, in the shape `gpuleak report --format json` prints.
//!
//! The JSON is an interface other tools read: field names are fixed, new fields are only ever
//! added beside old ones, and `schema` changes when a field changes meaning.

use gpuleak_trace::Api;
use serde::Serialize;

use crate::replay::{MemoryClass, Replay, SiteKey, SiteStats};
use crate::symbols::Symbolizer;

pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub schema: u32,
    /// Who was traced; null when the trace ends before its header.
    pub process: Option<Process>,
    /// The process exited cleanly (a trailer was written) and nothing after it was cut off.
    pub complete: bool,
    /// Where the stream ends inside a record (the process was killed mid-write), if it does.
    pub truncated_at: Option<u64>,
    /// Device memory, managed memory included.
    pub totals: DeviceTotals,
    pub pinned_host: PinnedHostTotals,
    /// Allocation sites, largest live bytes at the end first, then most bytes allocated.
    pub sites: Vec<Site>,
    pub iterations: Iterations,
    pub ooms: Vec<Oom>,
    pub dropped_events: u64,
    pub unmatched_frees: u64,
    /// Allocations at an address the replay still held live: the earlier one was freed unseen.
    pub replaced_allocations: u64,
    /// Messages the hook left in the trace.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub argv: Vec<String>,
    pub hostname: String,
    pub hook_version: String,
    /// How stacks were captured: "off" or "native".
    pub stacks: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceTotals {
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PinnedHostTotals {
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Site {
    /// Innermost first.
    pub frames: Vec<String>,
    /// "device" (managed included) or "pinned_host".
    pub memory: MemoryClass,
    pub stack_id: u32,
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
    /// Filled in once growth over iterations is judged; null until then.
    pub verdict: Option<String>,
    pub bytes_per_iteration: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Iterations {
    pub count: u64,
    /// "marker" when the program marked its iterations; null when nothing did.
    pub source: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Oom {
    pub requested_bytes: u64,
    /// Live bytes of the same memory as the request when it failed.
    pub live_bytes: u64,
    pub device_free_bytes: Option<u64>,
    pub device_total_bytes: Option<u64>,
    pub iteration: Option<u64>,
    pub frames: Vec<String>,
    pub api: String,
    pub memory: MemoryClass,
    pub seq: u64,
    /// Nanoseconds since the trace started.
    pub time_ns: u64,
}

impl Report {
    pub fn build(replay: &Replay, symbols: &mut Symbolizer) -> Report {
        let d = replay.device();
        let p = replay.pinned_host();
        let start_ns = replay.header().map_or(0, |h| h.start_mono_ns);

        let mut ranked: Vec<(&SiteKey, &SiteStats)> = replay
            .sites()
            .iter()
            // Sites whose every allocation failed have nothing to say here; the OOM list does.
            .filter(|(_, s)| s.allocations > 0)
            .collect();
        ranked.sort_by(|(ka, a), (kb, b)| {
            b.live_bytes
                .cmp(&a.live_bytes)
                .then(b.bytes_allocated.cmp(&a.bytes_allocated))
                // Deterministic output for equal figures.
                .then(ka.cmp(kb))
        });
        let sites = ranked
            .into_iter()
            .map(|(k, s)| Site {
                frames: symbols.stack(replay, k.stack),
                memory: k.class,
                stack_id: k.stack,
                allocations: s.allocations,
                frees: s.frees,
                failed_allocations: s.failed_allocations,
                bytes_allocated: s.bytes_allocated,
                live_bytes_at_end: s.live_bytes,
                live_allocations_at_end: s.live_allocations,
                verdict: None,
                bytes_per_iteration: None,
            })
            .collect();

        let ooms = replay
            .ooms()
            .iter()
            .map(|o| Oom {
                requested_bytes: o.requested_bytes,
                live_bytes: o.live_bytes,
                device_free_bytes: o.mem_info.map(|m| m.free),
                device_total_bytes: o.mem_info.map(|m| m.total),
                iteration: None,
                frames: symbols.stack(replay, o.stack),
                api: api_name(o.api),
                memory: o.class,
                seq: o.seq,
                time_ns: o.time_ns.saturating_sub(start_ns),
            })
            .collect();

        Report {
            schema: SCHEMA,
            process: replay.header().map(|h| Process {
                pid: h.pid,
                ppid: h.ppid,
                exe: h.exe.clone(),
                argv: h.argv.clone(),
                hostname: h.hostname.clone(),
                hook_version: h.hook_version.clone(),
                stacks: h.stacks.clone(),
            }),
            complete: replay.complete(),
            truncated_at: replay.truncated_at(),
            totals: DeviceTotals {
                allocations: d.allocations,
                frees: d.frees,
                failed_allocations: d.failed_allocations,
                bytes_allocated: d.bytes_allocated,
                peak_live_bytes: d.peak_live_bytes,
                live_bytes_at_end: d.live_bytes,
                live_allocations_at_end: d.live_allocations,
            },
            pinned_host: PinnedHostTotals {
                allocations: p.allocations,
                frees: p.frees,
                failed_allocations: p.failed_allocations,
                bytes_allocated: p.bytes_allocated,
                peak_live_bytes: p.peak_live_bytes,
                live_bytes_at_end: p.live_bytes,
                live_allocations_at_end: p.live_allocations,
            },
            sites,
            iterations: Iterations {
                count: replay.markers(),
                source: (replay.markers() > 0).then(|| "marker".to_string()),
            },
            ooms,
            dropped_events: replay.dropped(),
            unmatched_frees: replay.unmatched_frees(),
            replaced_allocations: replay.replaced_allocations(),
            notes: replay.notes().to_vec(),
        }
    }

    pub fn to_json(&self) -> String {
        // Only strings, integers, floats from integer ratios and options: cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn api_name(api: Api) -> String {
    api.name().to_string()
}
