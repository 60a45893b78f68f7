/*
 * fake_cudart.c: a test double of the CUDA runtime (libcudart.so.12) for machines without a GPU.
 *
 * It finds the driver the way the real runtime does (observed with libcudart.so.12.9, see
 * DESIGN.md): it does not link against libcuda; on first use it dlopen()s "libcuda.so.1", takes
 * cuGetProcAddress_v2 with dlsym, probes it with an empty name, then obtains every driver
 * function it calls through cuGetProcAddress_v2 by base name and CUDA version (the
 * stream-ordered ones and cuGraphLaunch with flags 0 and with flags 2, per-thread default
 * stream). A profiler
 * that sees these calls on the real runtime therefore sees them on this one.
 *
 * Each API call initialises lazily (pthread_once): cuInit, then retains the primary context of
 * device 0; a thread that has no current context gets the primary one made current. Driver
 * error codes are mapped to runtime codes; the last error is kept per thread.
 *
 * Environment: FAKE_CUDA_LOG=1 also logs the runtime's calls to stderr (the driver reads the
 * rest of the FAKE_CUDA_* variables).
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "fake_cuda_runtime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef CUresult (*getproc_v2_t)(const char *, void **, int, cuuint64_t,
                                 CUdriverProcAddressQueryResult *);

/* Driver entry points, all obtained through cuGetProcAddress_v2. */
static struct {
    getproc_v2_t getProcAddress_v2;
    /* What cuGetProcAddress_v2("cuGetProcAddress", 12000) returned: cudaGetDriverEntryPoint*
     * resolve through it, as the real runtime does. */
    getproc_v2_t getProcAddress;
    __typeof(cuInit) *init;
    __typeof(cuDriverGetVersion) *driverGetVersion;
    __typeof(cuDeviceGetCount) *deviceGetCount;
    __typeof(cuDevicePrimaryCtxRetain) *primaryCtxRetain;
    __typeof(cuCtxGetCurrent) *ctxGetCurrent;
    __typeof(cuCtxSetCurrent) *ctxSetCurrent;
    __typeof(cuCtxGetDevice) *ctxGetDevice;
    __typeof(cuCtxSynchronize) *ctxSynchronize;
    __typeof(cuStreamCreate) *streamCreate;
    __typeof(cuStreamDestroy_v2) *streamDestroy;
    __typeof(cuStreamSynchronize) *streamSynchronize;
    __typeof(cuMemAlloc_v2) *memAlloc;
    __typeof(cuMemFree_v2) *memFree;
    __typeof(cuMemAllocPitch_v2) *memAllocPitch;
    __typeof(cuMemGetInfo_v2) *memGetInfo;
    __typeof(cuMemAllocManaged) *memAllocManaged;
    __typeof(cuMemHostAlloc) *memHostAlloc;
    __typeof(cuMemAllocHost_v2) *memAllocHost;
    __typeof(cuMemFreeHost) *memFreeHost;
    __typeof(cuMemAllocAsync) *memAllocAsync;
    __typeof(cuMemFreeAsync) *memFreeAsync;
    __typeof(cuMemAllocAsync_ptsz) *memAllocAsync_ptsz;
    __typeof(cuMemFreeAsync_ptsz) *memFreeAsync_ptsz;
    __typeof(cuMemcpyHtoD_v2) *memcpyHtoD;
    __typeof(cuMemcpyDtoH_v2) *memcpyDtoH;
    __typeof(cuMemcpyDtoD_v2) *memcpyDtoD;
    __typeof(cuMemsetD8_v2) *memsetD8;
    __typeof(cuLaunchKernel) *launchKernel;
    __typeof(cuDeviceGetDefaultMemPool) *deviceGetDefaultMemPool;
    __typeof(cuMemAllocFromPoolAsync) *memAllocFromPoolAsync;
    __typeof(cuMemAllocFromPoolAsync_ptsz) *memAllocFromPoolAsync_ptsz;
    __typeof(cuMemPoolTrimTo) *memPoolTrimTo;
    __typeof(cuGraphCreate) *graphCreate;
    __typeof(cuGraphDestroy) *graphDestroy;
    __typeof(cuGraphInstantiateWithFlags) *graphInstantiate;
    __typeof(cuGraphLaunch) *graphLaunch;
    __typeof(cuGraphLaunch_ptsz) *graphLaunch_ptsz;
    __typeof(cuGraphExecDestroy) *graphExecDestroy;
} drv;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static cudaError_t g_init_error;
static CUcontext g_primary;
static int g_log;
static __thread int t_ready;
static __thread cudaError_t t_last_error;

