"""torch-check cases that cut a run's trace short: the process killed, or a live view, while the
model loads, in its first step, or a few steps in. Each reads `gpuleak report` on the cut."""

import json
import os
import subprocess

from facts import expect, has_python_line, mib, site_name, sites_with, usable


def report_of_first(r, trace, whole, size):
    """The JSON report of the first `size` bytes of `trace` (whose bytes are `whole`): what a
    process killed there, or a live view reading then, leaves. The cut is kept beside the run."""
    cut = os.path.join(r.args.work, f"{os.path.basename(trace)}.first-{size}")
    with open(cut, "wb") as f:
        f.write(whole[:size])
    return report_json(r, cut, f"the first {size} bytes")


def report_json(r, path, what):
    p = subprocess.run([r.args.gpuleak, "report", path, "--format", "json"],
                       capture_output=True, text=True, timeout=r.args.timeout)
    expect(p.returncode == 0, f"gpuleak report on {what} exited {p.returncode}: {p.stderr[:200]}")
    return json.loads(p.stdout)


def case_cut_short(allocator, sizes=(60_000, 70_000, 80_000, 90_000, 100_000)):
    """A run cut off in its first step (the process killed, a live view in its first seconds):
    the first 100 KB of a leaking run's trace, and a few shorter cuts. The first step takes its
    activations in one go and the rest is level: a step up, not growth. None may read as a leak
    or as "Device memory grows ... in all"."""
    def check(r):
        run = r.run(allocator, "leak")
        usable(run)
        with open(run.trace, "rb") as f:
            whole = f.read()
        for size in sizes:
            rep = report_of_first(r, run.trace, whole, size)
            leaks = sites_with(rep, "leak")
            expect(not leaks, f"first {size} bytes: {site_name(leaks[0]) if leaks else ''} is judged `leak`")
            expect(rep["iterations"].get("device_verdict") != "leak",
                   f"first {size} bytes: the device is judged `leak`")
            growth = [d for d in rep["diagnosis"] if " in all" in d["text"] or d["cause"] == "leak"]
            expect(not growth, f"first {size} bytes: {growth[0]['cause']}: {growth[0]['text'][:160]}" if growth else "")
        return f"cuts of {', '.join(str(n) for n in sizes)} bytes: no leak, no growth in all"
    return check


# A text encoder's worth of parameters built on the device before the UNet, one kernel each.
DEVICE_INIT = ("--device-init-layers", "256")


