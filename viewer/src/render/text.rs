//! One process's report as text for people (JSON is the report's own `to_json`).

use std::fmt::Write as _;

use gpuleak_analysis::units::{bytes, count, wrap};
use gpuleak_analysis::{Report, Site, stack_frame, tidy_frame};
use gpuleak_trace::MemoryKind;

use crate::findings::{
    Finding, IterationSource, device_verdict, figures_verdict, iteration_source, quiet_note,
    verdict,
};
use crate::format::signed_bytes;
use crate::stack::{Shown, folded, python_first};

pub mod holders;
pub mod oom;

/// Frames shown per site in text; the rest are counted. JSON has them all.
const FRAMES_SHOWN: usize = 12;

/// Whether the trace is whole, in a few words.
pub fn trace_state(r: &Report) -> String {
    if r.complete {
        "complete trace".to_string()
    } else if let Some(at) = r.truncated_at {
        crate::format::ends_early(at)
    } else {
        "no clean exit recorded".to_string()
    }
}

pub fn render_text(r: &Report, top: usize) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    match &r.process {
        Some(p) => {
            let state = trace_state(r);
            // Every device with several; else the one it worked on.
            let device = if r.devices.len() > 1 {
                let list: Vec<String> = r
                    .devices
                    .iter()
                    .map(|d| match &d.name {
                        Some(n) => format!("GPU {} {n}", d.ordinal),
                        None => format!("GPU {}", d.ordinal),
                    })
                    .collect();
                format!(", {}", list.join(", "))
            } else {
                p.device
                    .as_deref()
                    .map_or(String::new(), |d| format!(", {d}"))
            };
            let _ = writeln!(
                s,
                "{} (pid {}) on {}{device}: {state}",
                p.exe, p.pid, p.hostname
            );
            if !p.argv.is_empty() {
                let _ = writeln!(s, "  command: {}", p.argv.join(" "));
            }
        }
        None => {
            let _ = writeln!(s, "trace ends before its header: nothing was recorded");
        }
    }

    diagnosis(&mut s, r);
    oom::section(&mut s, r);
    findings(&mut s, r);

    // The headline counts what fills the GPU: device and physical (cuMemCreate) memory.
    let t = &r.gpu;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{}: {} ({}), {}, {} failed",
        if r.physical.allocations + r.physical.failed_allocations > 0 {
            "Device + physical memory"
        } else {
            "Device memory"
        },
        count(t.allocations, "allocation", "allocations"),
        bytes(t.bytes_allocated),
        count(t.frees, "free", "frees"),
        t.failed_allocations
    );
    let _ = writeln!(
        s,
        "  peak {} live; {} still live at the end ({})",
        bytes(t.peak_live_bytes),
        t.live_allocations_at_end,
        bytes(t.live_bytes_at_end)
    );
    devices(&mut s, r);
    memory_by_kind(&mut s, r);
    let p = &r.pinned_host;
    if p.allocations > 0 || p.failed_allocations > 0 {
        let _ = writeln!(
            s,
            "Pinned host memory: {} ({}), peak {} live, {} still live at the end ({})",
            count(p.allocations, "allocation", "allocations"),
            bytes(p.bytes_allocated),
            bytes(p.peak_live_bytes),
            p.live_allocations_at_end,
            bytes(p.live_bytes_at_end)
        );
    }
    pools(&mut s, r);
    match (iteration_source(&r.iterations), r.iterations.window_ns) {
        (Some(IterationSource::Time), Some(w)) => {
            let _ = writeln!(
                s,
                "Iterations: not marked; {} fixed time windows of {} stand in for them",
                r.iterations.count,
                duration(w)
            );
        }
        (Some(IterationSource::Nvtx), _) => {
            let name = r.iterations.range.as_deref().unwrap_or("");
            let _ = writeln!(
                s,
                "Iterations: {} (NVTX range {name:?})",
                r.iterations.count
            );
        }
        (Some(IterationSource::Auto), _) => {
            let meaning = r.iterations.unit_meaning().unwrap_or_default();
            let _ = writeln!(
                s,
                "Iterations: {}, not marked; {meaning}",
                r.iterations.count
            );
        }
        (Some(IterationSource::Marker), _) if r.iterations.marker_label.is_some() => {
            let _ = writeln!(
                s,
                "Iterations: {} (from markers labelled {:?}: one {} each)",
                r.iterations.count,
                r.iterations.unit(),
                r.iterations.unit()
            );
        }
        (Some(src), _) => {
            let _ = writeln!(s, "Iterations: {} (from {src}s)", r.iterations.count);
        }
        (None, _) => {
            let _ = writeln!(s, "Iterations: not marked");
        }
    }
    if let (Some(v), Some(per)) = (
        device_verdict(&r.iterations),
        r.iterations.device_bytes_per_iteration(),
    ) {
        let _ = writeln!(
            s,
            "  device memory in all, over them: {v}, {}/{}",
            signed_bytes(per),
            r.iterations.unit()
        );
    }
    if let Some(d) = r.dropped_segments {
        let _ = writeln!(
            s,
            "Note: written under a size cap (--max-size): the oldest {} ({}) were dropped; live \
             figures are exact, totals and iterations count from event {}",
            count(d.segments, "segment", "segments"),
            count(d.events, "event", "events"),
            d.events
        );
    }
    if r.dropped_events > 0 {
        let _ = writeln!(
            s,
            "Warning: {} could not be recorded (the hook fell behind); figures are low",
            count(r.dropped_events, "event", "events")
        );
    }
    if r.unmatched_frees > 0 {
        let _ = writeln!(
            s,
            "Note: {} of memory allocated before tracing began or by an untraced call",
            count(r.unmatched_frees, "free", "frees")
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "Hook: {n}");
    }

    let _ = writeln!(s);
    if r.sites.is_empty() {
        let _ = writeln!(s, "No allocations were recorded.");
    } else {
        let shown = r.sites.len().min(top);
        let _ = writeln!(
            s,
            "Top {} of {} by memory live at the end:",
            shown,
            count(r.sites.len() as u64, "site", "sites")
        );
        for (i, site) in r.sites.iter().take(shown).enumerate() {
            let memory = match site.memory {
                MemoryKind::Device => String::new(),
                kind => format!(" [{}]", kind_label(kind)),
            };
            let _ = writeln!(
                s,
                "  #{} {} live in {} at the end; {} ({}) in all{memory}",
                i + 1,
                bytes(site.live_bytes_at_end),
                count(site.live_allocations_at_end, "allocation", "allocations"),
                count(site.allocations, "allocation", "allocations"),
                bytes(site.bytes_allocated),
            );
            // The name every other line uses for it: stacks alike but for library frames
            // are told apart by it.
            let _ = writeln!(s, "    {}", site.label);
            frames(&mut s, &site.frames, site.user_frame);
        }
        if r.sites.len() > shown {
            let _ = writeln!(
                s,
                "  ... {} more (--top N shows more)",
                count((r.sites.len() - shown) as u64, "site", "sites")
            );
        }
    }

    if !r.ooms.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Out of memory ({}):", r.ooms.len());
        for o in &r.ooms {
            let device = match (o.device_free_bytes, o.device_total_bytes) {
                (Some(free), Some(total)) => {
                    format!("; the device had {} free of {}", bytes(free), bytes(total))
                }
                _ => String::new(),
            };
            let retried = if o.retried {
                "; retried soon after, with success"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  {} of {} failed with {} live{device}{retried}",
                o.api,
                bytes(o.requested_bytes),
                bytes(o.live_bytes)
            );
            frames(&mut s, &o.frames, gpuleak_analysis::user_frame(&o.frames));
            if let Some(n) = o.iteration {
                let _ = writeln!(s, "    in {} {n}", r.iterations.unit());
            }
            if !o.live_by_site.is_empty() {
                let _ = writeln!(s, "    what held the memory:");
                for site in o.live_by_site.iter().take(3) {
                    let at = &site.label;
                    let _ = writeln!(
                        s,
                        "      {} in {} at {at}",
                        bytes(site.live_bytes),
                        count(site.live_allocations, "allocation", "allocations")
                    );
                }
            }
        }
    }
    holders::section(&mut s, r, top);
    s
}

