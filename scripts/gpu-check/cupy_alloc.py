"""CuPy allocations for scripts/gpu-check.sh: 30 steps, each making and dropping a temporary
array (4 MiB) and, with --leak, keeping another (4 MiB) in a list. CuPy's default memory pool
takes device memory with cudaMalloc and keeps it; gpuleak sees the pool's allocations. Marks
each step with gpuleak_mark_iteration when present. Prints {"gpu_check": {...}} at the end
(cuMemGetInfo's used bytes, the pool's total bytes). Exits 3 with SKIP when CuPy is missing.
"""

from gpu_check_common import mark_iteration, parser, report, skip

try:
    import cupy as cp
except ImportError:
    skip("CuPy is not installed")


def main():
    p = parser(steps=30)
    a = p.parse_args()
    kept = []
    n = 1 << 20
    for _ in range(a.steps):
        mark_iteration("step")
        tmp = cp.random.random(n, dtype=cp.float32)
        y = (tmp * 2.0).sum()
        del tmp
        if a.leak:
            kept.append(cp.full(n, float(y), dtype=cp.float32))
    cp.cuda.Device().synchronize()
    free, total = cp.cuda.runtime.memGetInfo()
    pool = cp.get_default_memory_pool()
    report(**{
        "driver_used": total - free,
        "total": total,
        "pool_total": pool.total_bytes(),
        "pool_used": pool.used_bytes(),
        "kept_arrays": len(kept),
    })


if __name__ == "__main__":
    main()
