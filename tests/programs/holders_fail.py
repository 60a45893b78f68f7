#!/usr/bin/env python3
"""holders_fail: a program that makes the walk fail (it hides every thread's frames) and ends
with status 3: its output and status must be the same with the hook, and the walk say it
failed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

KEPT = [DeviceBuffer("kept", 4096)]


def private():
    raise RuntimeError("frames are private here")


sys._current_frames = private
print("done", flush=True)
sys.exit(3)
