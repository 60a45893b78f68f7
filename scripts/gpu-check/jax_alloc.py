"""JAX allocations for scripts/gpu-check.sh: 30 steps, each computing a temporary array and,
with --leak, keeping a 4 MiB result in a list. Run it with XLA_PYTHON_CLIENT_PREALLOCATE=false
and XLA_PYTHON_CLIENT_ALLOCATOR=platform (gpu-check.sh does), so that every buffer is a driver
allocation gpuleak sees, instead of one preallocated arena. Marks each step with
gpuleak_mark_iteration when present. Prints {"gpu_check": {...}} at the end (the device's
memory_stats when JAX gives them). Exits 3 with SKIP when JAX or a GPU is missing.
"""

import argparse
import json
import os
import sys

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    print("SKIP: JAX is not installed")
    sys.exit(3)

# gpuleak's own marker module, from the repository (it does nothing without the hook).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from gpuleak import mark_iteration  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--leak", action="store_true")
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        print("SKIP: JAX sees no GPU")
        sys.exit(3)
    kept = []
    n = 1 << 20
    step = jax.jit(lambda x, s: jnp.tanh(x * s) + s)
    x = jnp.ones(n, dtype=jnp.float32)
    for i in range(a.steps):
        mark_iteration("step")
        y = step(x, float(i))
        y.block_until_ready()
        if a.leak:
            kept.append(y)
        del y
    stats = {}
    try:
        stats = gpus[0].memory_stats() or {}
    except Exception:  # memory_stats is not offered by every backend and allocator
        stats = {}
    print(json.dumps({"gpu_check": {
        "driver_used": None,
        "jax_bytes_in_use": stats.get("bytes_in_use"),
        "jax_peak_bytes_in_use": stats.get("peak_bytes_in_use"),
        "kept_arrays": len(kept),
    }}), flush=True)


if __name__ == "__main__":
    main()
