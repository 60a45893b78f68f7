"""The holders cases of tests/torch/check.py (issue 21): tests/torch/holders_app.py keeps
memory in one way per mode; the walk inside the process must name each holder with its exact
path, root and role, under every allocator. The app prints what it keeps (GPULEAK_HOLDERS); the
cases read the report's `holders` snapshots. check.py hands over what they share with its other
cases (its allocators, `expect`, and how a kept run is read back), so that this file imports
nothing of it."""

import json
import os
import shlex
import subprocess
import time

HOLDERS_APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "holders_app.py")
SD_GALLERY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sd_gallery.py")
HOLDERS_MODES = ("gallery", "class-cache", "instance", "closure", "generator", "thread", "custom-node",
                 "losses", "training", "clean", "oom-weights")


def run_holders_app(r, allocator, mode, allocators, reused):
    key = ("holders", allocator, mode)
    if key in r.runs:
        return r.runs[key]
    # The weights fit in 160 MiB, one request's activations (3 x 64 MiB) do not; Stable
    # Diffusion's take 3.2 GiB at their peak.
    capacity = {"oom-weights": "160M", "sd-gallery": "80G"}.get(mode, "1G")
    name = f"{allocator}-holders-{mode}"
    trace = os.path.join(r.args.work, name + ".trace")
    log = os.path.join(r.args.work, name + ".log")
    app = [SD_GALLERY, "--requests", "12", "--steps", "2"] if mode == "sd-gallery" else [HOLDERS_APP, "--mode", mode]
    cmd = [r.args.gpuleak, "run", "--no-tui", "-o", trace, *allocators[allocator][0], "--",
           r.args.python, *app]
    if r.args.reuse:
        p = reused(log)
    else:
        started = time.monotonic()
        p = subprocess.run(cmd, env=r.env(allocator, capacity), capture_output=True, text=True,
                           timeout=r.args.timeout)
        with open(log, "w") as f:
            f.write("$ " + shlex.join(cmd) + f"\n# exit {p.returncode}, "
                    f"{time.monotonic() - started:.1f} s\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    kept = None
    for line in p.stdout.splitlines():
        if line.startswith("GPULEAK_HOLDERS "):
            kept = json.loads(line[len("GPULEAK_HOLDERS "):])
    report = None
    if os.path.exists(trace):
        rep = subprocess.run([r.args.gpuleak, "report", trace, "--format", "json"],
                             capture_output=True, text=True, timeout=r.args.timeout)
        if rep.returncode == 0:
            report = json.loads(rep.stdout)
    run = Ran(kept, report, p.returncode, log)
    r.runs[key] = run
    return run


def case_holders(allocator, mode, allocators, expect, reused):
    """Each holder the app says it keeps is in the walk's snapshot with its exact path, root,
    role, model and size; a clean run's holders are the model's parameters and buffers only."""
    def check(r):
        run = run_holders_app(r, allocator, mode, allocators, reused)
        kept = run.kept
        expect(kept is not None, f"the app printed no GPULEAK_HOLDERS line (exit {run.rc}; see {run.log})")
        oom = mode == "oom-weights"
        expect(run.rc == (1 if oom else 0), f"the app exited {run.rc} (see {run.log})")
        expect(run.report is not None, f"no report from gpuleak (see {run.log})")
        snaps = run.report.get("holders")
        expect(snaps, "the report has no holders snapshot")
        reason = "out_of_memory" if oom else "exit"
        if not oom:
            expect(snaps[-1]["reason"] == "exit", f"the last snapshot was taken at {snaps[-1]['reason']}")
        chosen = [s for s in snaps if s["reason"] == reason]
        expect(chosen, f"no snapshot taken at {reason}: {[s['reason'] for s in snaps]}")
        entries = chosen[-1]["entries"]
        for want in kept["expect"]:
            found = [e for e in entries if e["path"] == want["path"]]
            expect(len(found) == 1, f"{want['path']} is {len(found)} holders, not 1: "
                   f"{[e['path'] for e in entries][:12]}")
            e = found[0]
            got = (e["root"], e["role"], e["model"], e["bytes"])
            expect(got == (want["root"], want["role"], want["model"], want["bytes"]),
                   f"{want['path']}: root, role, model, bytes {got}, not "
                   f"{(want['root'], want['role'], want['model'], want['bytes'])}")
            where = e["root_where"]
            expect(where.endswith(want["root_where_end"]) and where.startswith(want.get("root_where_start", "")),
                   f"{want['path']}: root_where {where!r}")
        if oom:
            # Weights and the failing step's own tensors, nothing user code keeps growing: the
            # input is too large for the device, not a leak.
            causes = [d["cause"] for d in run.report["diagnosis"]]
            text = run.report["diagnosis"][0]["text"] if run.report["diagnosis"] else ""
            expect(causes[:1] == ["too_large"] and "not a leak" in text,
                   f"the out-of-memory failure is read as {causes}: {text[:300]}")
        if mode == "clean":
            others = [e["path"] for e in entries
                      if e["role"] not in ("parameter", "buffer") or e["model"] != "MODEL (Net)"]
            expect(not others, f"a clean run is held by more than its model: {others}")
        return f"{len(entries)} holders, " + ", ".join(f"{w['path']} ({w['role']})" for w in kept["expect"])
    return check


def case_sd_gallery(allocator, allocators, expect, reused):
    """The issue's own case: a full-size Stable Diffusion 1.5 UNet and VAE (fp16, random
    weights) serving 12 requests, each output image kept in a module-level list. The report
    names the list as what keeps the leak's memory, and says the weights are the UNet's and the
    VAE's, by model."""
    def check(r):
        run = run_holders_app(r, allocator, "sd-gallery", allocators, reused)
        expect(run.rc == 0 and run.report is not None, f"the pipeline exited {run.rc} (see {run.log})")
        rep = run.report
        text = rep["diagnosis"][0]["text"] if rep["diagnosis"] else ""
        if allocator == "tensors":
            expect(text.startswith("No out-of-memory failure") and "`GALLERY` (" in text
                   and "a module global) keeps" in text,
                   f"the diagnosis does not name the gallery first: {text[:300]}")
        else:
            # 18 MiB of images fit in the caching allocator's segments: no growth the driver
            # sees, and the diagnosis says how to see it; the walk still names them.
            expect("--torch-tensors" in text, f"the hidden leak is not pointed at: {text[:300]}")
        exits = [s for s in rep["holders"] if s["reason"] == "exit"]
        expect(exits, "no walk at exit")
        walk = exits[-1]
        images = [e for e in walk["entries"] if e["path"].startswith("GALLERY[")]
        expect(len(images) == 12 and all(e["role"] == "user_held" and e["bytes"] == 3 * 512 * 512 * 2 for e in images),
               f"{len(images)} gallery images: {[(e['path'], e['role'], e['bytes']) for e in images][:3]}")
        models = {m["model"]: m["bytes"] for m in walk["by_model"]}
        unet = models.get("UNET (UNet2DConditionModel)", 0)
        vae = models.get("VAE (AutoencoderKL)", 0)
        expect(1.5 * 2**30 < unet < 1.7 * 2**30 and 100 * 2**20 < vae < 140 * 2**20,
               f"by model {models}: the UNet's 860M fp16 parameters are ~1.6 GiB, the VAE's ~118 MiB")
        return (f"`GALLERY` {'named first' if allocator == 'tensors' else 'in the walk'}; 12 images held by user code; UNet {unet / 2**30:.2f} GiB, "
                f"VAE {vae / 2**20:.0f} MiB of weights; walk {walk['elapsed_ms']:.0f} ms over "
                f"{walk['visited']} objects")
    return check


class Ran:
    """One run of the app: what it says it keeps, gpuleak's report, its exit status, its log."""

    def __init__(self, kept, report, rc, log):
        self.kept = kept
        self.report = report
        self.rc = rc
        self.log = log


def cases(allocators, expect, reused):
    """(name, check) for every allocator and mode."""
    return [(f"{a}-holders-{m}", case_holders(a, m, allocators, expect, reused))
            for a in allocators for m in HOLDERS_MODES] + [
        (f"{a}-holders-sd-gallery", case_sd_gallery(a, allocators, expect, reused))
        for a in ("native", "tensors")
    ]