#define LOG(...)                                                                                \
    do {                                                                                        \
        if (g_log) {                                                                            \
            fprintf(stderr, "fake-cudart: " __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                                \
        }                                                                                       \
    } while (0)

static cudaError_t map_error(CUresult rc)
{
    switch (rc) {
    case CUDA_SUCCESS: return cudaSuccess;
    case CUDA_ERROR_INVALID_VALUE: return cudaErrorInvalidValue;
    case CUDA_ERROR_OUT_OF_MEMORY: return cudaErrorMemoryAllocation;
    case CUDA_ERROR_NOT_INITIALIZED: return cudaErrorInitializationError;
    case CUDA_ERROR_DEINITIALIZED: return cudaErrorCudartUnloading;
    case CUDA_ERROR_INVALID_DEVICE: return cudaErrorInvalidDevice;
    case CUDA_ERROR_INVALID_CONTEXT: return cudaErrorDeviceUninitialized;
    case CUDA_ERROR_INVALID_HANDLE: return cudaErrorInvalidResourceHandle;
    case CUDA_ERROR_NOT_FOUND: return cudaErrorSymbolNotFound;
    case CUDA_ERROR_NOT_SUPPORTED: return cudaErrorNotSupported;
    default: return cudaErrorUnknown;
    }
}

/* Records a failure as the thread's last error and returns it. */
static cudaError_t ret(cudaError_t e)
{
    if (e != cudaSuccess)
        t_last_error = e;
    return e;
}

static cudaError_t ret_drv(CUresult rc) { return ret(map_error(rc)); }

static int resolve(void **slot, const char *name, int version, cuuint64_t flags)
{
    CUdriverProcAddressQueryResult status = -1;
    CUresult rc = drv.getProcAddress_v2(name, slot, version, flags, &status);
    LOG("cuGetProcAddress_v2(\"%s\", %d, %llu) = %d, status %d", name, version,
        (unsigned long long)flags, rc, status);
    if (rc != CUDA_SUCCESS || *slot == NULL) {
        fprintf(stderr, "fake-cudart: the driver has no %s@%d (flags %llu)\n", name, version,
                (unsigned long long)flags);
        return 0;
    }
    return 1;
}

static void load_driver(void)
{
    const char *log = getenv("FAKE_CUDA_LOG");
    g_log = log != NULL && *log != '\0' && strcmp(log, "0") != 0;

    g_init_error = cudaErrorInsufficientDriver;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        LOG("dlopen(libcuda.so.1): %s", dlerror());
        return;
    }
    drv.getProcAddress_v2 = (getproc_v2_t)dlsym(h, "cuGetProcAddress_v2");
    if (drv.getProcAddress_v2 == NULL)
        return;

    /* The probe the real runtime makes first; its result is not used. */
    void *probe = NULL;
    drv.getProcAddress_v2("", &probe, 0, 0, NULL);

    int ok = 1;
#define GET(field, name, version, flags) ok &= resolve((void **)&drv.field, name, version, flags)
    GET(init, "cuInit", 2000, 0);
    /* The real runtime asks for cuGetProcAddress itself and answers cudaGetDriverEntryPoint*
     * through what it got. */
    GET(getProcAddress, "cuGetProcAddress", 12000, 0);
    GET(driverGetVersion, "cuDriverGetVersion", 2020, 0);
    GET(deviceGetCount, "cuDeviceGetCount", 2000, 0);
    GET(primaryCtxRetain, "cuDevicePrimaryCtxRetain", 7000, 0);
    GET(ctxGetCurrent, "cuCtxGetCurrent", 4000, 0);
    GET(ctxSetCurrent, "cuCtxSetCurrent", 4000, 0);
    GET(ctxGetDevice, "cuCtxGetDevice", 2000, 0);
    GET(ctxSynchronize, "cuCtxSynchronize", 2000, 0);
    GET(streamCreate, "cuStreamCreate", 2000, 0);
    GET(streamDestroy, "cuStreamDestroy", 4000, 0);
    GET(streamSynchronize, "cuStreamSynchronize", 2000, 0);
    GET(memAlloc, "cuMemAlloc", 3020, 0);
    GET(memFree, "cuMemFree", 3020, 0);
    GET(memAllocPitch, "cuMemAllocPitch", 3020, 0);
    GET(memGetInfo, "cuMemGetInfo", 3020, 0);
    GET(memAllocManaged, "cuMemAllocManaged", 6000, 0);
    GET(memHostAlloc, "cuMemHostAlloc", 2020, 0);
    GET(memAllocHost, "cuMemAllocHost", 3020, 0);
    GET(memFreeHost, "cuMemFreeHost", 2000, 0);
    GET(memAllocAsync, "cuMemAllocAsync", 11020, 0);
    GET(memFreeAsync, "cuMemFreeAsync", 11020, 0);
    GET(memAllocAsync_ptsz, "cuMemAllocAsync", 11020, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(memFreeAsync_ptsz, "cuMemFreeAsync", 11020, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(memcpyHtoD, "cuMemcpyHtoD", 3020, 0);
    GET(memcpyDtoH, "cuMemcpyDtoH", 3020, 0);
    GET(memcpyDtoD, "cuMemcpyDtoD", 3020, 0);
    GET(memsetD8, "cuMemsetD8", 3020, 0);
    GET(launchKernel, "cuLaunchKernel", 4000, 0);
    GET(deviceGetDefaultMemPool, "cuDeviceGetDefaultMemPool", 11020, 0);
    GET(memAllocFromPoolAsync, "cuMemAllocFromPoolAsync", 11020, 0);
    GET(memAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync", 11020,
        CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(memPoolTrimTo, "cuMemPoolTrimTo", 11020, 0);
    GET(graphCreate, "cuGraphCreate", 10000, 0);
    GET(graphDestroy, "cuGraphDestroy", 10000, 0);
    GET(graphInstantiate, "cuGraphInstantiateWithFlags", 11040, 0);
    GET(graphLaunch, "cuGraphLaunch", 10000, 0);
    GET(graphLaunch_ptsz, "cuGraphLaunch", 10000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(graphExecDestroy, "cuGraphExecDestroy", 10000, 0);
#undef GET
    if (!ok)
        return;

    CUresult rc = drv.init(0);
    if (rc == CUDA_SUCCESS)
        rc = drv.primaryCtxRetain(&g_primary, 0);
    g_init_error = map_error(rc);
    LOG("initialised: %d", g_init_error);
}

/* Every API entry: one-time driver set-up, then a current context on this thread. */
static cudaError_t ensure(void)
{
    pthread_once(&g_once, load_driver);
    if (g_init_error != cudaSuccess)
        return g_init_error;
    if (!t_ready) {
        CUcontext cur = NULL;
        CUresult rc = drv.ctxGetCurrent(&cur);
        if (rc == CUDA_SUCCESS && cur == NULL)
            rc = drv.ctxSetCurrent(g_primary);
        if (rc != CUDA_SUCCESS)
            return map_error(rc);
        t_ready = 1;
    }
    return cudaSuccess;
}

#define ENSURE()                                                                                \
    do {                                                                                        \
        cudaError_t e_ = ensure();                                                              \
        if (e_ != cudaSuccess)                                                                  \
            return ret(e_);                                                                     \
    } while (0)

static CUdeviceptr dp(const void *p) { return (CUdeviceptr)(uintptr_t)p; }

/* ------------------------------------------------------------------------------------------ */
/* Allocation                                                                                  */

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    ENSURE();
    if (devPtr == NULL)
        return ret(cudaErrorInvalidValue);
    if (size == 0) { /* like the real runtime: success, NULL pointer */
        *devPtr = NULL;
        return cudaSuccess;
    }
    CUdeviceptr d = 0;
    CUresult rc = drv.memAlloc(&d, size);
    *devPtr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

cudaError_t cudaFree(void *devPtr)
{
    ENSURE();
    if (devPtr == NULL)
        return cudaSuccess;
    return ret_drv(drv.memFree(dp(devPtr)));
}

static cudaError_t malloc_async(int per_thread, void **devPtr, size_t size, cudaStream_t stream)
{
    ENSURE(); /* before reading drv: it fills the table */
    if (devPtr == NULL)
        return ret(cudaErrorInvalidValue);
    CUdeviceptr d = 0;
    CUresult rc = (per_thread ? drv.memAllocAsync_ptsz : drv.memAllocAsync)(&d, size, stream);
    *devPtr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

cudaError_t cudaMallocAsync(void **devPtr, size_t size, cudaStream_t stream)
{
    return malloc_async(0, devPtr, size, stream);
}

cudaError_t cudaMallocAsync_ptsz(void **devPtr, size_t size, cudaStream_t stream)
{
    return malloc_async(1, devPtr, size, stream);
}

cudaError_t cudaFreeAsync(void *devPtr, cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.memFreeAsync(dp(devPtr), stream));
}

cudaError_t cudaFreeAsync_ptsz(void *devPtr, cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.memFreeAsync_ptsz(dp(devPtr), stream));
}

static cudaError_t malloc_from_pool(int per_thread, void **ptr, size_t size, cudaMemPool_t pool,
                                    cudaStream_t stream)
{
    ENSURE();
    if (ptr == NULL)
        return ret(cudaErrorInvalidValue);
    CUdeviceptr d = 0;
    CUresult rc = (per_thread ? drv.memAllocFromPoolAsync_ptsz : drv.memAllocFromPoolAsync)(
        &d, size, pool, stream);
    *ptr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t memPool,
                                    cudaStream_t stream)
{
    return malloc_from_pool(0, ptr, size, memPool, stream);
}

cudaError_t cudaMallocFromPoolAsync_ptsz(void **ptr, size_t size, cudaMemPool_t memPool,
                                         cudaStream_t stream)
{
    return malloc_from_pool(1, ptr, size, memPool, stream);
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t memPool, size_t minBytesToKeep)
{
    ENSURE();
    return ret_drv(drv.memPoolTrimTo(memPool, minBytesToKeep));
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *memPool, int device)
{
    ENSURE();
    return ret_drv(drv.deviceGetDefaultMemPool(memPool, device));
}

cudaError_t cudaMallocManaged(void **devPtr, size_t size, unsigned int flags)
{
    ENSURE();
    if (devPtr == NULL)
        return ret(cudaErrorInvalidValue);
    CUdeviceptr d = 0;
    CUresult rc = drv.memAllocManaged(&d, size, flags);
    *devPtr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

cudaError_t cudaMallocPitch(void **devPtr, size_t *pitch, size_t width, size_t height)
{
    ENSURE();
    if (devPtr == NULL || pitch == NULL)
        return ret(cudaErrorInvalidValue);
    CUdeviceptr d = 0;
    CUresult rc = drv.memAllocPitch(&d, pitch, width, height, 16);
    *devPtr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

cudaError_t cudaMallocHost(void **ptr, size_t size)
{
    ENSURE();
    return ret_drv(drv.memAllocHost(ptr, size));
}

cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
    ENSURE();
    return ret_drv(drv.memHostAlloc(pHost, size, flags));
}

cudaError_t cudaFreeHost(void *ptr)
{
    ENSURE();
    if (ptr == NULL)
        return cudaSuccess;
    return ret_drv(drv.memFreeHost(ptr));
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    ENSURE();
    return ret_drv(drv.memGetInfo(free_bytes, total));
}

/* ------------------------------------------------------------------------------------------ */
/* Devices, streams, copies, kernels                                                           */

cudaError_t cudaGetDeviceCount(int *count)
{
    ENSURE();
    return ret_drv(drv.deviceGetCount(count));
}

cudaError_t cudaGetDevice(int *device)
{
    ENSURE();
    return ret_drv(drv.ctxGetDevice(device));
}

cudaError_t cudaSetDevice(int device)
{
    ENSURE();
    int count = 0;
    CUresult rc = drv.deviceGetCount(&count);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    if (device < 0 || device >= count)
        return ret(cudaErrorInvalidDevice);
    return ret_drv(drv.ctxSetCurrent(g_primary));
}

cudaError_t cudaDeviceSynchronize(void)
{
    ENSURE();
    return ret_drv(drv.ctxSynchronize());
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
    ENSURE();
    return ret_drv(drv.streamCreate(pStream, 0));
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.streamDestroy(stream));
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.streamSynchronize(stream));
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    ENSURE();
    switch (kind) {
    case cudaMemcpyHostToDevice: return ret_drv(drv.memcpyHtoD(dp(dst), src, count));
    case cudaMemcpyDeviceToHost: return ret_drv(drv.memcpyDtoH(dst, dp(src), count));
    case cudaMemcpyDeviceToDevice: return ret_drv(drv.memcpyDtoD(dp(dst), dp(src), count));
    case cudaMemcpyHostToHost:
    case cudaMemcpyDefault: /* unified addressing: every address is host memory here */
        if (count != 0 && (dst == NULL || src == NULL))
            return ret(cudaErrorInvalidValue);
        memmove(dst, src, count);
        return cudaSuccess;
    }
    return ret(cudaErrorInvalidMemcpyDirection);
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
    ENSURE();
    return ret_drv(drv.memsetD8(dp(devPtr), (unsigned char)value, count));
}

cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
                             size_t sharedMem, cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.launchKernel((CUfunction)(uintptr_t)func, gridDim.x, gridDim.y,
                                    gridDim.z, blockDim.x, blockDim.y, blockDim.z,
                                    (unsigned int)sharedMem, stream, args, NULL));
}

