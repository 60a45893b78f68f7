"""What a torch-check case reads in gpuleak's JSON report, and how it says what differed: shared
by check.py and the cases kept apart from it (cuts.py)."""

import os
import re

MIB = 1 << 20


class Differed(Exception):
    """A case's assertion did not hold; the message says what differed."""


def expect(cond, what):
    if not cond:
        raise Differed(what)


def mib(n):
    return "None" if n is None else f"{n / MIB:.2f} MiB"


def usable(run, oom=False):
    """The workload ran to its end (or to its out-of-memory error) and gpuleak reported on it."""
    expect(run.torch is not None, f"the workload printed no GPULEAK_TORCH line (exit {run.rc}; see {run.log})")
    expect(run.report is not None, f"no report from gpuleak (see {run.log})")
    if oom:
        expect(run.torch["oom"], f"the workload did not run out of memory (see {run.log})")
        expect(run.rc != 0, "the workload ran out of memory but exited 0")
    else:
        expect(run.rc == 0, f"the workload exited {run.rc} (see {run.log})")
    return run.torch, run.report


def judged_sites(report, memory):
    """The sites of one memory class ("device", "physical"), each of which must have a verdict:
    "no leak" means something only where the memory was judged at all."""
    sites = [s for s in report["sites"] if s["memory"] == memory]
    unjudged = [s for s in sites if s.get("verdict") is None]
    expect(sites and not unjudged, f"{len(unjudged)} of {len(sites)} sites of {memory} memory have no verdict")
    return sites


def sites_with(report, verdict):
    return [s for s in report["sites"] if s.get("verdict") == verdict]


def site_name(site):
    """The frame gpuleak names the site by (its first frame past library code)."""
    frames = site["frames"]
    if not frames:
        return f"stack {site['stack_id']}"
    return frames[min(site.get("user_frame", 0), len(frames) - 1)]


def leak_site(report, memory=None):
    """The site judged `leak` that holds the most live bytes at the end."""
    leaks = [s for s in sites_with(report, "leak") if memory is None or s["memory"] == memory]
    verdicts = sorted({f"{s['memory']}:{s.get('verdict')}" for s in report["sites"]})
    expect(leaks, f"no site is judged `leak` (sites: {len(report['sites'])}, verdicts: {verdicts}; "
                  f"diagnosis: {first_diagnosis(report)})")
    return max(leaks, key=lambda s: s["live_bytes_at_end"])


def first_diagnosis(report):
    d = report.get("diagnosis") or []
    return f"{d[0]['cause']}: {d[0]['text'][:160]}" if d else "none"


def parse_size(text):
    """"62.0 MiB" -> bytes, as gpuleak prints sizes."""
    m = re.fullmatch(r"([\d.]+) (B|KiB|MiB|GiB|TiB)", text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m.group(2)]


def near(value, target, tolerance):
    return value is not None and abs(value - target) <= tolerance * target


def has_python_line(site, where):
    needle = f"{os.path.basename(where['file'])}:{where['line']}"
    return any(needle in frame for frame in site["frames"])
