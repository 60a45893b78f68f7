#!/usr/bin/env python3
"""holders_late: the first allocation comes from the program's own exit handler, too late for
the walk at exit to be registered among them: the trace says why there is no walk."""
import atexit
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def last_words():
    from holders_device import DeviceBuffer

    global KEPT
    KEPT = DeviceBuffer("late", 4096)
    print("done", flush=True)


atexit.register(last_words)
