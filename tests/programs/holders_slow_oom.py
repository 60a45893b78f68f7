#!/usr/bin/env python3
"""holders_slow_oom: a failure whose out-of-memory walk takes its whole time cap (a heap of
N small objects, `holders_slow_oom.py N`; run with GPULEAK_HOLDERS_SECONDS=1.5), retried at
once, as PyTorch asks again after emptying its cache: one failure to the user, however long
gpuleak's walk took. Prints `alloc NAME ADDRESS SIZE` for its one buffer, `out of memory` per
failure, then `done`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

MiB = 1 << 20
# The first allocation sets the walk up (at the interpreter's next pending call).
WEIGHTS = [DeviceBuffer("weights", 8 * MiB)]
HEAP = [[i] for i in range(int(sys.argv[1]))]


def decode():
    for _ in range(2):
        try:
            DeviceBuffer("too-large", 1024 * MiB)
        except MemoryError:
            print("out of memory", flush=True)


decode()
print("done", flush=True)
