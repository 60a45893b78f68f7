/*
 * pool: stream-ordered memory and pools, the way PyTorch's cudaMallocAsync backend uses them.
 * Linked with -lcuda. Takes the default pool and sets its release threshold to UINT64_MAX
 * (printed as the size of the cuMemPoolSetAttribute line); 4 x (cuMemAllocAsync 1 MiB +
 * cuMemFreeAsync) on a stream, then one cuMemAllocAsync of 65536 kept (a leak); creates a pool
 * and makes one cuMemAllocFromPoolAsync of 2 MiB there, freed; cuStreamSynchronize; prints the
 * default pool's RESERVED_MEM_CURRENT as `pool-reserved before <n>`, cuMemPoolTrimTo(pool, 0),
 * then `pool-reserved after <n>`, and the created pool's as `pool-reserved created <n>` (its
 * threshold is 0, so the synchronize released it). Live at exit: 65536.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <stdint.h>
#include <string.h>

static cuuint64_t attribute(CUmemoryPool pool, int attr)
{
    cuuint64_t v = 0;
    if (cuMemPoolGetAttribute(pool, attr, &v) != CUDA_SUCCESS)
        g_failures++;
    return v;
}

int main(void)
{
    if (driver_setup() != 0)
        return 2;
    CUstream s = NULL;
    EXPECT("cuStreamCreate", cuStreamCreate(&s, 0), CUDA_SUCCESS, s, 0);
    CUmemoryPool def = NULL;
    EXPECT("cuDeviceGetDefaultMemPool", cuDeviceGetDefaultMemPool(&def, 0), CUDA_SUCCESS, def, 0);
    cuuint64_t threshold = UINT64_MAX;
    EXPECT("cuMemPoolSetAttribute",
           cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &threshold), CUDA_SUCCESS,
           def, (size_t)threshold);
    for (int i = 0; i < 4; i++) {
        CUdeviceptr d = 0;
        EXPECT("cuMemAllocAsync", cuMemAllocAsync(&d, 1048576, s), CUDA_SUCCESS, d, 1048576);
        EXPECT("cuMemFreeAsync", cuMemFreeAsync(d, s), CUDA_SUCCESS, d, 0);
    }
    CUdeviceptr kept = 0;
    EXPECT("cuMemAllocAsync", cuMemAllocAsync(&kept, 65536, s), CUDA_SUCCESS, kept, 65536);

    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = 0;
    CUmemoryPool pool = NULL;
    EXPECT("cuMemPoolCreate", cuMemPoolCreate(&pool, &props), CUDA_SUCCESS, pool, 0);
    CUdeviceptr p = 0;
    EXPECT("cuMemAllocFromPoolAsync", cuMemAllocFromPoolAsync(&p, 2097152, pool, s), CUDA_SUCCESS,
           p, 2097152);
    EXPECT("cuMemFreeAsync", cuMemFreeAsync(p, s), CUDA_SUCCESS, p, 0);
    EXPECT("cuStreamSynchronize", cuStreamSynchronize(s), CUDA_SUCCESS, s, 0);

    printf("pool-reserved before %llu\n", attribute(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT));
    EXPECT("cuMemPoolTrimTo", cuMemPoolTrimTo(def, 0), CUDA_SUCCESS, def, 0);
    printf("pool-reserved after %llu\n", attribute(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT));
    printf("pool-used after %llu\n", attribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT));
    printf("pool-reserved created %llu\n", attribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT));
    report_free();
    EXPECT("cuMemPoolDestroy", cuMemPoolDestroy(pool), CUDA_SUCCESS, pool, 0);
    return g_failures == 0 ? 0 : 1;
}
