/*
 * The body shared by driver_linked.c and driver_dlopen.c: every driver allocation API once or
 * more. The includer defines CU(name) as the way it calls `name` (directly, or through a
 * pointer from dlsym). Live at exit, by design:
 *     cuMemAlloc_v2       1048576
 *     cuMemAllocManaged    262144
 *     cuMemAllocPitch_v2    10240 (600 x 10 bytes, pitch 1024)
 * and one failing call: cuMemFree_v2 of a bogus pointer (code 1).
 */
#include "report.h"

#include <stdio.h>

#define NOINLINE __attribute__((noinline))

static int failures;

static void expect(const char *api, CUresult rc, CUresult want, unsigned long long ptr,
                   size_t size)
{
    report(api, rc, ptr, size);
    if (rc != want) {
        fprintf(stderr, "%s returned %d, expected %d\n", api, rc, want);
        failures++;
    }
}

/* Makes the call first, then reports: ptr and size are read after the call has set them. */
#define CHECK(api, call, want, ptr, size)                                                       \
    do {                                                                                        \
        int rc_ = (call);                                                                       \
        expect(api, rc_, want, PTR(ptr), size);                                                 \
    } while (0)

static NOINLINE void setup(void)
{
    CUdevice dev = -1;
    CUcontext ctx = NULL;
    int version = 0;
    /* Before cuInit: the real driver answers CUDA_ERROR_NOT_INITIALIZED. */
    CHECK("cuDeviceGet", CU(cuDeviceGet)(&dev, 0), CUDA_ERROR_NOT_INITIALIZED, 0, 0);
    CHECK("cuDriverGetVersion", CU(cuDriverGetVersion)(&version), CUDA_SUCCESS, 0,
          (size_t)version);
    CHECK("cuInit", CU(cuInit)(0), CUDA_SUCCESS, 0, 0);
    CHECK("cuDeviceGet", CU(cuDeviceGet)(&dev, 0), CUDA_SUCCESS, 0, 0);
    CHECK("cuDevicePrimaryCtxRetain", CU(cuDevicePrimaryCtxRetain)(&ctx, dev), CUDA_SUCCESS,
          ctx, 0);
    CHECK("cuCtxSetCurrent", CU(cuCtxSetCurrent)(ctx), CUDA_SUCCESS, ctx, 0);
}

static NOINLINE CUdeviceptr driver_alloc_weights(void)
{
    CUdeviceptr d = 0;
    CHECK("cuMemAlloc_v2", CU(cuMemAlloc_v2)(&d, 1048576), CUDA_SUCCESS, d, 1048576);
    return d;
}

static NOINLINE void driver_scratch(void)
{
    CUdeviceptr d = 0;
    CHECK("cuMemAlloc_v2", CU(cuMemAlloc_v2)(&d, 65536), CUDA_SUCCESS, d, 65536);
    CHECK("cuMemFree_v2", CU(cuMemFree_v2)(d), CUDA_SUCCESS, d, 0);
}

static NOINLINE void driver_async(void)
{
    CUstream s = NULL;
    CUdeviceptr d = 0;
    CHECK("cuStreamCreate", CU(cuStreamCreate)(&s, 0), CUDA_SUCCESS, s, 0);
    CHECK("cuMemAllocAsync", CU(cuMemAllocAsync)(&d, 131072, s), CUDA_SUCCESS, d, 131072);
    CHECK("cuMemFreeAsync", CU(cuMemFreeAsync)(d, s), CUDA_SUCCESS, d, 0);
    CHECK("cuStreamDestroy_v2", CU(cuStreamDestroy_v2)(s), CUDA_SUCCESS, s, 0);
}

static NOINLINE CUdeviceptr driver_managed(void)
{
    CUdeviceptr d = 0;
    CHECK("cuMemAllocManaged", CU(cuMemAllocManaged)(&d, 262144, CU_MEM_ATTACH_GLOBAL),
          CUDA_SUCCESS, d, 262144);
    return d;
}

static NOINLINE CUdeviceptr driver_pitched(void)
{
    CUdeviceptr d = 0;
    size_t pitch = 0;
    CUresult rc = CU(cuMemAllocPitch_v2)(&d, &pitch, 600, 10, 4);
    expect("cuMemAllocPitch_v2", rc, CUDA_SUCCESS, d, pitch * 10);
    return d;
}

static NOINLINE void driver_pinned(void)
{
    void *h = NULL;
    CHECK("cuMemAllocHost_v2", CU(cuMemAllocHost_v2)(&h, 4096), CUDA_SUCCESS, h, 4096);
    CHECK("cuMemFreeHost", CU(cuMemFreeHost)(h), CUDA_SUCCESS, h, 0);
    h = NULL;
    CHECK("cuMemHostAlloc", CU(cuMemHostAlloc)(&h, 8192, 0), CUDA_SUCCESS, h, 8192);
    /* The device free of host memory is invalid; the host free then works. */
    CHECK("cuMemFree_v2", CU(cuMemFree_v2)(PTR(h)), CUDA_ERROR_INVALID_VALUE, h, 0);
    CHECK("cuMemFreeHost", CU(cuMemFreeHost)(h), CUDA_SUCCESS, h, 0);
}

static NOINLINE void driver_bad_free(void)
{
    CHECK("cuMemFree_v2", CU(cuMemFree_v2)(0), CUDA_SUCCESS, 0, 0);
    CHECK("cuMemFree_v2", CU(cuMemFree_v2)(0x1000), CUDA_ERROR_INVALID_VALUE, 0x1000, 0);
}

static int run_driver_calls(void)
{
    setup();
    driver_alloc_weights();
    driver_scratch();
    driver_async();
    driver_managed();
    driver_pitched();
    driver_pinned();
    driver_bad_free();
    size_t free_bytes = 0, total = 0;
    CUresult rc = CU(cuMemGetInfo_v2)(&free_bytes, &total);
    expect("cuMemGetInfo_v2", rc, CUDA_SUCCESS, 0, free_bytes);
    return failures == 0 ? 0 : 1;
}
