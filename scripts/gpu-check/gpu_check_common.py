"""What the Python parts of scripts/gpu-check.sh share: gpuleak's marker module from this
repository (it does nothing without the hook), the command line every part takes (--leak,
--steps), and the one JSON line check.py reads from a part's output. Imported from the part's
own directory, which Python puts first on sys.path for a script."""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from gpuleak import mark_iteration  # noqa: E402,F401  (re-exported for the parts)


def parser(steps):
    """--leak (keep something every step: the injected leak) and --steps; add more, then parse."""
    p = argparse.ArgumentParser()
    p.add_argument("--leak", action="store_true")
    p.add_argument("--steps", type=int, default=steps)
    return p


def skip(why):
    """The part cannot run here (a library or the GPU is missing): a SKIP row, exit 3."""
    print(f"SKIP: {why}")
    sys.exit(3)


def report(**figures):
    """The driver's and the library's own figures, for the table's comparison column."""
    print(json.dumps({"gpu_check": figures}), flush=True)