/* ------------------------------------------------------------------------------------------ */
/* Graphs: the driver's, one call each (cudaGraphInstantiate is CUDA 12's, with flags)         */

cudaError_t cudaGraphCreate(cudaGraph_t *pGraph, unsigned int flags)
{
    ENSURE();
    return ret_drv(drv.graphCreate(pGraph, flags));
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    ENSURE();
    return ret_drv(drv.graphDestroy(graph));
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                                 unsigned long long flags)
{
    ENSURE();
    return ret_drv(drv.graphInstantiate(pGraphExec, graph, flags));
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.graphLaunch(graphExec, stream));
}

cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t graphExec, cudaStream_t stream)
{
    ENSURE();
    return ret_drv(drv.graphLaunch_ptsz(graphExec, stream));
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec)
{
    ENSURE();
    return ret_drv(drv.graphExecDestroy(graphExec));
}

/* ------------------------------------------------------------------------------------------ */
/* Versions, errors, driver entry points                                                       */

cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
    if (runtimeVersion == NULL)
        return ret(cudaErrorInvalidValue);
    *runtimeVersion = CUDART_VERSION;
    return cudaSuccess;
}

/* Like the real one: 0 and success when there is no driver. */
cudaError_t cudaDriverGetVersion(int *driverVersion)
{
    if (driverVersion == NULL)
        return ret(cudaErrorInvalidValue);
    pthread_once(&g_once, load_driver);
    *driverVersion = 0;
    if (drv.driverGetVersion != NULL)
        return ret_drv(drv.driverGetVersion(driverVersion));
    return cudaSuccess;
}

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr,
                                             unsigned int cudaVersion, unsigned long long flags,
                                             cudaDriverEntryPointQueryResult *driverStatus)
{
    ENSURE();
    return ret_drv(drv.getProcAddress(symbol, funcPtr, (int)cudaVersion, flags, driverStatus));
}

cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                    cudaDriverEntryPointQueryResult *driverStatus)
{
    ENSURE();
    return ret_drv(drv.getProcAddress(symbol, funcPtr, CUDART_VERSION, flags, driverStatus));
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = t_last_error;
    t_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_last_error; }

static const struct {
    cudaError_t code;
    const char *name;
    const char *text;
} k_errors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorCudartUnloading, "cudaErrorCudartUnloading", "driver shutting down"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection",
     "invalid copy direction for memcpy"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorDeviceUninitialized, "cudaErrorDeviceUninitialized", "invalid device context"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorSymbolNotFound, "cudaErrorSymbolNotFound", "named symbol not found"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

static const char *error_text(cudaError_t error, int name)
{
    for (size_t i = 0; i < sizeof k_errors / sizeof k_errors[0]; i++)
        if (k_errors[i].code == error)
            return name ? k_errors[i].name : k_errors[i].text;
    return name ? "cudaErrorUnknown" : "unrecognized error code";
}

const char *cudaGetErrorString(cudaError_t error) { return error_text(error, 0); }

const char *cudaGetErrorName(cudaError_t error) { return error_text(error, 1); }
