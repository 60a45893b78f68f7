#!/usr/bin/env python3
"""holders_wait: keeps a buffer, prints `ready`, then waits for the hook to take the request
file the test makes (`<trace path>.want-holders`) and gives the walk time to run: the walk on
demand happens while the program runs."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

KEPT = [DeviceBuffer("kept", 4096)]
request = os.environ["GPULEAK_OUTPUT"].replace("%p", str(os.getpid())) + ".want-holders"


def serve():
    in_flight = DeviceBuffer("in-flight", 8192)
    print("ready", flush=True)
    while not os.path.exists(request):
        time.sleep(0.01)
    while os.path.exists(request):
        time.sleep(0.01)
    time.sleep(0.5)
    return in_flight


serve()
print("done", flush=True)
