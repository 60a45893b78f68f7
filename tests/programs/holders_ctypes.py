#!/usr/bin/env python3
"""holders_ctypes: device buffers kept alive in every way the holders walk names, each printed
as `alloc NAME ADDRESS SIZE`; the walk at exit must find each one's path, root and role.

- `gallery`: a module-level list (`KEPT[1]`)
- `class-cache`: a dict cache as a class attribute (`Cache.entries['latest']`)
- `instance`: an instance attribute reached from a global (`SERVER.session.last`)
- `closure`: a closure cell (`keep_latents.<closure>.latents`)
- `generator`: a local of a suspended generator kept by a global (`STREAM.<locals>.chunk`)
- `hidden-generator`: a local of a suspended generator only C holds (atexit's list)
- `thread`: a local of a daemon thread's frame, still waiting at exit
- `custom-node`: a module-level cache of `custom_nodes/leaky/__init__.py`
- `from-c`: a buffer only an atexit callback (C) refers to
- `slots`: an attribute of an instance whose class has `__slots__` (`PINNED.buffer`)
"""
import atexit
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from holders_device import DeviceBuffer  # noqa: E402
from custom_nodes import leaky  # noqa: E402

KiB = 1024


def hidden():
    chunk = DeviceBuffer("hidden-generator", 7 * KiB)
    yield chunk.nbytes  # hidden
    yield 0


# Registered before the first allocation: atexit runs it after gpuleak's walk.
HIDDEN = hidden()
atexit.register(HIDDEN.close)
next(HIDDEN)
del HIDDEN

KEPT = [DeviceBuffer("first", 1 * KiB), DeviceBuffer("gallery", 2 * KiB)]


class Cache:
    entries = {}


Cache.entries["latest"] = DeviceBuffer("class-cache", 3 * KiB)


class Session:
    pass


class Server:
    def __init__(self):
        self.session = Session()


SERVER = Server()
SERVER.session.last = DeviceBuffer("instance", 4 * KiB)


def make_keeper():
    latents = DeviceBuffer("closure", 5 * KiB)

    def keep_latents():
        return latents

    return keep_latents


keep_latents = make_keeper()


def stream():
    chunk = DeviceBuffer("generator", 6 * KiB)
    yield chunk.nbytes
    yield 0


STREAM = stream()
next(STREAM)

leaky.remember("img", DeviceBuffer("custom-node", 8 * KiB))

class Pinned:
    __slots__ = ("buffer",)


PINNED = Pinned()
PINNED.buffer = DeviceBuffer("slots", 11 * KiB)

held = DeviceBuffer("from-c", 9 * KiB)
atexit.register(held.__sizeof__)
del held

started = threading.Event()


def worker():
    pending = DeviceBuffer("thread", 10 * KiB)
    started.set()
    threading.Event().wait()
    return pending


threading.Thread(target=worker, name="loader", daemon=True).start()
started.wait()
print("done", flush=True)
