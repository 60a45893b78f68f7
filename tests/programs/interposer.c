/*
 * libinterposer.so: an LD_PRELOAD that exports cuMemAlloc_v2 and cudaMalloc, prints
 * `interposed cuMemAlloc_v2` / `interposed cudaMalloc` to stderr and forwards to the next
 * definition (dlsym(RTLD_NEXT, ..), looked up on every call, the way many interposers do). The
 * smoke tests use it to show that direct callers reach an interposer while the pointers the fake
 * driver hands out through cuGetProcAddress_v2 are its own functions, which no preload can
 * rebind; the hook tests preload it beside gpuleak in both orders.
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "fake_cuda_runtime.h"

#include <dlfcn.h>
#include <stdio.h>

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    __typeof(cuMemAlloc_v2) *next = (__typeof(cuMemAlloc_v2) *)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
    fprintf(stderr, "interposed cuMemAlloc_v2\n");
    return next != NULL ? next(dptr, bytesize) : CUDA_ERROR_NOT_INITIALIZED;
}

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    __typeof(cudaMalloc) *next = (__typeof(cudaMalloc) *)dlsym(RTLD_NEXT, "cudaMalloc");
    fprintf(stderr, "interposed cudaMalloc\n");
    return next != NULL ? next(devPtr, size) : cudaErrorInitializationError;
}
