#!/usr/bin/env python3
"""holders_heap: the cost of the holders walk on a large heap (docs/performance.md, "The holders
walk"). Builds about --objects Python objects the collector tracks (records, each an instance
with a list and a dict, and tuples), with --owners device buffers kept among them, then exits:
the walk at exit visits them all. Prints how many objects the collector tracks."""
import argparse
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402


class Record:
    def __init__(self, i):
        self.tags = [i]
        self.meta = {"i": i}


ap = argparse.ArgumentParser()
ap.add_argument("--objects", type=int, default=1_000_000)
ap.add_argument("--owners", type=int, default=100)
args = ap.parse_args()
HEAP = [Record(i) for i in range(args.objects // 4)]
PAIRS = [(i, [i]) for i in range(args.objects // 8)]
OWNERS = {f"buffer-{i}": DeviceBuffer(f"owner-{i}", 4096) for i in range(args.owners)}
HEAP[-1].tags.append(DeviceBuffer("deep", 4096))
print("tracked", len(gc.get_objects()), flush=True)
