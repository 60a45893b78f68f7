/*
 * late_dlopen: runs without CUDA for 200 ms, then dlopens libcuda.so.1 (RTLD_LOCAL) and takes
 * its functions with dlsym; allocates 4096 (kept) and 8192 (freed); dlcloses it (prints
 * `unloaded 1` if the library really went away, `unloaded 0` if something else holds it); then
 * dlopens it again, allocates 16384 and frees it. Live at exit: 4096 (of the first load).
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <dlfcn.h>
#include <time.h>

#define FUNCTIONS(X)                                                                            \
    X(cuInit)                                                                                   \
    X(cuDevicePrimaryCtxRetain)                                                                 \
    X(cuCtxSetCurrent)                                                                          \
    X(cuMemAlloc_v2)                                                                            \
    X(cuMemFree_v2)

#define DECLARE(name) static __typeof(name) *p_##name;
FUNCTIONS(DECLARE)

static void *load(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "late_dlopen: %s\n", dlerror());
        return NULL;
    }
#define LOAD(name)                                                                              \
    p_##name = (__typeof(name) *)dlsym(h, #name);                                               \
    if (p_##name == NULL) {                                                                     \
        fprintf(stderr, "late_dlopen: no %s\n", #name);                                        \
        return NULL;                                                                            \
    }
    FUNCTIONS(LOAD)
    CUcontext ctx = NULL;
    if (p_cuInit(0) != CUDA_SUCCESS || p_cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS ||
        p_cuCtxSetCurrent(ctx) != CUDA_SUCCESS) {
        fprintf(stderr, "late_dlopen: driver setup failed\n");
        return NULL;
    }
    return h;
}

int main(void)
{
    struct timespec nap = {0, 200 * 1000 * 1000};
    nanosleep(&nap, NULL);
    printf("cuda-free phase over\n");

    void *h = load();
    if (h == NULL)
        return 2;
    CUdeviceptr kept = 0, temp = 0;
    EXPECT("cuMemAlloc_v2", p_cuMemAlloc_v2(&kept, 4096), CUDA_SUCCESS, kept, 4096);
    EXPECT("cuMemAlloc_v2", p_cuMemAlloc_v2(&temp, 8192), CUDA_SUCCESS, temp, 8192);
    EXPECT("cuMemFree_v2", p_cuMemFree_v2(temp), CUDA_SUCCESS, temp, 0);
    if (dlclose(h) != 0)
        return 2;
    void *still = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    printf("unloaded %d\n", still == NULL);
    if (still != NULL)
        dlclose(still);

    h = load();
    if (h == NULL)
        return 2;
    CUdeviceptr again = 0;
    EXPECT("cuMemAlloc_v2", p_cuMemAlloc_v2(&again, 16384), CUDA_SUCCESS, again, 16384);
    EXPECT("cuMemFree_v2", p_cuMemFree_v2(again), CUDA_SUCCESS, again, 0);
    return g_failures == 0 ? 0 : 1;
}
