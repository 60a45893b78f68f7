"""JAX allocations for scripts/gpu-check.sh: 30 steps, each computing a temporary array and,
with --leak, keeping a 4 MiB result in a list. Run it with XLA_PYTHON_CLIENT_PREALLOCATE=false
and XLA_PYTHON_CLIENT_ALLOCATOR=platform (gpu-check.sh does), so that every buffer is a driver
allocation gpuleak sees, instead of one preallocated arena. Marks each step with
gpuleak_mark_iteration when present. Prints {"gpu_check": {...}} at the end (the device's
memory_stats when JAX gives them). Exits 3 with SKIP when JAX or a GPU is missing.
"""

from gpu_check_common import mark_iteration, parser, report, skip

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    skip("JAX is not installed")


def main():
    p = parser(steps=30)
    a = p.parse_args()
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        skip("JAX sees no GPU")
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
    report(**{
        "driver_used": None,
        "jax_bytes_in_use": stats.get("bytes_in_use"),
        "jax_peak_bytes_in_use": stats.get("peak_bytes_in_use"),
        "kept_arrays": len(kept),
    })


if __name__ == "__main__":
    main()
