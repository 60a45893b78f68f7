/*
 * libinterposer.so: an LD_PRELOAD that exports cuMemAlloc_v2, prints `interposed cuMemAlloc_v2`
 * to stderr and forwards to the next definition (RTLD_NEXT). The smoke tests use it to show that
 * direct callers reach an interposer while the pointers the fake driver hands out through
 * cuGetProcAddress_v2 are its own functions, which no preload can rebind.
 */
#define _GNU_SOURCE
#include "fake_cuda.h"

#include <dlfcn.h>
#include <stdio.h>

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    static __typeof(cuMemAlloc_v2) *next;
    if (next == NULL)
        next = (__typeof(cuMemAlloc_v2) *)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
    fprintf(stderr, "interposed cuMemAlloc_v2\n");
    return next != NULL ? next(dptr, bytesize) : CUDA_ERROR_NOT_INITIALIZED;
}
