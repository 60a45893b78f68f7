"""The out-of-memory cases of tests/torch/check.py (issue 23): each program of oom_app.py runs
out of device memory for one reason, and the report's `oom` object must name where the failed
request came from, split the device into parts that add up to its total, name the reason, and
give the advice that fits and no other. The leak that fills the device is sampler.py's `oom`
pattern, run by check.py's own runner.

check.py hands over what they share (its allocators, the runner, `Reused`), so that this file
imports nothing of it."""

import json
import os
import shlex
import subprocess
import time

from facts import MIB, expect

OOM_APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oom_app.py")
GIB = 1 << 30

# The device each program runs on, and what else holds it (the fake driver's other process).
DEVICES = {
    "decode-peak": ("3G", {}),
    "model-too-large": ("256M", {}),
    "fragmentation": ("256M", {}),
    "other-process": ("1G", {"FAKE_CUDA_OTHER_BYTES": "768M", "FAKE_CUDA_OTHER_PID": "4242"}),
}


class Ran:
    """One run of the app: what it said before failing, gpuleak's report, its exit status."""

    def __init__(self, said, report, rc, log):
        self.said = said
        self.report = report
        self.rc = rc
        self.log = log


def run_oom_app(r, allocator, mode, allocators, reused):
    key = ("oom", allocator, mode)
    if key in r.runs:
        return r.runs[key]
    capacity, extra_env = DEVICES[mode]
    name = f"{allocator}-oom-{mode}"
    trace = os.path.join(r.args.work, name + ".trace")
    log = os.path.join(r.args.work, name + ".log")
    cmd = [r.args.gpuleak, "run", "--no-tui", "-o", trace, *allocators[allocator][0], "--",
           r.args.python, OOM_APP, "--mode", mode]
    if r.args.reuse:
        p = reused(log)
    else:
        env = r.env(allocator, capacity)
        env.update(extra_env)
        started = time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=r.args.timeout)
        with open(log, "w") as f:
            f.write("$ " + shlex.join(cmd) + f"\n# exit {p.returncode}, "
                    f"{time.monotonic() - started:.1f} s\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    said = {}
    for line in p.stdout.splitlines():
        if line.startswith("GPULEAK_OOM "):
            said.update(json.loads(line[len("GPULEAK_OOM "):]))
    report = None
    if os.path.exists(trace):
        rep = subprocess.run([r.args.gpuleak, "report", trace, "--format", "json"],
                             capture_output=True, text=True, timeout=r.args.timeout)
        if rep.returncode == 0:
            report = json.loads(rep.stdout)
    run = Ran(said, report, p.returncode, log)
    r.runs[key] = run
    return run


def explained(report, capacity_bytes, log):
    """The report's `oom`, after checking what every out-of-memory report must hold: the parts
    add up to the device's total within 1%, and the total is the device's."""
    expect(report is not None, f"no report from gpuleak (see {log})")
    oom = report.get("oom")
    expect(oom is not None, f"the report has no `oom` object ({len(report.get('ooms', []))} failures; see {log})")
    total = oom["device_total_bytes"]
    expect(total == capacity_bytes, f"device total {total}, not the device's {capacity_bytes}")
    parts = {p["part"]: p["bytes"] for p in oom["parts"]}
    whole = sum(parts.values())
    expect(abs(whole - total) <= 0.01 * total,
           f"the parts add up to {whole / MIB:.1f} MiB, not the device's {total / MIB:.1f} MiB: {parts}")
    return oom, parts


def advised(oom, given, not_given):
    kinds = [a["advice"] for a in oom["advice"]]
    missing = [k for k in given if k not in kinds]
    wrong = [k for k in not_given if k in kinds]
    expect(not missing and not wrong,
           f"advice {kinds}: {'missing ' + str(missing) if missing else ''}"
           f"{' and ' if missing and wrong else ''}{'not justified ' + str(wrong) if wrong else ''}")
    for a in oom["advice"]:
        expect(a["evidence"], f"the advice {a['advice']} names no evidence")
    return kinds


def parse_capacity(text):
    return int(text[:-1]) * {"M": MIB, "G": GIB}[text[-1]]


def case_decode_peak(allocator, allocators, reused):
    """The issue's own case: Stable Diffusion 1.5's weights fit a 3 GiB device, the VAE decode
    of the first 512x512 image does not. The report names the decode as where it failed, says
    the weights fit and the step's peak does not, and advises tiling the decode and a smaller
    input (and, the weights of two models taking half the device, offloading the one not in
    use), not a leak fix nor the allocator's settings."""
    def check(r):
        run = run_oom_app(r, allocator, "decode-peak", allocators, reused)
        expect(run.rc == 1 and "loaded_bytes" in run.said, f"the pipeline exited {run.rc} (see {run.log})")
        oom, parts = explained(run.report, parse_capacity(DEVICES["decode-peak"][0]), run.log)
        label = oom["request"]["label"]
        expect("sd_gallery.py:54" in label and "Decoder.forward" in label,
               f"the failed request is not named by the decode in the program's words: {label!r}")
        expect(oom["cause"] == "step_peak", f"cause {oom['cause']}, not step_peak")
        loaded = parts.get("loaded", 0)
        expect(loaded >= 0.95 * run.said["loaded_bytes"],
               f"loaded {loaded / MIB:.0f} MiB, the weights are {run.said['loaded_bytes'] / MIB:.0f} MiB: {parts}")
        # The walk at the failure names each model as the program holds it (`vae` in the
        # caller), not as the layer running takes it (`self` in Decoder.forward).
        models = [s["label"] for p in oom["parts"] if p["part"] == "loaded" for s in p["by"]
                  if s["label"].endswith("Model)") or s["label"].endswith("KL)") or s["label"].startswith("self (")]
        expect("unet (UNet2DConditionModel)" in models and "vae (AutoencoderKL)" in models
               and not any(m.startswith("self (") for m in models),
               f"the loaded models are not named as the program holds them: {models}")
        kinds = advised(oom, ["vae_tiling", "smaller_input"],
                        ["expandable_segments", "free_leak", "free_other_processes"])
        return (f"{label}: {oom['request']['bytes'] / MIB:.0f} MiB failed; loaded {loaded / GIB:.2f} GiB; "
                f"cause {oom['cause']}, short by {oom['short_by_bytes'] / MIB:.0f} MiB; advice {kinds}")
    return check


def case_model_too_large(allocator, allocators, reused):
    """384 MiB of weights on a 256 MiB device: the model alone does not fit, and the advice is
    not about the input."""
    def check(r):
        run = run_oom_app(r, allocator, "model-too-large", allocators, reused)
        expect(run.rc == 1, f"the program exited {run.rc} (see {run.log})")
        oom, parts = explained(run.report, parse_capacity(DEVICES["model-too-large"][0]), run.log)
        label = oom["request"]["label"]
        expect("model_too_large (oom_app.py:" in label, f"the failed request is not named by the loading line: {label!r}")
        expect(oom["cause"] == "model_too_large", f"cause {oom['cause']}, not model_too_large")
        expect(parts.get("loaded", 0) >= 200 * MIB and parts.get("working", 0) == 0,
               f"the weights loaded so far are not the loaded part: {parts}")
        kinds = advised(oom, [], ["smaller_input", "vae_tiling", "expandable_segments", "free_leak"])
        return f"{label}: cause {oom['cause']}, loaded {parts.get('loaded', 0) / MIB:.0f} MiB; advice {kinds}"
    return check


def case_fragmentation(allocator, allocators, reused):
    """Under the native caching allocator, 168 MiB is free inside segments and an 18 MiB tensor
    still fails: fragmentation, with expandable segments as the fix. With expandable segments
    the same program finishes (the case `expandable-oom-fragmentation-fixed`)."""
    def check(r):
        run = run_oom_app(r, allocator, "fragmentation", allocators, reused)
        expect(run.rc == 1, f"the program exited {run.rc} (see {run.log})")
        oom, parts = explained(run.report, parse_capacity(DEVICES["fragmentation"][0]), run.log)
        label = oom["request"]["label"]
        expect(label.startswith("fragmentation (oom_app.py:"), f"the failed request is not named by its line: {label!r}")
        expect(oom["cause"] == "fragmentation", f"cause {oom['cause']}, not fragmentation")
        kinds = advised(oom, ["expandable_segments"], ["smaller_input", "free_leak", "vae_tiling"])
        return f"cause {oom['cause']}; parts {sorted(parts)}; advice {kinds}"
    return check


def case_fragmentation_fixed(allocators, reused):
    """The advice holds: with expandable segments the fragmenting program finishes."""
    def check(r):
        run = run_oom_app(r, "expandable", "fragmentation", allocators, reused)
        expect(run.rc == 0 and run.said.get("finished"), f"the program exited {run.rc} (see {run.log})")
        expect(run.report is not None and run.report.get("oom") is None,
               "a run that did not fail has an `oom` object")
        return "finishes with expandable segments, no `oom`"
    return check


def case_other_process(allocator, allocators, reused):
    """Another process holds 768 MiB of a 1 GiB device: the report says so, with its pid, and
    the fix is to free the device, not to change the program."""
    def check(r):
        run = run_oom_app(r, allocator, "other-process", allocators, reused)
        expect(run.rc == 1, f"the program exited {run.rc} (see {run.log})")
        oom, parts = explained(run.report, parse_capacity(DEVICES["other-process"][0]), run.log)
        label = oom["request"]["label"]
        expect(label.startswith("other_process (oom_app.py:") and "Linear.forward" in label,
               f"the failed request is not named by its line and layer: {label!r}")
        expect(oom["cause"] == "other_process", f"cause {oom['cause']}, not other_process")
        others = [p for p in oom["parts"] if p["part"] == "other_processes"]
        expect(others and others[0]["bytes"] == 768 * MIB and any("4242" in s["label"] for s in others[0]["by"]),
               f"the other process is not named with its 768 MiB: {others}")
        kinds = advised(oom, ["free_other_processes"], ["smaller_input", "expandable_segments", "free_leak"])
        return f"cause {oom['cause']}; other processes {others[0]['by']}; advice {kinds}"
    return check


def case_leak_fills(r_run, allocator):
    """sampler.py keeps 16 MiB a step on a 256 MiB device: the leak fills it, and the advice is
    to stop keeping what it keeps, naming it."""
    def check(r):
        run = r_run(r, allocator)
        oom, parts = explained(run.report, 256 * MIB, run.log)
        label = oom["request"]["label"]
        expect(label.startswith("keep_latents (sampler.py:"), f"the failed request is not named by the leaking line: {label!r}")
        expect(oom["cause"] == "leak", f"cause {oom['cause']}, not leak")
        kinds = advised(oom, ["free_leak"], ["smaller_input", "vae_tiling", "expandable_segments"])
        free = next(a for a in oom["advice"] if a["advice"] == "free_leak")
        expect("keep_latents" in free["evidence"] or "KEPT" in free["evidence"],
               f"the leak's advice does not name what keeps it: {free['evidence']!r}")
        return f"cause {oom['cause']}, kept {parts.get('kept', 0) / MIB:.0f} MiB; {free['evidence'][:80]}"
    return check


def cases(allocators, reused, sampler_oom_run):
    """(name, check) for every out-of-memory case; `sampler_oom_run(r, allocator)` is check.py's
    run of sampler.py's `oom` pattern."""
    out = []
    for a in ("native", "expandable", "tensors"):
        out.append((f"{a}-oom-decode-peak", case_decode_peak(a, allocators, reused)))
    for a in ("native", "tensors"):
        out.append((f"{a}-oom-model-too-large", case_model_too_large(a, allocators, reused)))
    out.append(("native-oom-fragmentation", case_fragmentation("native", allocators, reused)))
    out.append(("expandable-oom-fragmentation-fixed", case_fragmentation_fixed(allocators, reused)))
    for a in ("native", "tensors"):
        out.append((f"{a}-oom-other-process", case_other_process(a, allocators, reused)))
    for a in ("native", "expandable", "tensors"):
        out.append((f"{a}-oom-leak-fills-device", case_leak_fills(sampler_oom_run, a)))
    return out
