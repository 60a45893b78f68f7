"""A Python program with iteration marks, for scripts/wheel-check.sh: on the fake CUDA runtime
(LD_LIBRARY_PATH), it keeps 1 MiB of device memory in each of 6 marked steps."""

import ctypes
import gpuleak

assert gpuleak.active(), "the hook is preloaded: marks are recorded"
cudart = ctypes.CDLL("libcudart.so.12")
kept = []
for step in range(6):
    with gpuleak.iteration("step"):
        p = ctypes.c_void_p()
        assert cudart.cudaMalloc(ctypes.byref(p), ctypes.c_size_t(1 << 20)) == 0
        kept.append(p)  # never freed: 1 MiB per step
print("marks_app: done")