/// Each device's own figures, when the process used more than one: a leak on one GPU fills
/// that GPU, whatever the others hold.
fn devices(s: &mut String, r: &Report) {
    if r.devices.len() < 2 {
        return;
    }
    let _ = writeln!(s, "Devices:");
    for d in &r.devices {
        let name = d.name.as_deref().map_or(String::new(), |n| format!(" {n}"));
        let of = d
            .total_bytes
            .map_or(String::new(), |t| format!(" of {}", bytes(t)));
        let growth = match (figures_verdict(d), d.bytes_per_iteration()) {
            (Some(v), Some(b)) => {
                format!("; {v}, {}/{}", signed_bytes(b), r.iterations.unit())
            }
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  GPU {}{name}: {} live at the end{of}, peak {}{growth}",
            d.ordinal,
            bytes(d.live_bytes_at_end),
            bytes(d.peak_live_bytes)
        );
    }
}

/// Why memory ran out, or would, as paragraphs wrapped for a terminal.
fn diagnosis(s: &mut String, r: &Report) {
    if r.diagnosis.is_empty() {
        return;
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Diagnosis:");
    for d in &r.diagnosis {
        let mut lead = "  ";
        for line in wrap(&d.text, 96) {
            let _ = writeln!(s, "{lead}{line}");
            lead = "    ";
        }
    }
}

/// One line per site that leaks, saws or plateaus, leaks first; nothing when there is none.
fn findings(s: &mut String, r: &Report) {
    let mut found: Vec<_> = r
        .sites
        .iter()
        .filter_map(|site| Some((Finding::of(site)?, site)))
        .collect();
    let quiet = quiet_note(r);
    if found.is_empty() {
        if let Some(q) = quiet {
            let _ = writeln!(s);
            let _ = writeln!(s, "Findings: none ({q})");
        }
        return;
    }
    found.sort_by_key(|(rank, site)| (*rank, std::cmp::Reverse(site.bytes_per_iteration())));
    let per = r.iterations.unit();
    let _ = writeln!(s);
    let _ = writeln!(s, "Findings:");
    for (_, site) in found {
        let verdict = verdict(site).unwrap_or("");
        let mut line = format!(
            "  {verdict:<8} {}: {}/{per}, {}",
            site.label,
            signed_bytes(site.bytes_per_iteration().unwrap_or(0)),
            gpuleak_analysis::diagnosis::held(site, r.complete)
        );
        if let Some(n) = site.full_at_iteration {
            let _ = write!(
                line,
                "; at this rate {} is full at {per} ~{n}",
                gpuleak_analysis::diagnosis::which_device(r, site)
            );
        }
        let _ = writeln!(s, "{line}");
        holders::under_finding(s, site);
        finding_stack(s, site);
    }
    if let Some(q) = quiet {
        let _ = writeln!(s, "  ({q})");
    }
}

/// Frames shown under a finding; the rest are counted.
const FINDING_FRAMES: usize = 8;

/// A finding's stack, so that the site a label names can be found without the top list (which
/// ranks by memory live at the end: nothing, for a leak freed at exit). Python frames first where
/// there are some, innermost first, then the native frames below them; the frame naming the site
/// is shown with up to two of the frames it called, and its callers after it.
fn finding_stack(s: &mut String, site: &Site) {
    let frames = &site.frames;
    if frames.is_empty() {
        let _ = writeln!(s, "      (no stack recorded)");
        return;
    }
    let Shown {
        order,
        inside: first,
    } = python_first(frames, site.user_frame);
    if first > 0 {
        let _ = writeln!(
            s,
            "      … {} inside",
            count(first as u64, "frame", "frames")
        );
    }
    let last = order.len().min(first + FINDING_FRAMES);
    for &i in &order[first..last] {
        let _ = writeln!(s, "      {}", stack_frame(&frames[i]));
    }
    if order.len() > last {
        let _ = writeln!(
            s,
            "      … {} more",
            count((order.len() - last) as u64, "frame", "frames")
        );
    }
}

/// A length of time, in the largest unit that keeps it readable.
fn duration(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} ms", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} us", n as f64 / 1e3),
        n => format!("{n} ns"),
    }
}

