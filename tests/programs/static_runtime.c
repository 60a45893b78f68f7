/*
 * static_runtime: what an nvcc-built program (static cudart) does. Not linked to CUDA: dlopens
 * libcuda.so.1, takes ONLY cuGetProcAddress_v2 with dlsym, then every driver function through
 * it by base name + CUDA version, the stream-ordered ones with flags 2 (per-thread default
 * stream), which gives the `_ptsz` variants. For each lookup it prints
 *     lookup <base> <version> <flags> <symbol>
 * (the symbol named by dladdr, see expect.h's symbol_of), and for each call
 *     <symbol> <code> <ptr> <size>
 * so the output names the variant it called. The last lookup goes through the pointer that
 * "cuGetProcAddress"@12000 returned. Live at exit: 1048576 (cuMemAlloc_v2) + 262144
 * (cuMemAllocAsync_ptsz) + 8192 (cuMemAlloc_v2 through the second cuGetProcAddress).
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "expect.h"

#include <dlfcn.h>

typedef CUresult (*getproc_v2_t)(const char *, void **, int, cuuint64_t,
                                 CUdriverProcAddressQueryResult *);

static void *g_lib;

static void *lookup(getproc_v2_t gpa, const char *base, int version, int flags, const char **sym)
{
    void *fn = NULL;
    CUdriverProcAddressQueryResult status = -1;
    CUresult rc = gpa(base, &fn, version, (cuuint64_t)flags, &status);
    *sym = rc == CUDA_SUCCESS ? symbol_of(g_lib, fn, base) : "null";
    /* symbol_of's buffer is reused: keep a copy per lookup. */
    *sym = strdup(*sym);
    printf("lookup %s %d %d %s\n", base, version, flags, *sym);
    if (rc != CUDA_SUCCESS || fn == NULL)
        g_failures++;
    return fn;
}

#define LOOKUP(var, type, base, version, flags)                                                 \
    const char *var##_sym;                                                                      \
    type *var = (type *)lookup(gpa, base, version, flags, &var##_sym)

int main(void)
{
    g_lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (g_lib == NULL) {
        fprintf(stderr, "static_runtime: %s\n", dlerror());
        return 2;
    }
    getproc_v2_t gpa = (getproc_v2_t)dlsym(g_lib, "cuGetProcAddress_v2");
    if (gpa == NULL) {
        fprintf(stderr, "static_runtime: no cuGetProcAddress_v2\n");
        return 2;
    }
    LOOKUP(init, __typeof(cuInit), "cuInit", 2000, 0);
    LOOKUP(retain, __typeof(cuDevicePrimaryCtxRetain), "cuDevicePrimaryCtxRetain", 7000, 0);
    LOOKUP(set_current, __typeof(cuCtxSetCurrent), "cuCtxSetCurrent", 4000, 0);
    LOOKUP(mem_alloc, __typeof(cuMemAlloc_v2), "cuMemAlloc", 3020, 0);
    LOOKUP(mem_free, __typeof(cuMemFree_v2), "cuMemFree", 3020, 0);
    LOOKUP(alloc_async, __typeof(cuMemAllocAsync), "cuMemAllocAsync", 11020, 2);
    LOOKUP(free_async, __typeof(cuMemFreeAsync), "cuMemFreeAsync", 11020, 2);
    LOOKUP(host_alloc, __typeof(cuMemHostAlloc), "cuMemHostAlloc", 2020, 0);
    LOOKUP(free_host, __typeof(cuMemFreeHost), "cuMemFreeHost", 2000, 0);
    LOOKUP(gpa2, __typeof(cuGetProcAddress_v2), "cuGetProcAddress", 12000, 0);
    if (g_failures != 0)
        return 1;

    CUcontext ctx = NULL;
    EXPECT(init_sym, init(0), CUDA_SUCCESS, 0, 0);
    EXPECT(retain_sym, retain(&ctx, 0), CUDA_SUCCESS, ctx, 0);
    EXPECT(set_current_sym, set_current(ctx), CUDA_SUCCESS, ctx, 0);

    CUdeviceptr weights = 0, scratch = 0, a = 0, b = 0, late = 0;
    EXPECT(mem_alloc_sym, mem_alloc(&weights, 1048576), CUDA_SUCCESS, weights, 1048576);
    EXPECT(mem_alloc_sym, mem_alloc(&scratch, 65536), CUDA_SUCCESS, scratch, 65536);
    EXPECT(mem_free_sym, mem_free(scratch), CUDA_SUCCESS, scratch, 0);
    /* NULL with a _ptsz function: the per-thread default stream. */
    EXPECT(alloc_async_sym, alloc_async(&a, 131072, NULL), CUDA_SUCCESS, a, 131072);
    EXPECT(free_async_sym, free_async(a, NULL), CUDA_SUCCESS, a, 0);
    EXPECT(alloc_async_sym, alloc_async(&b, 262144, NULL), CUDA_SUCCESS, b, 262144);
    void *pinned = NULL;
    EXPECT(host_alloc_sym, host_alloc(&pinned, 4096, 0), CUDA_SUCCESS, pinned, 4096);
    EXPECT(free_host_sym, free_host(pinned), CUDA_SUCCESS, pinned, 0);

    /* One more lookup through what "cuGetProcAddress" returned. */
    const char *late_sym;
    __typeof(cuMemAlloc_v2) *late_alloc =
        (__typeof(cuMemAlloc_v2) *)lookup((getproc_v2_t)gpa2, "cuMemAlloc", 12000, 0, &late_sym);
    if (late_alloc == NULL)
        return 1;
    EXPECT(late_sym, late_alloc(&late, 8192), CUDA_SUCCESS, late, 8192);
    return g_failures == 0 ? 0 : 1;
}
