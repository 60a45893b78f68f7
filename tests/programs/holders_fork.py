#!/usr/bin/env python3
"""holders_fork: a forked child (as a DataLoader worker or a server's worker is) allocates,
prints `child PID` and `ready`, and waits for the hook to take a request file made for its own
trace; the parent waits for it. The child's trace must hold a walk on request."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

PARENT = [DeviceBuffer("parent", 4096)]
pid = os.fork()
if pid == 0:
    CHILD = [DeviceBuffer("child", 8192)]
    request = os.environ["GPULEAK_OUTPUT"].replace("%p", str(os.getpid())) + ".want-holders"
    print(f"child {os.getpid()}", flush=True)
    print("ready", flush=True)
    # The test makes the request, then `<request>.sent`: the hook may take the request before
    # this loop would have seen it.
    while not os.path.exists(request + ".sent"):
        time.sleep(0.01)
    while os.path.exists(request):
        time.sleep(0.01)
    time.sleep(0.5)
    sys.exit(0)
os.waitpid(pid, 0)
print("done", flush=True)