/// What a person calls each kind of memory.
fn kind_label(kind: MemoryKind) -> &'static str {
    match kind {
        MemoryKind::Device => "device",
        MemoryKind::Managed => "managed",
        MemoryKind::PinnedHost => "pinned host",
        MemoryKind::HostRegistered => "host registered",
        MemoryKind::Physical => "physical",
        MemoryKind::Mapping => "mapping",
        MemoryKind::AddressSpace => "address space",
        MemoryKind::Array => "arrays",
        MemoryKind::Graph => "graph",
        MemoryKind::Imported => "imported",
    }
}

/// What each kind is, said once, for the kinds whose bytes are not simply memory allocated here.
fn kind_note(kind: MemoryKind) -> &'static str {
    match kind {
        MemoryKind::Device => "",
        MemoryKind::Managed => " (counted as device)",
        MemoryKind::PinnedHost => " (host memory)",
        MemoryKind::HostRegistered => " (existing host memory, page-locked; no new memory)",
        MemoryKind::Physical => " (cuMemCreate)",
        MemoryKind::Mapping => " (views of physical memory, not counted again)",
        MemoryKind::AddressSpace => " (reserved addresses, no memory)",
        MemoryKind::Array => " (counted as device)",
        MemoryKind::Graph => " (graph memory nodes, counted as device)",
        MemoryKind::Imported => " (another process's memory)",
    }
}

