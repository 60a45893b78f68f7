"""The cases of scripts/torch-check.sh: real PyTorch under `gpuleak run`, judged by its report.

Each case runs tests/torch/sampler.py (real PyTorch on gpuleak's fake CUDA stack, see
tests/fake-cuda/README.md) under `gpuleak run --no-tui` in one allocator mode, then compares
gpuleak's JSON report with what PyTorch itself printed (its GPULEAK_TORCH line). A run is shared
by every case that asks for the same workload.

Prints one line per case: `PASS name`, `FAIL name: what differed`, or, for a case listed in
EXPECTED_FAILURES, `XFAIL name: what differed (issue N)`. A listed case that passes prints
`FAIL name: passes, but is listed as an expected failure of issue N`, so the list stays true.
Exits 1 on any FAIL, 2 when it cannot run at all.

The cases that cut a run's trace short are in cuts.py; what every case reads of a report, and how
it says what differed, in facts.py.

Run it through scripts/torch-check.sh, which builds everything and sets up PyTorch; directly:

    python tests/torch/check.py --gpuleak target/debug/gpuleak --fake-cuda DIR \
        --python VENV/bin/python --work DIR [--only NAME ...] [--list]
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

import holders_cases
import oom_cases
from cuts import (
    DEVICE_INIT,
    case_cut_after_loading,
    case_cut_in_early_steps,
    case_cut_short,
    case_cut_while_loading,
)
from facts import (
    MIB,
    Differed,
    expect,
    first_diagnosis,
    has_python_line,
    judged_sites,
    leak_site,
    mib,
    near,
    parse_size,
    site_name,
    sites_with,
    usable,
)


# Cases that assert what later issues build. Each fails today; when its issue lands, its
# entry goes. Keep this the only list.
EXPECTED_FAILURES = {
    # None now: issue 23 turned its out-of-memory cases into PASS.
}

ALLOCATORS = {
    # name: (extra `gpuleak run` flags, environment)
    "native": ([], {}),
    "expandable": ([], {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}),
    "tensors": (["--torch-tensors"], {}),
}


class Run:
    """One workload under gpuleak: the sampler's own figures, the report, the closing line."""

    def __init__(self, torch_out, report, closing, rc, trace, log):
        self.torch = torch_out
        self.report = report
        self.closing = closing
        self.rc = rc
        self.trace = trace
        self.log = log