def case_cut_while_loading(allocator, mark):
    """A run cut off while it builds its model on the device (the process killed in loading, a
    live view in its first seconds): every parameter is allocated and initialised by its own
    kernel, the same kernel over and over while memory only climbs. That is loading, not a step:
    the report has no iterations and no leak. The trace as the sampler copied it once its model
    was built (before its first step), and that copy cut at three quarters and at half."""
    def check(r):
        run = r.run(allocator, "leak", mark, extra=DEVICE_INIT)
        t, _ = usable(run)
        copy = t.get("trace_after_loading")
        expect(copy and os.path.exists(copy), f"the sampler left no copy of the trace after loading ({copy!r})")
        with open(copy, "rb") as f:
            whole = f.read()
        # What the encoder's parameters hold, as the report counts that memory.
        held = (lambda rep: rep["memory"]["physical_peak_live_bytes"]) if allocator == "expandable" \
            else (lambda rep: rep["totals"]["peak_live_bytes"])
        cuts = [(copy, None)]
        said = []
        while cuts:
            path, size = cuts.pop(0)
            what = f"the trace after loading{'' if size is None else f', first {size} bytes'}"
            rep = report_json(r, path, what)
            if size is None:
                expect(held(rep) >= t["encoder_bytes"] * 0.9,
                       f"{what} holds {mib(held(rep))}, not the encoder's {mib(t['encoder_bytes'])}")
                # Where the hook had written to: the rest of its mapped window reads as zeros.
                end = len(whole.rstrip(b"\0"))
                for n in (end * 3 // 4, end // 2):
                    cut = f"{copy}.first-{n}"
                    with open(cut, "wb") as f:
                        f.write(whole[:n])
                    cuts.append((cut, n))
                said.append(f"{end} bytes")
            else:
                said.append(str(size))
            leaks = sites_with(rep, "leak")
            expect(not leaks, f"{what}: {len(leaks)} site(s) judged `leak`, e.g. {site_name(leaks[0]) if leaks else ''}")
            it = rep["iterations"]
            expect(it.get("source") in (None, "time") and it.get("device_verdict") != "leak",
                   f"{what}: {it.get('count')} iterations from {it.get('source')!r}, "
                   f"the device {it.get('device_verdict')!r}")
            growth = [d for d in rep["diagnosis"] if d["cause"] == "leak" or " in all" in d["text"]]
            expect(not growth, f"{what}: {growth[0]['cause']}: {growth[0]['text'][:160]}" if growth else "")
        return (f"{t['encoder_parameters']} parameters built on the device, the trace cut at "
                f"{', '.join(said)}: no iterations, no leak")
    return check


def case_cut_in_early_steps(allocator, shares=(0.2, 0.22, 0.24, 0.27, 0.3, 0.35, 0.4, 0.5)):
    """A run cut off a few steps in (the process killed, a live view in its first seconds): the
    trace stops inside a step, whose activations are live then and at no step's end. Only the
    steps that ended are judged: no site but the leak's own line may read as a leak (before,
    a cut at 150 KB said "10 sites keep memory every iteration", each a temporary of the step
    running at the cut)."""
    def check(r):
        run = r.run(allocator, "leak")
        t, _ = usable(run)
        with open(run.trace, "rb") as f:
            whole = f.read()
        for share in shares:
            size = int(len(whole) * share)
            rep = report_of_first(r, run.trace, whole, size)
            others = [s for s in sites_with(rep, "leak") if not has_python_line(s, t["leak_site"])]
            expect(not others, f"first {size} bytes ({rep['iterations']['count']} iterations): {len(others)} "
                               f"site(s) besides the leak judged `leak`, e.g. {site_name(others[0]) if others else ''}")
        return f"cuts at {', '.join(f'{s:.0%}' for s in shares)} of the trace: no leak but the leak's"
    return check


def case_cut_after_loading(allocator, mark, past=(5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000)):
    """A run cut off in its first steps after building its model on the device: the run of
    one kernel per parameter is loading still, not 512 iterations, and the first steps' frees do
    not make it a step. No site but the leak's own line may read as a leak (before: both
    parameter sites, from 512 "iterations" or from time windows over the loading)."""
    def check(r):
        run = r.run(allocator, "leak", mark, extra=DEVICE_INIT)
        t, _ = usable(run)
        copy = t.get("trace_after_loading")
        expect(copy and os.path.exists(copy), f"the sampler left no copy of the trace after loading ({copy!r})")
        with open(copy, "rb") as f:
            loaded = len(f.read().rstrip(b"\0"))
        with open(run.trace, "rb") as f:
            whole = f.read()
        for more in past:
            size = loaded + more
            rep = report_of_first(r, run.trace, whole, size)
            it = rep["iterations"]
            what = f"first {size} bytes ({more} past the loading; {it['count']} iterations from {it['source']!r})"
            expect(it["source"] != "auto" or it["count"] <= t["steps"], f"{what}: more iterations than steps")
            others = [s for s in sites_with(rep, "leak") if not has_python_line(s, t["leak_site"])]
            expect(not others, f"{what}: {len(others)} site(s) besides the leak judged `leak`, "
                               f"e.g. {site_name(others[0]) if others else ''}")
        return f"cuts {', '.join(str(m) for m in past)} bytes past the loading: no leak but the leak's"
    return check
