//! Building the report from a replay: iterations from markers, NVTX ranges, the launch
//! sequence or time windows (`Clock`), each site's growth over them, out-of-memory failures and
//! the anatomy of the one the program died of (`oom`), what the trace can show, and the
//! diagnosis. The data model is [`crate::model`].

use gpuleak_trace::{Api, MemoryKind};

use crate::memory::{MEMORY_KINDS, MemoryClass, SiteKey, holds_own_memory};
pub use crate::model::*;
use crate::replay::{OomEvent, Replay, SiteStats};
use crate::symbols::Symbolizer;

mod clock;
mod holders;
mod oom;
mod prologue;

use clock::{Clock, judge_whole, live_per_iteration};
pub use clock::{ReportOptions, device_live_per_iteration, site_live_per_iteration};

impl Report {
    pub fn build(replay: &Replay, symbols: &mut Symbolizer) -> Report {
        Report::build_with(replay, symbols, &ReportOptions::default())
    }

    pub fn build_with(
        replay: &Replay,
        symbols: &mut Symbolizer,
        options: &ReportOptions,
    ) -> Report {
        let d = replay.device();
        let p = replay.pinned_host();
        let pools = replay.pools();
        let start_ns = replay.header().map_or(0, |h| h.start_mono_ns);

        let mut ranked: Vec<(&SiteKey, &SiteStats)> = replay
            .sites()
            .iter()
            // Sites whose every allocation failed have nothing to say here; the OOM list does.
            .filter(|(_, s)| s.allocations > 0)
            .collect();
        ranked.sort_by(|(ka, a), (kb, b)| {
            // Memory first: a reservation of the whole card's address space is no leak.
            holds_own_memory(kb.kind)
                .cmp(&holds_own_memory(ka.kind))
                .then(b.live_bytes.cmp(&a.live_bytes))
                .then(b.bytes_allocated.cmp(&a.bytes_allocated))
                // Deterministic output for equal figures.
                .then(ka.cmp(kb))
        });
        let clock = Clock::of(replay, options.iteration_range.as_ref());
        let device_series = live_per_iteration(replay, &clock, |_| true);
        let device_growth = judge_whole(&device_series, &clock, replay);
        // What the program held when its iterations ended: in a program that exited cleanly,
        // the start of the last iteration (its end takes in the teardown, which may free
        // everything); else what is live now.
        let held_at_last = |series: &[u64], live_now: u64| match series.len().checked_sub(2) {
            Some(i) if replay.complete() => series[i].max(live_now),
            _ => live_now,
        };
        // Per device: its own series, its own total. A single-device trace has one entry.
        let per_device: Vec<DeviceFigures> = replay
            .gpu_by_device()
            .iter()
            .filter(|(d, _)| **d >= 0)
            .map(|(&d, t)| {
                let series = live_per_iteration(replay, &clock, |k| k.device == d);
                let judged = judge_whole(&series, &clock, replay);
                DeviceFigures {
                    ordinal: d,
                    name: replay
                        .header()
                        .and_then(|h| h.devices.get(d as usize))
                        .cloned(),
                    total_bytes: replay.device_total_of(d),
                    allocations: t.allocations,
                    live_bytes_at_end: t.live_bytes,
                    peak_live_bytes: t.peak_live_bytes,
                    held_at_last_iteration: held_at_last(&series, t.live_bytes),
                    growth: judged,
                }
            })
            .collect();
        let held_overall = held_at_last(&device_series, replay.gpu_live_bytes());
        let sites = ranked
            .into_iter()
            .map(|(k, s)| {
                let judged = clock.judge(replay, k, s.live_bytes);
                let full_at_iteration = judged
                    .filter(|j| j.leaks() && j.bytes_per_iteration > 0)
                    .and_then(|j| {
                        // Against the site's own device: another GPU's memory does not fill it.
                        let own = per_device.iter().find(|d| d.ordinal == k.device);
                        let total = own
                            .and_then(|d| d.total_bytes)
                            .or(replay.device_total_bytes())?;
                        let held = own.map_or(held_overall, |d| d.held_at_last_iteration);
                        let room = total.saturating_sub(held);
                        let slope = j.bytes_per_iteration as u64;
                        Some(clock.count.saturating_sub(1) + room.div_ceil(slope))
                    });
                let frames = symbols.stack(replay, k.stack);
                let since = clock.since_start(replay, k, s.live_bytes);
                let quiet = prologue::quiet_of(
                    replay,
                    &clock,
                    &per_device,
                    k,
                    s.live_bytes,
                    judged,
                    &since,
                );
                Site {
                    label: String::new(),
                    user_frame: crate::frames::user_frame(&frames),
                    frames,
                    memory: k.kind,
                    device: (k.device >= 0).then_some(k.device),
                    stack_id: k.stack,
                    allocations: s.allocations,
                    frees: s.frees,
                    failed_allocations: s.failed_allocations,
                    bytes_allocated: s.bytes_allocated,
                    live_bytes_at_end: s.live_bytes,
                    live_allocations_at_end: s.live_allocations,
                    live_bytes_at_last_iteration: clock
                        .ends(replay, k, s.live_bytes)
                        .and_then(|e| e.len().checked_sub(2).map(|i| e[i])),
                    growth: judged,
                    full_at_iteration,
                    holders: Vec::new(),
                    loaded_bytes: since.map(|s| s.loaded),
                    quiet,
                }
            })
            .collect();
        let mut sites: Vec<Site> = sites;
        let labels = crate::labels::labels(
            &sites
                .iter()
                .map(|s| crate::labels::Named {
                    frames: &s.frames,
                    user_frame: s.user_frame,
                    memory: s.memory,
                    device: s.device,
                    stack_id: s.stack_id,
                })
                .collect::<Vec<_>>(),
        );
        for (site, label) in sites.iter_mut().zip(labels) {
            site.label = label;
        }
        holders::name_site_holders(replay, &mut sites);

        let ooms = replay
            .ooms()
            .iter()
            .map(|o| Oom {
                label: failed_label(&symbols.stack(replay, o.stack), o),
                requested_bytes: o.requested_bytes,
                live_bytes: o.live_bytes,
                device: (o.device >= 0).then_some(o.device),
                device_free_bytes: o.mem_info.map(|m| m.free),
                device_total_bytes: o.mem_info.map(|m| m.total),
                iteration: clock.iteration_of(o),
                frames: symbols.stack(replay, o.stack),
                live_by_site: o
                    .live_by_site
                    .iter()
                    .map(|(k, s)| {
                        let frames = symbols.stack(replay, k.stack);
                        OomSite {
                            label: sites
                                .iter()
                                .find(|s| {
                                    s.stack_id == k.stack
                                        && s.memory == k.kind
                                        && s.device == (k.device >= 0).then_some(k.device)
                                })
                                .map_or_else(
                                    || {
                                        crate::labels::labels(&[crate::labels::Named {
                                            frames: &frames,
                                            user_frame: crate::frames::user_frame(&frames),
                                            memory: k.kind,
                                            device: (k.device >= 0).then_some(k.device),
                                            stack_id: k.stack,
                                        }])
                                        .remove(0)
                                    },
                                    |s| s.label.clone(),
                                ),
                            user_frame: crate::frames::user_frame(&frames),
                            frames,
                            live_bytes: s.live_bytes,
                            live_allocations: s.live_allocations,
                        }
                    })
                    .collect(),
                api: api_name(o.api),
                memory: o.class,
                seq: o.seq,
                time_ns: o.time_ns.saturating_sub(start_ns),
                retried: o.retried,
            })
            .collect();

        let holdings = holders::holdings(replay, &sites, start_ns);
        let mut report = Report {
            schema: SCHEMA,
            process: replay.header().map(|h| Process {
                pid: h.pid,
                ppid: h.ppid,
                exe: h.exe.clone(),
                argv: h.argv.clone(),
                hostname: h.hostname.clone(),
                hook_version: h.hook_version.clone(),
                stacks: h.stacks.clone(),
                devices: h.devices.clone(),
                device: replay.device_name().map(str::to_string),
                rank: h.launch_var("RANK").and_then(|v| v.parse().ok()),
                local_rank: h.launch_var("LOCAL_RANK").and_then(|v| v.parse().ok()),
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
            host_registered: replay.totals(MemoryClass::HostRegistered).into(),
            physical: replay.totals(MemoryClass::Physical).into(),
            gpu: replay.gpu().into(),
            mapped: replay.totals(MemoryClass::Mapped).into(),
            address_space: replay.totals(MemoryClass::AddressSpace).into(),
            imported: replay.totals(MemoryClass::Imported).into(),
            pools: Pools {
                returned_bytes: pools.returned_bytes,
                returned_frees: pools.returned_frees,
                last_trim_reserved_bytes: pools.last_trim_reserved_bytes,
                reserved_bytes_at_end: pools.reserved_bytes,
                peak_reserved_bytes: pools.peak_reserved_bytes,
                release_threshold_bytes: pools.release_threshold_bytes,
                trims: pools.trims,
                graph_trims: pools.graph_trims,
            },
            memory: summary(replay),
            sites,
            iterations: Iterations {
                count: clock.count,
                source: clock.source,
                window_ns: (clock.source == Some(Source::Time)).then_some(clock.width_ns),
                launches_per_iteration: clock.auto.as_ref().map(|a| a.period),
                range: clock
                    .range
                    .and_then(|i| replay.ranges().get(i))
                    .map(|r| r.name.clone()),
                marker_label: (clock.source == Some(Source::Marker))
                    .then(|| replay.marker_label().map(String::from))
                    .flatten(),
                device_growth,
                windows_cut_steps: clock.windows_cut_steps,
            },
            ooms,
            oom: None,
            dropped_events: replay.dropped(),
            dropped_segments: replay.dropped_segments(),
            unmatched_frees: replay.unmatched_frees(),
            replaced_allocations: replay.replaced_allocations(),
            notes: replay
                .notes()
                .iter()
                .cloned()
                .chain(clock.notes.iter().cloned())
                .collect(),
            // Windows before the first launch are loading and judge nothing.
            visibility: visibility(
                replay,
                clock.count.saturating_sub(clock.prologue as u64),
                clock.loading,
            ),
            devices: per_device,
            diagnosis: Vec::new(),
            holders: holdings,
        };
        report.oom = oom::build(replay, &clock, &report);
        report.diagnosis = crate::diagnosis::diagnose(&report);
        report
    }
}

/// The failed request's own label, as a site's would read ("Decoder.forward (vae.py:300) via
/// at::_ops::empty_memory_format"); "" when its stack was not recorded.
fn failed_label(frames: &[String], o: &OomEvent) -> String {
    if frames.is_empty() {
        return String::new();
    }
    crate::labels::labels(&[crate::labels::Named {
        frames,
        user_frame: crate::frames::user_frame(frames),
        memory: o.api.memory(),
        device: (o.device >= 0).then_some(o.device),
        stack_id: o.stack,
    }])
    .remove(0)
}

/// What the trace can show ([`Visibility`]).
fn visibility(replay: &Replay, iterations: u64, loading: bool) -> Visibility {
    let loaded = |needle: &str| replay.modules().iter().any(|m| m.path.contains(needle));
    let gpu = replay.gpu();
    let (level, cache) = if loaded("libc10_cuda.so") {
        if replay.stream_ordered_allocations() > 0 {
            (Level::Tensors, None)
        } else {
            (Level::Segments, Some(Cache::Pytorch))
        }
    } else if loaded("/cupy/") || loaded("cupy_backends") {
        (Level::Segments, Some(Cache::Cupy))
    } else if gpu.allocations >= 2 && gpu.frees == 0 && replay.pools().returned_frees == 0 {
        (Level::Segments, Some(Cache::Pool))
    } else {
        (Level::Allocations, None)
    };
    let needed = HEALTHY_MIN_ITERATIONS.saturating_sub(iterations);
    // A run cut off while it loads has none yet, and says so.
    let too_few = needed > 0 && (iterations > 0 || loading);
    let mut causes = Vec::new();
    if cache.is_some() {
        causes.push(Cause::HiddenByCache);
    }
    if too_few {
        causes.push(Cause::TooFewIterations);
    }
    let command = match cache {
        Some(Cache::Pytorch) => replay
            .header()
            .filter(|h| !h.argv.is_empty())
            .map(|h| format!("gpuleak run --torch-tensors -- {}", shell_words(&h.argv))),
        _ => None,
    };
    Visibility {
        level,
        cache,
        causes,
        iterations_needed: too_few.then_some(needed),
        command,
    }
}

/// A command line as a shell reads it back: words with anything but safe characters quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let safe = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if safe {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn api_name(api: Api) -> String {
    api.name().to_string()
}

fn summary(replay: &Replay) -> MemorySummary {
    let class = |c: MemoryClass| *replay.totals(c);
    let (device, physical, pinned) = (
        class(MemoryClass::Device),
        class(MemoryClass::Physical),
        class(MemoryClass::PinnedHost),
    );
    let managed = replay.kind_totals(MemoryKind::Managed);
    let by_kind = MEMORY_KINDS
        .iter()
        .filter_map(|&kind| {
            let t = replay.kinds().get(&kind)?;
            Some(KindTotals {
                kind,
                class: MemoryClass::of_kind(kind),
                allocations: t.allocations,
                frees: t.frees,
                failed_allocations: t.failed_allocations,
                bytes_allocated: t.bytes_allocated,
                peak_live_bytes: t.peak_live_bytes,
                live_bytes_at_end: t.live_bytes,
                live_allocations_at_end: t.live_allocations,
            })
        })
        .collect();
    MemorySummary {
        device_live_bytes_at_end: device.live_bytes,
        device_peak_live_bytes: device.peak_live_bytes,
        managed_live_bytes_at_end: managed.live_bytes,
        managed_peak_live_bytes: managed.peak_live_bytes,
        physical_live_bytes_at_end: physical.live_bytes,
        physical_peak_live_bytes: physical.peak_live_bytes,
        device_plus_physical_live_bytes_at_end: replay.gpu_live_bytes(),
        device_plus_physical_peak_live_bytes: replay.gpu_peak_live_bytes(),
        mapped_bytes_at_end: class(MemoryClass::Mapped).live_bytes,
        reserved_address_space_bytes_at_end: class(MemoryClass::AddressSpace).live_bytes,
        pinned_host_live_bytes_at_end: pinned.live_bytes,
        pinned_host_peak_live_bytes: pinned.peak_live_bytes,
        host_registered_bytes_at_end: class(MemoryClass::HostRegistered).live_bytes,
        imported_bytes_at_end: class(MemoryClass::Imported).live_bytes,
        returned_to_pools_bytes: replay.pools().returned_bytes,
        by_kind,
    }
}