class Runner:
    def __init__(self, args):
        self.args = args
        self.runs = {}
        self.sampler = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampler.py")
        self.repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def env(self, allocator, capacity):
        fake = self.args.fake_cuda
        env = dict(os.environ)
        for k in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "CUDA_VISIBLE_DEVICES"):
            env.pop(k, None)
        env["LD_LIBRARY_PATH"] = fake + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        # The fakes replace the real libraries by soname: preloaded, they are the ones PyTorch's
        # libraries bind to, whatever their RPATH says.
        env["LD_PRELOAD"] = " ".join(
            os.path.join(fake, lib)
            for lib in ("libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libnvidia-ml.so.1")
        )
        env["PYTHONPATH"] = os.path.join(self.repo, "python")
        env["FAKE_CUDA_CAPACITY"] = capacity
        env["PYTHONUNBUFFERED"] = "1"
        env.update(ALLOCATORS[allocator][1])
        return env

    def run(self, allocator, pattern, mark="nvtx", images=4, steps=10, capacity="1G", extra=()):
        key = (allocator, pattern, mark, images, steps, capacity, tuple(extra))
        if key in self.runs:
            return self.runs[key]
        name = f"{allocator}-{pattern}-{mark}-{images}x{steps}-{capacity}"
        if extra:
            name += "-" + "-".join(str(e).lstrip("-") for e in extra)
        trace = os.path.join(self.args.work, name + ".trace")
        cmd = [self.args.gpuleak, "run", "--no-tui", "-o", trace, *ALLOCATORS[allocator][0], "--",
               self.args.python, self.sampler, "--pattern", pattern, "--mark", mark,
               "--images", str(images), "--steps", str(steps), *extra]
        log = os.path.join(self.args.work, name + ".log")
        if self.args.reuse:
            p = Reused(log)
        else:
            started = time.monotonic()
            p = subprocess.run(cmd, env=self.env(allocator, capacity), capture_output=True,
                               text=True, timeout=self.args.timeout)
            with open(log, "w") as f:
                f.write("$ " + shlex.join(cmd) + f"\n# exit {p.returncode}, "
                        f"{time.monotonic() - started:.1f} s\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
        torch_out = None
        for line in p.stdout.splitlines():
            if line.startswith("GPULEAK_TORCH "):
                torch_out = json.loads(line[len("GPULEAK_TORCH "):])
        closing = [l for l in p.stderr.splitlines() if l.startswith("gpuleak: ") and "allocations" in l]
        report = None
        if os.path.exists(trace):
            r = subprocess.run([self.args.gpuleak, "report", trace, "--format", "json"],
                               capture_output=True, text=True, timeout=self.args.timeout)
            if r.returncode == 0:
                report = json.loads(r.stdout)
            else:
                with open(log, "a") as f:
                    f.write(f"--- gpuleak report exited {r.returncode}\n{r.stderr}")
        run = Run(torch_out, report, closing[-1] if closing else None, p.returncode, trace, log)
        self.runs[key] = run
        return run


class Reused:
    """A finished run read back from its log, as subprocess.run would have returned it."""

    def __init__(self, log):
        try:
            with open(log) as f:
                text = f.read()
        except OSError as e:
            raise Differed(f"--reuse: no kept run to read ({e})")
        m = re.search(r"^# exit (-?\d+)", text, re.M)
        self.returncode = int(m.group(1)) if m else -1
        out, _, err = text.partition("\n--- stderr\n")
        self.stdout = out.partition("\n--- stdout\n")[2]
        # What the last report run appended is not the program's.
        self.stderr = err.partition("--- gpuleak report exited")[0]


# --------------------------------------------------------------------------------------------
# The cases. Each takes the runner and raises Differed when gpuleak's report is wrong.


def case_totals(allocator, pattern):
    def check(r):
        t, rep = usable(r.run(allocator, pattern))
        if allocator == "native":
            # Every segment of the caching allocator is one cudaMalloc.
            live = rep["totals"]["live_bytes_at_end"]
            expect(live == t["reserved"], f"device live at end {mib(live)} != torch.cuda.memory_reserved() {mib(t['reserved'])}")
            peak = rep["totals"]["peak_live_bytes"]
            expect(peak == t["max_reserved"], f"device peak {mib(peak)} != torch.cuda.max_memory_reserved() {mib(t['max_reserved'])}")
        elif allocator == "expandable":
            phys = rep["memory"]["physical_live_bytes_at_end"]
            expect(phys == t["reserved"], f"physical live at end {mib(phys)} != torch.cuda.memory_reserved() {mib(t['reserved'])}")
            expect(rep["totals"]["live_bytes_at_end"] == 0, f"{mib(rep['totals']['live_bytes_at_end'])} of cudaMalloc memory under expandable segments")
        else:
            # Every tensor is one cudaMallocAsync. The workload's figures are taken before the
            # interpreter's shutdown frees what its module-level lists keep, so compare the peak,
            # and what the driver's pool still holds (nothing trims it).
            reserved = rep["pools"]["reserved_bytes_at_end"]
            expect(reserved == t["reserved"], f"pool memory reserved at end {mib(reserved)} != torch.cuda.memory_reserved() {mib(t['reserved'])}")
            peak = rep["totals"]["peak_live_bytes"]
            expect(near(peak, t["max_allocated"], 0.001), f"device peak {mib(peak)} != torch.cuda.max_memory_allocated() {mib(t['max_allocated'])}")
        return f"{mib(t['reserved'])} reserved, as PyTorch says"
    return check


def case_no_deprecation_warning():
    """--torch-tensors sets the allocator where PyTorch reads it, without its deprecation
    warning about PYTORCH_CUDA_ALLOC_CONF."""
    def check(r):
        run = r.run("tensors", "leak")
        t, rep = usable(run)
        with open(run.log) as f:
            log = f.read()
        expect("is deprecated" not in log, "PyTorch warned that the variable gpuleak set is deprecated "
               f"(see {run.log})")
        expect(t.get("allocator_backend") == "cudaMallocAsync", f"PyTorch's allocator backend is {t.get('allocator_backend')!r}")
        return "backend cudaMallocAsync, no deprecation warning"
    return check


def case_iterations(allocator, pattern, mark, source, extra=()):
    def check(r):
        t, rep = usable(r.run(allocator, pattern, mark, extra=extra))
        it = rep["iterations"]
        expect(it["source"] == source, f"iterations from {it['source']!r}, expected {source!r}")
        expect(it["count"] == t["steps"], f"{it['count']} iterations, the workload ran {t['steps']} steps")
        return f"{it['count']} iterations from {source}"
    return check


def case_leak_verdict(allocator, images=4, steps=10, leak_bytes=None, mark="nvtx", extra=()):
    """The one leak is flagged, at its line, at its rate (within 10%), and nothing else is."""
    def check(r):
        more = ("--leak-bytes", str(leak_bytes)) if leak_bytes else ()
        t, rep = usable(r.run(allocator, "leak", mark, images=images, steps=steps, extra=tuple(extra) + more))
        memory = "physical" if allocator == "expandable" else None
        s = leak_site(rep, memory)
        where = t["leak_site"]
        expect(has_python_line(s, where), f"the leak is named `{site_name(s)}`, not "
               f"{os.path.basename(where['file'])}:{where['line']} ({where['function']})")
        others = [o for o in sites_with(rep, "leak") if o is not s]
        expect(not others, f"{len(others)} more site(s) judged `leak`: {', '.join(site_name(o) for o in others[:3])}")
        bpi = s["bytes_per_iteration"]
        # Through a cache the leak arrives a segment at a time: its average climb is the leak.
        tol = 0.0 if allocator == "tensors" else 0.10
        expect(near(bpi, t["leak_bytes"], tol), f"the leaking site grows {mib(bpi)}/iteration, the workload leaks {mib(t['leak_bytes'])}/step")
        expect(rep["iterations"]["device_verdict"] == "leak", f"the device's verdict is {rep['iterations']['device_verdict']!r}")
        d = rep["diagnosis"][0] if rep["diagnosis"] else None
        expect(d is not None and d["cause"] == "leak", f"the diagnosis is {first_diagnosis(rep)}")
        return f"{site_name(s)}: leak, {mib(bpi)}/iteration, the only one"
    return check


def case_freed_at_exit(allocator):
    """Tensors kept in a module-level list are freed at interpreter shutdown: the report says what
    the leak held at the last iteration, not "0 B live"."""
    def check(r):
        t, rep = usable(r.run(allocator, "leak"))
        s = leak_site(rep)
        held = s.get("live_bytes_at_last_iteration")
        # The last iteration begins after steps - 1 leaks.
        want = (t["steps"] - 1) * t["leak_bytes"]
        expect(s["live_bytes_at_end"] == 0, f"{mib(s['live_bytes_at_end'])} live at the end; the list is emptied at shutdown")
        expect(held is not None and near(held, want, 0.01), f"held at the last iteration {mib(held)}, the workload kept {mib(want)}")
        text = rep["diagnosis"][0]["text"] if rep["diagnosis"] else ""
        expect("held at the last iteration, freed at exit" in text, f"the diagnosis does not say so: {text[:200]}")
        return f"{mib(held)} held at the last iteration, freed at exit"
    return check


def case_hidden_in_cache():
    """A leak small enough to live inside the caching allocator's segments makes no cudaMalloc:
    the default allocator's run must not be called healthy, and must give the command that
    shows it, which then does."""
    def check(r):
        extra = ("--leak-bytes", str(32 * 1024))
        t, rep = usable(r.run("native", "leak", extra=extra))
        causes = [d["cause"] for d in rep["diagnosis"]]
        expect("healthy" not in causes, f"a 32 KiB-per-step leak under the cache is called healthy: {first_diagnosis(rep)}")
        v = rep["visibility"]
        expect(v["cache"] == "pytorch" and "hidden_by_cache" in v["causes"], f"visibility {v}")
        cmd = v.get("command") or ""
        expect("--torch-tensors" in cmd and "sampler.py" in cmd, f"no command that shows it: {cmd!r}")
        expect(rep["diagnosis"] and cmd in rep["diagnosis"][0]["text"], f"the diagnosis does not give the command: {first_diagnosis(rep)}")
        t2, rep2 = usable(r.run("tensors", "leak", extra=extra))
        s = leak_site(rep2)
        expect(has_python_line(s, t2["leak_site"]), f"with --torch-tensors the leak is named {site_name(s)}")
        expect(near(s["bytes_per_iteration"], t2["leak_bytes"], 0.10), f"{mib(s['bytes_per_iteration'])}/iteration, truth {mib(t2['leak_bytes'])}")
        return f"not called healthy; {cmd.split(' -- ')[0]} shows {site_name(s)}"
    return check


def case_same_leak_everywhere():
    """The one leak has the same name under every allocator: the site a person looks for does
    not depend on how PyTorch got its memory."""
    def check(r):
        names = {}
        for allocator in ALLOCATORS:
            t, rep = usable(r.run(allocator, "leak"))
            s = leak_site(rep, "physical" if allocator == "expandable" else None)
            names[allocator] = site_name(s)
        expect(len(set(names.values())) == 1, f"the leak is named differently: {names}")
        return f"{next(iter(names.values()))} under {', '.join(names)}"
    return check


def case_python_line(allocator):
    def check(r):
        t, rep = usable(r.run(allocator, "leak"))
        s = leak_site(rep)
        where = t["leak_site"]
        expect(has_python_line(s, where), f"the leak is named `{site_name(s)}`, not {os.path.basename(where['file'])}:{where['line']} ({where['function']})")
        return f"named {os.path.basename(where['file'])}:{where['line']}"
    return check


def case_temporaries(allocator):
    """The model's temporaries: many sites, each with its own Python stack, none a leak."""
    def check(r):
        t, rep = usable(r.run(allocator, "leak"))
        where = t["leak_site"]
        innermost = lambda s: next((f for f in s["frames"] if ".py:" in f), None)
        others = [s for s in rep["sites"] if innermost(s) and not has_python_line(s, where)]
        lines = {innermost(s) for s in others}
        expect(len(others) >= 20, f"{len(others)} sites with Python frames besides the leak")
        expect(len(lines) >= 5, f"the temporaries come from {len(lines)} Python lines: {sorted(lines)[:5]}")
        leaks = [s for s in others if s.get("verdict") == "leak"]
        expect(not leaks, f"a temporary is judged `leak` at {site_name(leaks[0]) if leaks else ''}")
        return f"{len(others)} sites of temporaries at {len(lines)} Python lines, none a leak"
    return check


def case_clean(allocator, mark="nvtx"):
    def check(r):
        t, rep = usable(r.run(allocator, "clean", mark))
        judged_sites(rep, "physical" if allocator == "expandable" else "device")
        leaks = sites_with(rep, "leak")
        expect(not leaks, f"{len(leaks)} site(s) judged `leak` in a run that keeps nothing: {site_name(leaks[0]) if leaks else ''}")
        expect(rep["iterations"]["device_verdict"] != "leak", "the device is judged `leak` in a run that keeps nothing")
        causes = [d["cause"] for d in rep["diagnosis"]]
        expect("leak" not in causes, f"the diagnosis says leak: {first_diagnosis(rep)}")
        return f"no leak over {rep['iterations']['count']} iterations"
    return check


def case_sawtooth(allocator):
    def check(r):
        t, rep = usable(r.run(allocator, "sawtooth"))
        saw = sites_with(rep, "sawtooth")
        leaks = sites_with(rep, "leak")
        expect(not leaks, f"memory released at the end of each image is judged `leak` at {site_name(leaks[0]) if leaks else ''}")
        expect(saw, f"no site is judged `sawtooth` (verdicts: {sorted({str(s.get('verdict')) for s in rep['sites']})})")
        return f"{site_name(saw[0])}: sawtooth"
    return check


def case_model_switch(allocator):
    def check(r):
        t, rep = usable(r.run(allocator, "model-switch"))
        peak = rep["totals"]["peak_live_bytes"]
        expect(near(peak, t["max_allocated"], 0.001), f"device peak {mib(peak)} != torch.cuda.max_memory_allocated() {mib(t['max_allocated'])}")
        expect(peak >= 2 * t["model_bytes"], f"the peak {mib(peak)} does not hold both models ({mib(t['model_bytes'])} each)")
        leaks = sites_with(rep, "leak")
        expect(not leaks, f"one model switch is judged a per-iteration leak at {site_name(leaks[0]) if leaks else ''}")
        return f"both models live at the peak ({mib(peak)}), no per-iteration leak"
    return check


def case_cached(allocator, pattern):
    """Memory a cache keeps through a sawtooth or a model switch: all counted, judged, no leak."""
    def check(r):
        t, rep = usable(r.run(allocator, pattern))
        memory = "physical" if allocator == "expandable" else "device"
        held = rep["memory"]["physical_live_bytes_at_end"] if memory == "physical" else rep["totals"]["live_bytes_at_end"]
        expect(held == t["reserved"], f"{memory} memory live at end {mib(held)} != torch.cuda.memory_reserved() {mib(t['reserved'])}")
        sites = judged_sites(rep, memory)
        leaks = [s for s in sites if s.get("verdict") == "leak"]
        expect(not leaks, f"a cache keeping memory through the {pattern} is judged `leak` at {site_name(leaks[0]) if leaks else ''}")
        verdicts = sorted({s["verdict"] for s in sites})
        return f"{mib(held)} held as PyTorch says, verdicts {', '.join(verdicts)}"
    return check


def case_oom(allocator):
    """Out of memory because of the leak, and the diagnosis says so at the leak's line."""
    def check(r):
        t, rep = usable(r.run(allocator, "oom", images=1000, capacity="256M"), oom=True)
        final = [o for o in rep["ooms"] if not o.get("retried")]
        expect(rep["ooms"], "no failed allocation recorded")
        expect(final, f"every one of {len(rep['ooms'])} failed allocations is marked retried")
        d = rep["diagnosis"][0] if rep["diagnosis"] else None
        expect(d is not None and d["cause"] == "leak", f"the diagnosis of the out-of-memory run is {first_diagnosis(rep)}")
        where = t["leak_site"]
        line = f"{os.path.basename(where['file'])}:{where['line']}"
        expect("because of a leak" in d["text"] and line in d["text"],
               f"the diagnosis does not blame the leak at {line}: {d['text'][:200]}")
        return f"out of memory after {t['steps']} steps, diagnosed as a leak at {line}"
    return check


def case_closing_line(allocator):
    def check(r):
        run = r.run(allocator, "leak")
        t, rep = usable(run)
        expect(run.closing is not None, "no closing line from gpuleak run")
        m = re.search(r"still live at exit \(([^)]*)\)", run.closing)
        live = parse_size(m.group(1)) if m else None
        # The line rounds to three figures.
        expect(near(live, t["reserved"], 0.01), f"the closing line says {m.group(1) if m else '?'} live at exit, "
               f"PyTorch holds {mib(t['reserved'])}: {run.closing!r}")
        return run.closing
    return check


# Reads a pickle with PyTorch's own memory_viz module; prints what it found as JSON.
MEMORY_VIZ_READER = r"""
import json, pickle, sys
import torch.cuda._memory_viz as mv
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
stats = mv.segsum(data)
trace = mv.trace(data)
page = mv.trace_plot(data)
actions = {}
for d in data["device_traces"]:
    for e in d:
        actions[e["action"]] = actions.get(e["action"], 0) + 1
print(json.dumps({
    "segments": len(data["segments"]),
    "reserved": sum(s["total_size"] for s in data["segments"]),
    "stats_reserved": [l for l in stats.splitlines() if l.startswith("total_reserved:")],
    "expected_reserved": "total_reserved: " + mv._format_size(sum(s["total_size"] for s in data["segments"])),
    "actions": actions,
    "trace_lines": len(trace.splitlines()),
    "plot": "Active Memory Timeline" in page,
}))
"""


def case_memory_viz(allocator):
    """`gpuleak export --format memory-viz` of the run opens in torch.cuda._memory_viz: its
    segments hold what the report says is live (under the default allocator, what PyTorch says
    it reserved), and its history has every allocation and free."""
    def check(r):
        run = r.run(allocator, "leak")
        t, rep = usable(run)
        pickle_path = run.trace + ".memory-viz.pickle"
        e = subprocess.run([r.args.gpuleak, "export", run.trace, "--format", "memory-viz", "-o", pickle_path],
                           capture_output=True, text=True, timeout=r.args.timeout)
        expect(e.returncode == 0, f"gpuleak export exited {e.returncode}: {e.stderr.strip()}")
        v = subprocess.run([r.args.python, "-c", MEMORY_VIZ_READER, pickle_path],
                           capture_output=True, text=True, timeout=r.args.timeout)
        expect(v.returncode == 0, f"torch.cuda._memory_viz could not read the pickle: {v.stderr.strip()[-300:]}")
        got = json.loads(v.stdout.strip().splitlines()[-1])
        gpu = rep["gpu"]
        expect(got["reserved"] == gpu["live_bytes_at_end"],
               f"segments hold {mib(got['reserved'])}, the report has {mib(gpu['live_bytes_at_end'])} live at the end")
        if allocator == "native":
            expect(got["reserved"] == t["reserved"],
                   f"segments hold {mib(got['reserved'])}, torch.cuda.memory_reserved() {mib(t['reserved'])}")
        expect(got["stats_reserved"] == [got["expected_reserved"]],
               f"memory_viz stats says {got['stats_reserved']}, not {got['expected_reserved']!r}")
        allocs = got["actions"].get("alloc", 0)
        frees = got["actions"].get("free_completed", 0)
        expect(allocs == gpu["allocations"], f"{allocs} alloc entries, the report counts {gpu['allocations']} allocations")
        expect(frees == gpu["frees"], f"{frees} free_completed entries, the report counts {gpu['frees']} frees")
        expect(got["plot"], "trace_plot did not make its page")
        return (f"{got['segments']} segments, {got['expected_reserved']}, "
                f"{allocs} allocs and {frees} frees in the history")
    return check


CASES = [
    ("native-clean", case_clean("native")),
    ("native-leak-totals", case_totals("native", "leak")),
    ("native-leak-nvtx-iterations", case_iterations("native", "leak", "nvtx", "nvtx")),
    ("native-leak-verdict", case_leak_verdict("native")),
    # 1.5 MiB a step: a 20 MiB segment every 13 or 14 steps, the last one followed by a long
    # flat run, as PyTorch's cache shows most leaks.
    ("native-staircase-verdict", case_leak_verdict("native", images=2, steps=15, leak_bytes=3 * MIB // 2)),
    ("native-leak-python-line", case_python_line("native")),
    ("native-sawtooth", case_cached("native", "sawtooth")),
    ("native-model-switch", case_cached("native", "model-switch")),
    ("native-oom-diagnosis", case_oom("native")),
    ("native-leak-hidden-in-cache", case_hidden_in_cache()),
    ("native-cut-in-early-steps", case_cut_in_early_steps("native")),
    ("native-cut-while-loading-on-device", case_cut_while_loading("native", "none")),
    ("native-cut-after-loading-on-device", case_cut_after_loading("native", "none")),
    ("native-leak-after-loading-on-device", case_leak_verdict("native", extra=DEVICE_INIT)),
    ("expandable-clean", case_clean("expandable")),
    ("expandable-leak-totals", case_totals("expandable", "leak")),
    ("expandable-leak-verdict", case_leak_verdict("expandable")),
    ("expandable-leak-python-line", case_python_line("expandable")),
    ("expandable-closing-line", case_closing_line("expandable")),
    ("expandable-sawtooth", case_cached("expandable", "sawtooth")),
    ("expandable-model-switch", case_cached("expandable", "model-switch")),
    ("expandable-oom-diagnosis", case_oom("expandable")),
    ("expandable-cut-while-loading-on-device", case_cut_while_loading("expandable", "none")),
    ("expandable-cut-after-loading-on-device", case_cut_after_loading("expandable", "none")),
    ("tensors-clean-auto-iterations", case_iterations("tensors", "clean", "none", "auto")),
    ("tensors-leak-totals", case_totals("tensors", "leak")),
    ("tensors-no-deprecation-warning", case_no_deprecation_warning()),
    ("tensors-leak-module-iterations", case_iterations("tensors", "leak", "module", "marker")),
    ("tensors-leak-verdict", case_leak_verdict("tensors")),
    ("tensors-cut-in-first-step", case_cut_short("tensors")),
    ("tensors-cut-in-early-steps", case_cut_in_early_steps("tensors")),
    ("tensors-cut-while-loading-on-device", case_cut_while_loading("tensors", "none")),
    ("tensors-cut-while-loading-on-device-nvtx", case_cut_while_loading("tensors", "nvtx")),
    ("tensors-cut-after-loading-on-device", case_cut_after_loading("tensors", "none")),
    ("tensors-cut-after-loading-on-device-nvtx", case_cut_after_loading("tensors", "nvtx")),
    ("tensors-leak-after-loading-on-device", case_leak_verdict("tensors", mark="none", extra=DEVICE_INIT)),
    ("tensors-leak-after-loading-on-device-iterations",
     case_iterations("tensors", "leak", "none", "auto", extra=DEVICE_INIT)),
    ("tensors-leak-python-line", case_python_line("tensors")),
    ("tensors-leak-freed-at-exit", case_freed_at_exit("tensors")),
    ("tensors-temporaries-python-lines", case_temporaries("tensors")),
    ("tensors-sawtooth", case_sawtooth("tensors")),
    ("tensors-model-switch", case_model_switch("tensors")),
    ("tensors-oom-diagnosis", case_oom("tensors")),
    ("same-leak-every-allocator", case_same_leak_everywhere()),
    ("native-memory-viz-export", case_memory_viz("native")),
    ("tensors-memory-viz-export", case_memory_viz("tensors")),
]


# Holders (issue 21): tests/torch/holders_cases.py. Expected failures until the report carries
# `holders` (the viewer's side of issue 21).
HOLDERS_CASES = holders_cases.cases(ALLOCATORS, expect, Reused)
CASES += HOLDERS_CASES

# Out of memory, explained (issue 23): tests/torch/oom_cases.py. The leak that fills the device
# is the sampler's `oom` pattern, the run case_oom reads.
CASES += oom_cases.cases(
    ALLOCATORS, Reused, lambda r, allocator: r.run(allocator, "oom", images=1000, capacity="256M"))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpuleak", help="the gpuleak binary")
    ap.add_argument("--fake-cuda", help="directory of the fake CUDA libraries")
    ap.add_argument("--python", help="the Python that has PyTorch")
    ap.add_argument("--work", help="directory for traces and logs")
    ap.add_argument("--only", action="append", default=[], help="run only this case (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--reuse", action="store_true",
                    help="read the runs a --keep left in --work again (their logs and traces) and "
                         "only report on them anew: for work on the analysis; the closing lines "
                         "are the old ones")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run [600]")
    args = ap.parse_args()

    if args.list:
        for name, _ in CASES:
            issue = EXPECTED_FAILURES.get(name)
            print(name + (f"  (expected failure until issue {issue})" if issue else ""))
        return 0
    missing = [f"--{n.replace('_', '-')}" for n in ("gpuleak", "fake_cuda", "python", "work") if not getattr(args, n)]
    if missing:
        ap.error(f"{', '.join(missing)} needed (scripts/torch-check.sh passes them)")
    unknown = [n for n in args.only + list(EXPECTED_FAILURES) if n not in dict(CASES)]
    if unknown:
        print(f"torch-check: unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    os.makedirs(args.work, exist_ok=True)
    runner = Runner(args)
    failed = 0
    for name, check in CASES:
        if args.only and name not in args.only:
            continue
        issue = EXPECTED_FAILURES.get(name)
        try:
            detail = check(runner)
        except Differed as e:
            if issue:
                print(f"XFAIL {name}: {e} (issue {issue})", flush=True)
            else:
                print(f"FAIL {name}: {e}", flush=True)
                failed += 1
            continue
        except subprocess.TimeoutExpired as e:
            print(f"FAIL {name}: timed out after {e.timeout:.0f} s: {shlex.join(e.cmd)}", flush=True)
            failed += 1
            continue
        if issue:
            print(f"FAIL {name}: passes, but is listed as an expected failure of issue {issue} "
                  f"(remove it from EXPECTED_FAILURES in {__file__}): {detail}", flush=True)
            failed += 1
        else:
            print(f"PASS {name}: {detail}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
