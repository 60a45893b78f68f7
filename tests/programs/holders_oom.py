#!/usr/bin/env python3
"""holders_oom: weights that fit, then a decode whose second buffer does not (run with
FAKE_CUDA_CAPACITY=64M): the walk at the failure must see the decode's local `activations`.
Prints `alloc NAME ADDRESS SIZE` per buffer, then `out of memory` per failure and `done`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402

MiB = 1 << 20
WEIGHTS = [DeviceBuffer("weights", 8 * MiB)]


def decode():
    activations = DeviceBuffer("activations", 16 * MiB)
    # Twice, as PyTorch asks again after emptying its cache: one failure to the user.
    for _ in range(2):
        try:
            DeviceBuffer("too-large", 1024 * MiB)
        except MemoryError:
            print("out of memory", flush=True)
    return activations.nbytes


decode()
print("done", flush=True)
