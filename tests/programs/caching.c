/*
 * caching [--vmm] [--steps N] [--leak BYTES] [--free-at-exit] [--oom]: a program whose memory
 * comes through a caching allocator, as PyTorch's, CuPy's and cudarc pools hand it out. The
 * pool asks the driver for 20 MiB segments (cuMemAlloc_v2; with --vmm, cuMemCreate'd 20 MiB
 * chunks mapped back to back into one reserved range, as PyTorch's expandable segments do) only
 * when no free block fits, and never gives a segment back while running. Blocks are carved
 * from the segments' ends and freed blocks are reused (first fit, by size).
 *
 * Every allocation goes through one helper, `pool_alloc`, whose new segments come from
 * `grow_segment` (or `grow_chunk` with --vmm): the sites differ only by who called the helper.
 * `load_weights` takes 16 MiB once; each step (marked with gpuleak_mark_iteration("step"),
 * found with dlsym) `leak_latents` keeps --leak bytes (2 MiB) and `step_scratch` takes 6 MiB
 * and gives it back. 40 steps by default; --oom: steps until the pool cannot grow (set
 * FAKE_CUDA_CAPACITY), then prints `oom <step> <rc>` and exits 1. --free-at-exit gives every
 * segment back after the last step, as a program that empties its cache at shutdown.
 *
 * Prints a line per driver call that makes or frees memory (report.h), then
 * `summary <steps> <segments> <kept bytes>`. Live at exit: the segments (none with
 * --free-at-exit), and with --vmm the reserved range and its mappings.
 */
#define _GNU_SOURCE /* dladdr (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ull << 20)
#define SEGMENT (20 * MiB)
#define MAX_SEGMENTS 4096
#define MAX_BLOCKS 65536
#define VA_RANGE (64ull << 30)

struct block {
    CUdeviceptr ptr;
    size_t size;
    int free;
};

static struct {
    int vmm;
    CUdeviceptr va; /* --vmm: the reserved range */
    size_t mapped;  /* --vmm: bytes mapped at its start */
    CUdeviceptr segments[MAX_SEGMENTS];
    CUmemGenericAllocationHandle handles[MAX_SEGMENTS];
    int nsegments;
    struct block blocks[MAX_BLOCKS];
    int nblocks;
    CUresult last;
} pool;

static __attribute__((noinline)) CUresult grow_segment(CUdeviceptr *out)
{
    CUresult rc = cuMemAlloc_v2(out, SEGMENT);
    report("cuMemAlloc_v2", rc, rc == CUDA_SUCCESS ? (unsigned long long)*out : 0, SEGMENT);
    return rc;
}

static __attribute__((noinline)) CUresult grow_chunk(CUdeviceptr *out)
{
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    CUmemGenericAllocationHandle h = 0;
    CUresult rc = cuMemCreate(&h, SEGMENT, &prop, 0);
    report("cuMemCreate", rc, rc == CUDA_SUCCESS ? (unsigned long long)h : 0, SEGMENT);
    if (rc != CUDA_SUCCESS)
        return rc;
    CUdeviceptr at = pool.va + pool.mapped;
    rc = cuMemMap(at, SEGMENT, 0, h, 0);
    report("cuMemMap", rc, at, SEGMENT);
    if (rc != CUDA_SUCCESS)
        return rc;
    CUmemAccessDesc access = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    rc = cuMemSetAccess(at, SEGMENT, &access, 1);
    if (rc != CUDA_SUCCESS)
        return rc;
    pool.handles[pool.nsegments] = h;
    pool.mapped += SEGMENT;
    *out = at;
    return CUDA_SUCCESS;
}

/* A block of `size` bytes: a free one that fits, else carved from a segment's unused end, else
 * from a new segment. 0 when the driver has no more memory (pool.last says why). */
