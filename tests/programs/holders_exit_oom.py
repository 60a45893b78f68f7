#!/usr/bin/env python3
"""holders_exit_oom: an exit handler, registered before the first allocation (so it runs after
gpuleak's walk at exit), runs out of memory: the failing call must not wait for a walk that no
thread will make any more. Prints `out of memory after SECONDS`."""
import atexit
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402


def last_words():
    started = time.monotonic()
    try:
        DeviceBuffer("too-large", 1 << 40)
    except MemoryError:
        print(f"out of memory after {time.monotonic() - started:.2f}", flush=True)


atexit.register(last_words)
KEPT = [DeviceBuffer("kept", 4096)]
