/*
 * cudarc_style: what cudarc's dynamic loading and CudaStream::alloc do. Not linked to CUDA:
 * dlopen("libcuda.so.1", RTLD_LOCAL), dlsym of exact names ("cuMemAllocAsync",
 * "cuMemFreeAsync", ...), then stream-ordered allocations on a stream from cuStreamCreate
 * (alloc: cuMemAllocAsync(&p, n, stream); drop: cuMemFreeAsync(p, stream)).
 * Allocates 1048576, 2097152 and 4096 bytes on the stream, frees the first two, synchronizes,
 * destroys the stream. Live at exit: 4096.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <dlfcn.h>

#define FUNCTIONS(X)                                                                            \
    X(cuInit)                                                                                   \
    X(cuDevicePrimaryCtxRetain)                                                                 \
    X(cuCtxSetCurrent)                                                                          \
    X(cuStreamCreate)                                                                           \
    X(cuStreamSynchronize)                                                                      \
    X(cuStreamDestroy_v2)                                                                       \
    X(cuMemAllocAsync)                                                                          \
    X(cuMemFreeAsync)

#define DECLARE(name) static __typeof(name) *p_##name;
FUNCTIONS(DECLARE)

int main(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "cudarc_style: %s\n", dlerror());
        return 2;
    }
#define LOAD(name)                                                                              \
    p_##name = (__typeof(name) *)dlsym(h, #name);                                               \
    if (p_##name == NULL) {                                                                     \
        fprintf(stderr, "cudarc_style: no %s\n", #name);                                       \
        return 2;                                                                               \
    }
    FUNCTIONS(LOAD)

    CUcontext ctx = NULL;
    CUstream stream = NULL;
    EXPECT("cuInit", p_cuInit(0), CUDA_SUCCESS, 0, 0);
    EXPECT("cuDevicePrimaryCtxRetain", p_cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS, ctx, 0);
    EXPECT("cuCtxSetCurrent", p_cuCtxSetCurrent(ctx), CUDA_SUCCESS, ctx, 0);
    EXPECT("cuStreamCreate", p_cuStreamCreate(&stream, 0), CUDA_SUCCESS, stream, 0);

    static const size_t sizes[] = {1048576, 2097152, 4096};
    CUdeviceptr d[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        EXPECT("cuMemAllocAsync", p_cuMemAllocAsync(&d[i], sizes[i], stream), CUDA_SUCCESS, d[i],
               sizes[i]);
    for (int i = 0; i < 2; i++)
        EXPECT("cuMemFreeAsync", p_cuMemFreeAsync(d[i], stream), CUDA_SUCCESS, d[i], 0);
    EXPECT("cuStreamSynchronize", p_cuStreamSynchronize(stream), CUDA_SUCCESS, stream, 0);
    EXPECT("cuStreamDestroy_v2", p_cuStreamDestroy_v2(stream), CUDA_SUCCESS, stream, 0);
    return g_failures == 0 ? 0 : 1;
}