static __attribute__((noinline)) CUdeviceptr pool_alloc(size_t size)
{
    for (int i = 0; i < pool.nblocks; i++) {
        if (pool.blocks[i].free && pool.blocks[i].size == size) {
            pool.blocks[i].free = 0;
            return pool.blocks[i].ptr;
        }
    }
    /* Carve: the bytes of every segment not yet handed out are past its last block. */
    static size_t used[MAX_SEGMENTS];
    int seg = -1;
    for (int s = 0; s < pool.nsegments; s++) {
        if (SEGMENT - used[s] >= size) {
            seg = s;
            break;
        }
    }
    if (seg < 0) {
        if (pool.nsegments == MAX_SEGMENTS || size > SEGMENT)
            return 0;
        CUdeviceptr p = 0;
        pool.last = pool.vmm ? grow_chunk(&p) : grow_segment(&p);
        if (pool.last != CUDA_SUCCESS)
            return 0;
        seg = pool.nsegments++;
        pool.segments[seg] = p;
    }
    if (pool.nblocks == MAX_BLOCKS)
        return 0;
    CUdeviceptr p = pool.segments[seg] + used[seg];
    used[seg] += size;
    pool.blocks[pool.nblocks++] = (struct block){p, size, 0};
    return p;
}

static void pool_free(CUdeviceptr p)
{
    for (int i = 0; i < pool.nblocks; i++) {
        if (pool.blocks[i].ptr == p)
            pool.blocks[i].free = 1;
    }
}

static __attribute__((noinline)) CUdeviceptr load_weights(void)
{
    return pool_alloc(16 * MiB);
}

static __attribute__((noinline)) CUdeviceptr leak_latents(size_t bytes)
{
    return pool_alloc(bytes);
}

static __attribute__((noinline)) CUdeviceptr step_scratch(void)
{
    return pool_alloc(6 * MiB);
}

static void empty_cache(void)
{
    for (int s = 0; s < pool.nsegments; s++) {
        if (pool.vmm) {
            CUdeviceptr at = pool.va + (CUdeviceptr)s * SEGMENT;
            report("cuMemUnmap", cuMemUnmap(at, SEGMENT), at, 0);
            report("cuMemRelease", cuMemRelease(pool.handles[s]), pool.handles[s], 0);
        } else {
            report("cuMemFree_v2", cuMemFree_v2(pool.segments[s]), pool.segments[s], 0);
        }
    }
    if (pool.vmm)
        report("cuMemAddressFree", cuMemAddressFree(pool.va, VA_RANGE), pool.va, 0);
    pool.nsegments = 0;
}

int main(int argc, char **argv)
{
    int steps = 40, oom = 0, free_at_exit = 0;
    size_t leak = 2 * MiB;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--vmm") == 0)
            pool.vmm = 1;
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--leak") == 0 && i + 1 < argc)
            leak = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--free-at-exit") == 0)
            free_at_exit = 1;
        else if (strcmp(argv[i], "--oom") == 0)
            oom = 1;
        else {
            fprintf(stderr, "caching: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (driver_setup() != 0)
        return 2;
    if (pool.vmm) {
        CUresult rc = cuMemAddressReserve(&pool.va, VA_RANGE, 0, 0, 0);
        report("cuMemAddressReserve", rc, pool.va, VA_RANGE);
        if (rc != CUDA_SUCCESS)
            return 1;
    }
    void (*mark)(const char *) = NULL;
    *(void **)&mark = dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");
    if (load_weights() == 0)
        return 1;
    size_t kept = 0;
    int step = 0;
    for (; oom || step < steps; step++) {
        if (mark)
            mark("step");
        CUdeviceptr scratch = step_scratch();
        if (scratch == 0 || leak_latents(leak) == 0) {
            printf("oom %d %d\n", step, (int)pool.last);
            return 1;
        }
        kept += leak;
        pool_free(scratch);
    }
    printf("summary %d %d %zu\n", step, pool.nsegments, kept);
    if (free_at_exit)
        empty_cache();
    return 0;
}
