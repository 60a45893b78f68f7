#!/usr/bin/env python3
"""ctypes_alloc: Python calling the (fake) runtime through ctypes, as ctypes-based tools do.

cudaMalloc of 1 MiB, 2 MiB and 3 MiB; the 2 MiB one is freed, the others stay live at exit.
Prints one line per call, `<api> <code> <pointer or 0x0> <size>`, and exits 0 when all succeed;
with `--os-exit`, through os._exit (no exit handlers, as multiprocessing's workers end).
"""
import ctypes
import os
import sys


def main() -> int:
    cudart = ctypes.CDLL("libcudart.so.12")
    cudart.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
    cudart.cudaMalloc.restype = ctypes.c_int
    cudart.cudaFree.argtypes = [ctypes.c_void_p]
    cudart.cudaFree.restype = ctypes.c_int

    failures = 0
    ptrs = []
    for size in (1 << 20, 2 << 20, 3 << 20):
        p = ctypes.c_void_p()
        rc = cudart.cudaMalloc(ctypes.byref(p), size)
        print(f"cudaMalloc {rc} {hex(p.value or 0)} {size}", flush=True)
        failures += rc != 0
        ptrs.append(p)
    rc = cudart.cudaFree(ptrs[1])
    print(f"cudaFree {rc} {hex(ptrs[1].value or 0)} 0", flush=True)
    failures += rc != 0
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    code = main()
    if "--os-exit" in sys.argv[1:]:
        os._exit(code)
    sys.exit(code)
