#!/usr/bin/env python3
"""python_sampler: a Python "sampler" allocating device memory from nested functions.

Calls the (fake) driver through ctypes: cuMemAlloc_v2/cuMemFree_v2 from libcuda.so.1.

  python_sampler.py [--steps N] [--dll pydll|cdll] [--thread] [--gc] [--bench N [--nest D]]

- Default: `ctypes.PyDLL`, which keeps the GIL held during the call, as a C extension
  (PyTorch) does. Weights once at start; every step a 4 MiB scratch buffer that is freed and a
  1 MiB latent that is kept: a per-step leak. Steps are marked with gpuleak_mark_iteration.
- `--dll cdll`: `ctypes.CDLL`, which releases the GIL around the call.
- `--thread`: the steps run on a second thread while the main thread keeps running Python code.
- `--gc`: every step also drops a 2 MiB buffer held by an object in a reference cycle, whose
  `__del__` frees it, right before another allocation: frees happen inside garbage
  collections, at the first container allocated after the garbage was made. Everything is
  collected before the end.
- `--bench N`: N alloc/free pairs of 256 bytes from the same line, D (default 1) Python calls
  deeper than `main`, then prints `bench <ns per pair>` (the hook's cost per event with Python
  stacks).

The lines the tests look for carry a `# site:` comment. Prints `done <steps>` at the end.
"""
import ctypes
import gc
import sys
import threading
import time


class Cuda:
    def __init__(self, kind):
        dll = ctypes.PyDLL if kind == "pydll" else ctypes.CDLL
        self.lib = dll("libcuda.so.1")
        self.lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        self.lib.cuMemAlloc_v2.restype = ctypes.c_int
        self.lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        self.lib.cuMemFree_v2.restype = ctypes.c_int
        assert self.lib.cuInit(0) == 0
        self.ctx = ctypes.c_void_p()
        assert self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), 0) == 0

    def make_current(self):
        assert self.lib.cuCtxSetCurrent(self.ctx) == 0

    def alloc(self, size):
        p = ctypes.c_uint64()
        rc = self.lib.cuMemAlloc_v2(ctypes.byref(p), size)  # site: alloc
        if rc != 0:
            raise RuntimeError(f"cuMemAlloc_v2 failed: {rc}")
        return p.value

    def free(self, ptr):
        rc = self.lib.cuMemFree_v2(ptr)
        if rc != 0:
            raise RuntimeError(f"cuMemFree_v2 failed: {rc}")


class Cyclic:
    """Device memory owned by an object in a reference cycle: only the collector frees it."""

    def __init__(self, cuda, ptr):
        self.cuda = cuda
        self.ptr = ptr
        self.me = self

    def __del__(self):
        self.cuda.free(self.ptr)


def alloc_after_garbage(cuda, size):
    """Allocates right after making garbage that only a collection frees: the next container
    allocated starts the collection, so if the hook allocated any during the call, the frees
    of the garbage would run inside it."""
    kept = Cyclic(cuda, cuda.alloc(2 << 20))  # site: cyclic
    p = ctypes.c_uint64()
    ref = ctypes.byref(p)
    fn = cuda.lib.cuMemAlloc_v2
    gc.disable()
    del kept
    gc.enable()
    rc = fn(ref, size)  # site: after-garbage
    if rc != 0:
        raise RuntimeError(f"cuMemAlloc_v2 failed: {rc}")
    return p.value


def marker():
    try:
        return ctypes.CDLL(None).gpuleak_mark_iteration
    except AttributeError:
        return None


class Sampler:
    def __init__(self, cuda):
        self.cuda = cuda
        self.latents = []
        self.weights = cuda.alloc(8 << 20)  # site: weights

    def denoise_step(self, step):
        scratch = self.cuda.alloc(4 << 20)  # site: scratch
        latent = self.cuda.alloc(1 << 20)  # site: leak
        self.latents.append(latent)
        self.cuda.free(scratch)


def sample(cuda, steps, cyclic=False):
    cuda.make_current()
    sampler = Sampler(cuda)
    mark = marker()
    for step in range(steps):
        if mark is not None:
            mark(b"step")
        sampler.denoise_step(step)
        if cyclic:
            cuda.free(alloc_after_garbage(cuda, 64 << 10))


def nested(depth, fn):
    if depth > 1:
        return nested(depth - 1, fn)
    return fn()


def bench(cuda, n):
    cuda.make_current()
    alloc, free = cuda.alloc, cuda.free
    start = time.perf_counter_ns()
    for _ in range(n):
        free(alloc(256))  # site: bench
    took = time.perf_counter_ns() - start
    print(f"bench {took / n:.0f}", flush=True)


def main():
    args = sys.argv[1:]
    steps, kind, thread, cyclic, bench_n, nest = 10, "pydll", False, False, 0, 1
    while args:
        a = args.pop(0)
        if a == "--steps":
            steps = int(args.pop(0))
        elif a == "--dll":
            kind = args.pop(0)
        elif a == "--thread":
            thread = True
        elif a == "--gc":
            cyclic = True
        elif a == "--bench":
            bench_n = int(args.pop(0))
        elif a == "--nest":
            nest = int(args.pop(0))
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
    cuda = Cuda(kind)
    if bench_n:
        nested(nest, lambda: bench(cuda, bench_n))
        return 0
    if thread:
        done = threading.Event()
        worker = threading.Thread(target=lambda: (sample(cuda, steps), done.set()))
        worker.start()
        spins = 0
        while not done.is_set():  # the main thread holds the GIL whenever it can
            spins += 1
        worker.join()
    elif cyclic:
        gc.set_threshold(1, 1, 1)
        sample(cuda, steps, cyclic=True)
        gc.collect()
    else:
        sample(cuda, steps)
    print(f"done {steps}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
