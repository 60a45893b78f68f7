#!/usr/bin/env python3
"""holders_quiet: what the program can see of itself before and after a walk (the one at an
out-of-memory failure, which runs before the failing call returns) must not change: prints the
same lines with and without the hook (run with FAKE_CUDA_CAPACITY=64M).

No garbage is left pending before the walk: the walk's own short-lived objects count toward the
collector's next automatic run as any code's do, and that run may come a little earlier; what it
would collect is the program's garbage, not anything the walk left."""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

MiB = 1 << 20


class Latents:
    def __init__(self, buffer, step):
        self.buffer = buffer
        self.step = step


KEPT = [Latents(DeviceBuffer("kept", MiB), i) for i in range(3)]
TOTALS = {"steps": sum(k.step for k in KEPT)}


def observe():
    return gc.isenabled(), len(gc.get_objects()), sorted(sys.modules), dict(TOTALS)


gc.collect()
before = observe()
try:
    DeviceBuffer("too-large", 1024 * MiB)
except MemoryError:
    pass
after = observe()
print("gc enabled", before[0], after[0])
print("gc objects added", after[1] - before[1])
print("modules added", sorted(set(after[2]) - set(before[2])))
print("results", before[3], after[3])
print("done", flush=True)
