#!/usr/bin/env python3
"""holders_wait: keeps a buffer, prints `ready`, then waits for the hook to take the request
file the test makes (`<trace path>.want-holders`) and gives the walk time to run: the walk on
demand happens while the program runs. With --exit-at-once it ends as soon as the request is
taken, while that walk still runs (the longer with --heap N)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

KEPT = [DeviceBuffer("kept", 4096)]
# --heap N: N more objects, so that the walk takes a while.
HEAP = [[i] for i in range(int(sys.argv[sys.argv.index("--heap") + 1]) if "--heap" in sys.argv else 0)]
request = os.environ["GPULEAK_OUTPUT"].replace("%p", str(os.getpid())) + ".want-holders"


def serve():
    in_flight = DeviceBuffer("in-flight", 8192)
    print("ready", flush=True)
    # The test makes the request, then `<request>.sent`: the hook may take the request before
    # this loop would have seen it.
    while not os.path.exists(request + ".sent"):
        time.sleep(0.01)
    while os.path.exists(request):
        time.sleep(0.01)
    if "--exit-at-once" not in sys.argv:
        time.sleep(0.5)
    return in_flight


serve()
print("done", flush=True)
