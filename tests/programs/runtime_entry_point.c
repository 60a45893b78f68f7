/*
 * runtime_entry_point: linked with -lcudart. Takes cuMemAlloc and cuMemFree through
 * cudaGetDriverEntryPoint and cudaGetDriverEntryPointByVersion (PyTorch's way to the driver for
 * expandable segments) and allocates with them; also cudaMalloc, whose driver call the runtime
 * makes through a pointer it took with cuGetProcAddress. Prints
 *     entry <how> <base> <code> <status> <symbol>
 * for each lookup, then the call lines. Live at exit: 4096 (cudaMalloc) + 1048576
 * (cuMemAlloc_v2 from cudaGetDriverEntryPoint).
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "fake_cuda_runtime.h"
#include "expect.h"

#include <dlfcn.h>
#include <stdlib.h>

int main(void)
{
    void *first = NULL;
    /* cudaMalloc first: initialises the runtime (and makes the primary context current). */
    EXPECT("cudaMalloc", cudaMalloc(&first, 4096), cudaSuccess, first, 4096);

    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (lib == NULL) {
        fprintf(stderr, "runtime_entry_point: the runtime did not load libcuda.so.1\n");
        return 2;
    }
    void *alloc_fn = NULL, *alloc_fn2 = NULL, *free_fn = NULL;
    cudaDriverEntryPointQueryResult st = -1;
    cudaError_t rc = cudaGetDriverEntryPoint("cuMemAlloc", &alloc_fn, cudaEnableDefault, &st);
    printf("entry default cuMemAlloc %d %d %s\n", rc, st, symbol_of(lib, alloc_fn, "cuMemAlloc"));
    g_failures += rc != cudaSuccess;
    st = -1;
    rc = cudaGetDriverEntryPointByVersion("cuMemAlloc", &alloc_fn2, 12000, cudaEnableDefault, &st);
    printf("entry by-version cuMemAlloc %d %d %s\n", rc, st,
           symbol_of(lib, alloc_fn2, "cuMemAlloc"));
    g_failures += rc != cudaSuccess;
    st = -1;
    rc = cudaGetDriverEntryPointByVersion("cuMemFree", &free_fn, 12000, cudaEnableDefault, &st);
    printf("entry by-version cuMemFree %d %d %s\n", rc, st, symbol_of(lib, free_fn, "cuMemFree"));
    g_failures += rc != cudaSuccess;
    if (alloc_fn == NULL || alloc_fn2 == NULL || free_fn == NULL)
        return 1;

    __typeof(cuMemAlloc_v2) *mem_alloc = (__typeof(cuMemAlloc_v2) *)alloc_fn;
    __typeof(cuMemAlloc_v2) *mem_alloc2 = (__typeof(cuMemAlloc_v2) *)alloc_fn2;
    __typeof(cuMemFree_v2) *mem_free = (__typeof(cuMemFree_v2) *)free_fn;
    CUdeviceptr kept = 0, segment = 0;
    EXPECT("cuMemAlloc_v2", mem_alloc(&kept, 1048576), CUDA_SUCCESS, kept, 1048576);
    EXPECT("cuMemAlloc_v2", mem_alloc2(&segment, 2097152), CUDA_SUCCESS, segment, 2097152);
    EXPECT("cuMemFree_v2", mem_free(segment), CUDA_SUCCESS, segment, 0);
    return g_failures == 0 ? 0 : 1;
}
