#!/usr/bin/env python3
"""nogil_sampler.py: a sampler whose allocations go through nogil_ext, a C extension that releases
the GIL around cudaMalloc/cudaFree. Every step (marked with gpuleak_mark_iteration when the hook
is loaded) keeps 1 MiB to the end (a leak) and frees a 2 MiB scratch buffer. The lines the tests
look for carry a `# site: ` comment. Prints `done <steps>`.

  nogil_sampler.py [--steps N]
"""
import ctypes
import sys

# The runtime in the global scope first, as PyTorch loads its libraries: a libcudart that only
# an RTLD_LOCAL extension pulls in is out of the hook's RTLD_NEXT reach (the hook's wrapper
# then returns cudaErrorUnknown; finding it by handle is future work).
ctypes.CDLL("libcudart.so.12", mode=ctypes.RTLD_GLOBAL)

import nogil_ext  # noqa: E402


def keep(store):
    store.append(nogil_ext.alloc(1 << 20))  # site: leak


def scratch():
    p = nogil_ext.alloc(2 << 20)  # site: scratch
    nogil_ext.free(p)


def main():
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 10
    try:
        mark = ctypes.CDLL(None).gpuleak_mark_iteration
    except AttributeError:
        mark = None
    kept = []
    for _ in range(steps):
        if mark is not None:
            mark(b"step")
        scratch()
        keep(kept)
    print(f"done {steps}", flush=True)  # what was kept is never freed: a leak


if __name__ == "__main__":
    main()
