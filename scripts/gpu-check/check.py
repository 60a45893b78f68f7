"""Rows of scripts/gpu-check.sh's table, from one part's `gpuleak report --format json` and the
program's output, and the table itself.

    check.py row NAME EXPECT REPORT_JSON OUTPUT RC [T_HOOK T_BARE]   -> one tab-separated row
    check.py table ROWS_TSV                                          -> the aligned table

EXPECT: `leak:SUB` (a site judged leak with a frame containing SUB), `leak` (any site judged
leak), `sawtooth:SUB` (a sawtooth site with a frame containing SUB, and no leak), `none` (no
site judged leak). RC is the program's exit status under gpuleak; 3 with `SKIP` in the output
means the part's library is not installed.

The driver figure comes from the program's output: a line `{"gpu_check": {...}}` (the Python
scripts and the CUDA program print one, with driver_used = total - free from cuMemGetInfo, and
PyTorch's memory_reserved), or gpuleak-sampler's `done:` line.
"""

import json
import re
import sys

MIB = 1 << 20


def mib(n):
    return "-" if n is None else f"{n / MIB:.1f}"


def frames_match(site, sub):
    return any(sub in f for f in site.get("frames") or [])


def short_site(site):
    """The first frame that is not an allocator's or a runtime's own, shortened."""
    skip = ("cudarc::", "cuMem", "cuda", "libcuda", "malloc_async", "alloc<", "alloc_zeros",
            "clone_", "std::", "core::", "alloc::", "c10::", "?", "__")
    for f in site.get("frames") or []:
        name = f.split(" (")[0]
        if not name.startswith(skip):
            return name if len(name) <= 40 else name[:37] + "..."
    frames = site.get("frames") or ["?"]
    return frames[0].split(" (")[0][:40]


def driver_figure(output):
    for line in output.splitlines():
        line = line.strip()
        if line.startswith('{"gpu_check"'):
            try:
                d = json.loads(line)["gpu_check"]
            except (ValueError, KeyError):
                continue
            parts = []
            if d.get("driver_used") is not None:
                parts.append(f"used {mib(d['driver_used'])}")
            if d.get("torch_reserved") is not None:
                parts.append(f"reserved {mib(d['torch_reserved'])}")
            if d.get("pool_total") is not None:
                parts.append(f"pool {mib(d['pool_total'])}")
            return "; ".join(parts) or "-"
        m = re.search(r"device memory: (\d+) MiB used", line)
        if m:
            return f"used {m.group(1)}.0"
    return "-"


def found_and_result(report, expect):
    sites = report.get("sites") or []
    leaks = [s for s in sites if s.get("verdict") == "leak"]
    saws = [s for s in sites if s.get("verdict") == "sawtooth"]
    if leaks:
        found = "leak@" + ",".join(sorted({short_site(s) for s in leaks}))
    elif saws:
        found = "sawtooth@" + ",".join(sorted({short_site(s) for s in saws}))
    else:
        found = "no leak"
    kind, _, sub = expect.partition(":")
    if kind == "none":
        ok = not leaks
    elif kind == "leak":
        ok = any(frames_match(s, sub) for s in leaks) if sub else bool(leaks)
    elif kind == "sawtooth":
        ok = not leaks and any(frames_match(s, sub) for s in saws)
    else:
        raise SystemExit(f"check.py: unknown expectation {expect!r}")
    if sub and ok:
        found = f"{kind}@{sub}"
    return found, ok


def row(args):
    name, expect, report_path, output_path, rc = args[:5]
    t_hook, t_bare = (args[5:7] + ["-", "-"])[:2]
    try:
        with open(output_path, errors="replace") as f:
            output = f.read()
    except OSError:
        output = ""
    cells = [name, expect.replace(":", "@") if expect != "none" else "no leak"]
    if rc == "3" and "SKIP" in output:
        reason = next((l for l in output.splitlines() if "SKIP" in l), "SKIP")
        return cells + [reason.strip()[:40], "-", "-", "-", "SKIP"]
    try:
        with open(report_path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        return cells + [f"no report ({type(e).__name__})", "-", "-", "-", f"FAIL (rc {rc})"]
    found, ok = found_and_result(report, expect)
    mem = report.get("memory") or {}
    live = mem.get("device_plus_physical_live_bytes_at_end")
    peak = mem.get("device_plus_physical_peak_live_bytes")
    gpuleak = f"{mib(live)}/{mib(peak)}"
    pools = (report.get("pools") or {}).get("reserved_bytes_at_end")
    if pools:
        gpuleak += f" (pools {mib(pools)})"
    times = f"{t_hook}/{t_bare}"
    result = "PASS" if ok and rc == "0" else ("FAIL" if rc == "0" else f"FAIL (rc {rc})")
    return cells + [found, gpuleak, driver_figure(output), times, result]


HEAD = ["part", "expected", "found", "gpuleak live/peak MiB", "driver MiB", "s hook/bare",
        "result"]


def table(path):
    rows = [HEAD]
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(line.rstrip("\n").split("\t"))
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(HEAD))]
    for r in rows:
        print("  ".join((r[i] if i < len(r) else "").ljust(widths[i]) for i in range(len(HEAD)))
            .rstrip())
    failed = sum(1 for r in rows[1:] if r[-1].startswith("FAIL"))
    print(f"{len(rows) - 1} parts, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 6 and argv[0] == "row":
        print("\t".join(row(argv[1:])))
        return 0
    if len(argv) == 2 and argv[0] == "table":
        return table(argv[1])
    print("usage:\n" + "\n".join(__doc__.strip().splitlines()[3:5]), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