/// One line per kind of memory the trace allocated; nothing when it was plain device memory only,
/// which the totals above already say.
fn memory_by_kind(s: &mut String, r: &Report) {
    let present: Vec<_> = r
        .memory
        .by_kind
        .iter()
        .filter(|k| k.allocations > 0)
        .collect();
    if present.iter().all(|k| k.kind == MemoryKind::Device) {
        return;
    }
    let _ = writeln!(s, "Memory by kind (live at the end, peak):");
    for k in present {
        let _ = writeln!(
            s,
            "  {:<16}{:>10} live, peak {}{}",
            kind_label(k.kind),
            bytes(k.live_bytes_at_end),
            bytes(k.peak_live_bytes),
            kind_note(k.kind)
        );
    }
    let m = &r.memory;
    if m.physical_peak_live_bytes > 0 {
        let _ = writeln!(
            s,
            "  device + physical: {} live, peak {}",
            bytes(m.device_plus_physical_live_bytes_at_end),
            bytes(m.device_plus_physical_peak_live_bytes)
        );
    }
}

fn pools(s: &mut String, r: &Report) {
    let p = &r.pools;
    let mut parts = Vec::new();
    if p.peak_reserved_bytes > 0 {
        parts.push(format!(
            "{} reserved at the last sample, peak {}",
            bytes(p.reserved_bytes_at_end),
            bytes(p.peak_reserved_bytes)
        ));
    }
    if p.returned_frees > 0 {
        parts.push(format!(
            "{} returned by {} (pools may keep it)",
            bytes(p.returned_bytes),
            count(p.returned_frees, "async free", "async frees")
        ));
    }
    if p.trims > 0 {
        let mut trims = count(p.trims, "trim", "trims");
        if let Some(left) = p.last_trim_reserved_bytes {
            let _ = write!(trims, ", the last left {} reserved", bytes(left));
        }
        parts.push(trims);
    }
    if let Some(t) = p.release_threshold_bytes {
        let threshold = if t == u64::MAX {
            "the maximum".to_string()
        } else {
            bytes(t)
        };
        parts.push(format!("release threshold {threshold}"));
    }
    if p.graph_trims > 0 {
        parts.push(count(
            p.graph_trims,
            "graph memory trim",
            "graph memory trims",
        ));
    }
    if !parts.is_empty() {
        let _ = writeln!(s, "Pools: {}", parts.join("; "));
    }
}

/// A stack, innermost first. The library frames inside the program's own (allocator wrappers,
/// frameworks) come as one line of function names, so that the program's frames, which the user
/// can change, are the ones that fit.
fn frames(s: &mut String, frames: &[String], user_frame: usize) {
    if frames.is_empty() {
        let _ = writeln!(s, "      (no stack recorded)");
        return;
    }
    let (inner, own) = frames.split_at(user_frame.min(frames.len()));
    if !inner.is_empty() {
        let _ = writeln!(s, "      [{}]", folded(inner.iter()));
    }
    for f in own.iter().take(FRAMES_SHOWN) {
        let _ = writeln!(s, "      {}", tidy_frame(f));
    }
    if own.len() > FRAMES_SHOWN {
        let _ = writeln!(
            s,
            "      ... {} more",
            count((own.len() - FRAMES_SHOWN) as u64, "frame", "frames")
        );
    }
}
