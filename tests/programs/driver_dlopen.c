/*
 * driver_dlopen: not linked to CUDA. Opens libcuda.so.1 with dlopen and takes each function with
 * dlsym by its exact versioned name, the way cudarc's dynamic loading does, then makes the same
 * calls as driver_linked (driver_calls.h).
 */
#include "fake_cuda.h"

#include <dlfcn.h>
#include <stdio.h>

#define DRIVER_FUNCTIONS(X)                                                                     \
    X(cuInit)                                                                                   \
    X(cuDriverGetVersion)                                                                       \
    X(cuDeviceGet)                                                                              \
    X(cuDevicePrimaryCtxRetain)                                                                 \
    X(cuCtxSetCurrent)                                                                          \
    X(cuStreamCreate)                                                                           \
    X(cuStreamDestroy_v2)                                                                       \
    X(cuMemAlloc_v2)                                                                            \
    X(cuMemFree_v2)                                                                             \
    X(cuMemAllocAsync)                                                                          \
    X(cuMemFreeAsync)                                                                           \
    X(cuMemAllocManaged)                                                                        \
    X(cuMemAllocPitch_v2)                                                                       \
    X(cuMemAllocHost_v2)                                                                        \
    X(cuMemHostAlloc)                                                                           \
    X(cuMemFreeHost)                                                                            \
    X(cuMemGetInfo_v2)

#define DECLARE(name) static __typeof(name) *p_##name;
DRIVER_FUNCTIONS(DECLARE)

#define CU(name) p_##name
#include "driver_calls.h"

int main(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "driver_dlopen: %s\n", dlerror());
        return 2;
    }
#define LOAD(name)                                                                              \
    p_##name = (__typeof(name) *)dlsym(h, #name);                                               \
    if (p_##name == NULL) {                                                                     \
        fprintf(stderr, "driver_dlopen: no %s\n", #name);                                      \
        return 2;                                                                               \
    }
    DRIVER_FUNCTIONS(LOAD)
    return run_driver_calls();
}
