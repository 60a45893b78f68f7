/*
 * oom: allocates 1 MiB blocks with cudaMalloc until one fails (run it with a small
 * FAKE_CUDA_CAPACITY), then frees them all. Prints a line per call, the failing one included
 * (`cudaMalloc 2 0x0 1048576`), `cudaGetLastError 2 0x0 0`, the frees, and finally
 *     allocated <number of successful allocations>
 * Exits 0 when the failure was cudaErrorMemoryAllocation, 1 otherwise.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <stdlib.h>

#define BLOCK 1048576
#define MAX_BLOCKS 65536 /* 64 GiB: a bound, so a driver that never fails cannot loop forever */

static __attribute__((noinline)) cudaError_t grow(void **slot)
{
    cudaError_t rc = cudaMalloc(slot, BLOCK);
    report("cudaMalloc", rc, rc == cudaSuccess ? PTR(*slot) : 0, BLOCK);
    return rc;
}

int main(void)
{
    void **blocks = calloc(MAX_BLOCKS, sizeof *blocks);
    int n = 0;
    cudaError_t rc = cudaSuccess;
    while (n < MAX_BLOCKS && (rc = grow(&blocks[n])) == cudaSuccess)
        n++;
    report("cudaGetLastError", cudaGetLastError(), 0, 0);
    for (int i = 0; i < n; i++)
        report("cudaFree", cudaFree(blocks[i]), PTR(blocks[i]), 0);
    printf("allocated %d\n", n);
    free(blocks);
    return rc == cudaErrorMemoryAllocation ? 0 : 1;
}
