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
#include <stdatomic.h>
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
    /* What PyTorch needs beyond the calls above. */
    __typeof(cuDeviceGetName) *deviceGetName;
    __typeof(cuDeviceTotalMem_v2) *deviceTotalMem;
    __typeof(cuDeviceGetAttribute) *deviceGetAttribute;
    __typeof(cuStreamCreateWithPriority) *streamCreateWithPriority;
    __typeof(cuStreamGetPriority) *streamGetPriority;
    __typeof(cuStreamQuery) *streamQuery;
    __typeof(cuStreamWaitEvent) *streamWaitEvent;
    __typeof(cuCtxGetStreamPriorityRange) *ctxGetStreamPriorityRange;
    __typeof(cuEventCreate) *eventCreate;
    __typeof(cuEventRecord) *eventRecord;
    __typeof(cuEventRecordWithFlags) *eventRecordWithFlags;
    __typeof(cuEventSynchronize) *eventSynchronize;
    __typeof(cuEventQuery) *eventQuery;
    __typeof(cuEventDestroy_v2) *eventDestroy;
    __typeof(cuEventElapsedTime) *eventElapsedTime;
    __typeof(cuMemcpyHtoDAsync_v2) *memcpyHtoDAsync;
    __typeof(cuMemcpyDtoHAsync_v2) *memcpyDtoHAsync;
    __typeof(cuMemcpyDtoDAsync_v2) *memcpyDtoDAsync;
    __typeof(cuMemsetD8Async) *memsetD8Async;
    __typeof(cuMemPoolSetAttribute) *memPoolSetAttribute;
    __typeof(cuMemPoolGetAttribute) *memPoolGetAttribute;
    __typeof(cuMemPoolSetAccess) *memPoolSetAccess;
    __typeof(cuMemHostRegister_v2) *memHostRegister;
    __typeof(cuMemHostUnregister) *memHostUnregister;
    __typeof(cuIpcGetMemHandle) *ipcGetMemHandle;
    __typeof(cuIpcOpenMemHandle_v2) *ipcOpenMemHandle;
    __typeof(cuIpcCloseMemHandle) *ipcCloseMemHandle;
    __typeof(cuPointerGetAttribute) *pointerGetAttribute;
    __typeof(cuModuleLoadData) *moduleLoadData;
    __typeof(cuModuleGetFunction) *moduleGetFunction;
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
    case 208 /* CUDA_ERROR_ALREADY_MAPPED */: return cudaErrorAlreadyMapped;
    case 600 /* CUDA_ERROR_NOT_READY */: return cudaErrorNotReady;
    case 712 /* CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED */:
        return cudaErrorHostMemoryAlreadyRegistered;
    case 713 /* CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED */: return cudaErrorHostMemoryNotRegistered;
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
    GET(deviceGetName, "cuDeviceGetName", 2000, 0);
    GET(deviceTotalMem, "cuDeviceTotalMem", 3020, 0);
    GET(deviceGetAttribute, "cuDeviceGetAttribute", 2000, 0);
    GET(streamCreateWithPriority, "cuStreamCreateWithPriority", 5050, 0);
    GET(streamGetPriority, "cuStreamGetPriority", 5050, 0);
    GET(streamQuery, "cuStreamQuery", 2000, 0);
    GET(streamWaitEvent, "cuStreamWaitEvent", 2000, 0);
    GET(ctxGetStreamPriorityRange, "cuCtxGetStreamPriorityRange", 5050, 0);
    GET(eventCreate, "cuEventCreate", 2000, 0);
    GET(eventRecord, "cuEventRecord", 2000, 0);
    GET(eventRecordWithFlags, "cuEventRecordWithFlags", 11010, 0);
    GET(eventSynchronize, "cuEventSynchronize", 2000, 0);
    GET(eventQuery, "cuEventQuery", 2000, 0);
    GET(eventDestroy, "cuEventDestroy", 4000, 0);
    GET(eventElapsedTime, "cuEventElapsedTime", 2000, 0);
    GET(memcpyHtoDAsync, "cuMemcpyHtoDAsync", 3020, 0);
    GET(memcpyDtoHAsync, "cuMemcpyDtoHAsync", 3020, 0);
    GET(memcpyDtoDAsync, "cuMemcpyDtoDAsync", 3020, 0);
    GET(memsetD8Async, "cuMemsetD8Async", 3020, 0);
    GET(memPoolSetAttribute, "cuMemPoolSetAttribute", 11020, 0);
    GET(memPoolGetAttribute, "cuMemPoolGetAttribute", 11020, 0);
    GET(memPoolSetAccess, "cuMemPoolSetAccess", 11020, 0);
    GET(memHostRegister, "cuMemHostRegister", 6050, 0);
    GET(memHostUnregister, "cuMemHostUnregister", 4000, 0);
    GET(ipcGetMemHandle, "cuIpcGetMemHandle", 4010, 0);
    GET(ipcOpenMemHandle, "cuIpcOpenMemHandle", 11000, 0);
    GET(ipcCloseMemHandle, "cuIpcCloseMemHandle", 4010, 0);
    GET(pointerGetAttribute, "cuPointerGetAttribute", 4000, 0);
    GET(moduleLoadData, "cuModuleLoadData", 2000, 0);
    GET(moduleGetFunction, "cuModuleGetFunction", 2000, 0);
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

/* A runtime call that is its driver call, on a thread set up by ENSURE. */
#define FORWARD(declaration, call)                                                              \
    cudaError_t declaration                                                                     \
    {                                                                                           \
        ENSURE();                                                                               \
        return ret_drv(call);                                                                   \
    }

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

FORWARD(cudaFreeAsync(void *devPtr, cudaStream_t stream),
        drv.memFreeAsync(dp(devPtr), stream))

FORWARD(cudaFreeAsync_ptsz(void *devPtr, cudaStream_t stream),
        drv.memFreeAsync_ptsz(dp(devPtr), stream))

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

FORWARD(cudaMemPoolTrimTo(cudaMemPool_t memPool, size_t minBytesToKeep),
        drv.memPoolTrimTo(memPool, minBytesToKeep))

FORWARD(cudaDeviceGetDefaultMemPool(cudaMemPool_t *memPool, int device),
        drv.deviceGetDefaultMemPool(memPool, device))

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

FORWARD(cudaMallocHost(void **ptr, size_t size),
        drv.memAllocHost(ptr, size))

FORWARD(cudaHostAlloc(void **pHost, size_t size, unsigned int flags),
        drv.memHostAlloc(pHost, size, flags))

cudaError_t cudaFreeHost(void *ptr)
{
    ENSURE();
    if (ptr == NULL)
        return cudaSuccess;
    return ret_drv(drv.memFreeHost(ptr));
}

FORWARD(cudaMemGetInfo(size_t *free_bytes, size_t *total),
        drv.memGetInfo(free_bytes, total))

/* ------------------------------------------------------------------------------------------ */
/* Devices, streams, copies, kernels                                                           */

FORWARD(cudaGetDeviceCount(int *count),
        drv.deviceGetCount(count))

FORWARD(cudaGetDevice(int *device),
        drv.ctxGetDevice(device))

cudaError_t cudaSetDevice(int device)
{
    ENSURE();
    int count = 0;
    CUresult rc = drv.deviceGetCount(&count);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    if (device < 0 || device >= count)
        return ret(cudaErrorInvalidDevice);
    /* The device's primary context, retained once per thread that picks it: the real runtime
     * keeps one per device for the process. */
    CUcontext ctx = NULL;
    rc = drv.primaryCtxRetain(&ctx, device);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    return ret_drv(drv.ctxSetCurrent(ctx));
}

FORWARD(cudaDeviceSynchronize(void),
        drv.ctxSynchronize())

FORWARD(cudaStreamCreate(cudaStream_t *pStream),
        drv.streamCreate(pStream, 0))

FORWARD(cudaStreamDestroy(cudaStream_t stream),
        drv.streamDestroy(stream))

FORWARD(cudaStreamSynchronize(cudaStream_t stream),
        drv.streamSynchronize(stream))

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

FORWARD(cudaMemset(void *devPtr, int value, size_t count),
        drv.memsetD8(dp(devPtr), (unsigned char)value, count))


/* ------------------------------------------------------------------------------------------ */
/* Kernel registration and launches                                                            */
/*                                                                                             */
/* nvcc's host code registers every kernel of a library from its constructors (before main,    */
/* often tens of thousands for PyTorch), keyed by the address of the kernel's host stub. Like  */
/* the real runtime, registration only records; the driver sees a kernel when it is first      */
/* launched, as a module of its own (the fake driver's modules are placeholder text naming     */
/* their kernels) and a CUfunction, so launches reach cuLaunchKernel as on a GPU.              */

#define FATBIN_MAGIC 0x46544246u /* "FBTF" */

struct fatbin {
    unsigned magic;
    int alive; /* cleared by __cudaUnregisterFatBinary; kept, so stale entries are detected */
};

struct kernel {
    const void *host_fun;
    const char *name;
    struct fatbin *fatbin;
    CUfunction fn; /* made at first launch */
};

static pthread_mutex_t g_kernels_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kernel *g_kernels; /* open addressing on host_fun */
static size_t g_kernel_slots;    /* power of two */
static size_t g_kernel_count;
static _Atomic unsigned long long g_launches;

static size_t kernel_slot(const void *key)
{
    return (size_t)(((uintptr_t)key * 0x9E3779B97F4A7C15ull) >> 17) & (g_kernel_slots - 1);
}

static void kernel_put_raw(struct kernel k)
{
    size_t i = kernel_slot(k.host_fun);
    while (g_kernels[i].host_fun != NULL && g_kernels[i].host_fun != k.host_fun)
        i = (i + 1) & (g_kernel_slots - 1);
    if (g_kernels[i].host_fun == NULL)
        g_kernel_count++;
    g_kernels[i] = k;
}

/* Under g_kernels_lock. A re-registration (a library loaded again) replaces the entry. */
static void kernel_put(struct kernel k)
{
    if (g_kernels == NULL || (g_kernel_count + 1) * 2 > g_kernel_slots) {
        size_t old_slots = g_kernel_slots;
        struct kernel *old = g_kernels;
        size_t slots = old_slots ? old_slots * 2 : 4096;
        struct kernel *t = calloc(slots, sizeof *t);
        if (t == NULL)
            return; /* out of host memory: the kernel launches as an unknown function */
        g_kernels = t;
        g_kernel_slots = slots;
        g_kernel_count = 0;
        for (size_t i = 0; i < old_slots; i++)
            if (old[i].host_fun != NULL)
                kernel_put_raw(old[i]);
        free(old);
    }
    kernel_put_raw(k);
}

/* Under g_kernels_lock. */
static struct kernel *kernel_find(const void *host_fun)
{
    if (g_kernels == NULL || host_fun == NULL)
        return NULL;
    for (size_t i = kernel_slot(host_fun);; i = (i + 1) & (g_kernel_slots - 1)) {
        if (g_kernels[i].host_fun == host_fun)
            return g_kernels[i].fatbin->alive ? &g_kernels[i] : NULL;
        if (g_kernels[i].host_fun == NULL)
            return NULL;
    }
}

void **__cudaRegisterFatBinary(void *fatCubin)
{
    (void)fatCubin;
    struct fatbin *f = malloc(sizeof *f);
    if (f == NULL)
        return NULL;
    f->magic = FATBIN_MAGIC;
    f->alive = 1;
    return (void **)f;
}

void __cudaRegisterFatBinaryEnd(void **fatCubinHandle) { (void)fatCubinHandle; }

void __cudaUnregisterFatBinary(void **fatCubinHandle)
{
    struct fatbin *f = (struct fatbin *)fatCubinHandle;
    if (f != NULL && f->magic == FATBIN_MAGIC)
        f->alive = 0;
}

void __cudaRegisterFunction(void **fatCubinHandle, const char *hostFun, char *deviceFun,
                            const char *deviceName, int thread_limit, void *tid, void *bid,
                            dim3 *bDim, dim3 *gDim, int *wSize)
{
    (void)deviceFun, (void)thread_limit, (void)tid, (void)bid, (void)bDim, (void)gDim,
        (void)wSize;
    struct fatbin *f = (struct fatbin *)fatCubinHandle;
    if (f == NULL || f->magic != FATBIN_MAGIC || hostFun == NULL || deviceName == NULL)
        return;
    pthread_mutex_lock(&g_kernels_lock);
    kernel_put((struct kernel){hostFun, deviceName, f, NULL});
    pthread_mutex_unlock(&g_kernels_lock);
}

/* Device variables have no storage here: nothing reads them. */
void __cudaRegisterVar(void **fatCubinHandle, char *hostVar, char *deviceAddress,
                       const char *deviceName, int ext, size_t size, int constant, int global)
{
    (void)fatCubinHandle, (void)hostVar, (void)deviceAddress, (void)deviceName, (void)ext,
        (void)size, (void)constant, (void)global;
}

char __cudaInitModule(void **fatCubinHandle)
{
    (void)fatCubinHandle;
    return 1;
}

/* `kernel<<<grid, block, shmem, stream>>>(...)` pushes its configuration, then the kernel's
 * host stub pops it and calls cudaLaunchKernel. Nested launches are rare; 8 levels is ample. */
struct call_config {
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
};
static __thread struct call_config t_configs[8];
static __thread unsigned t_config_depth;

unsigned __cudaPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem,
                                     cudaStream_t stream)
{
    if (t_config_depth >= sizeof t_configs / sizeof t_configs[0])
        return 1;
    t_configs[t_config_depth++] = (struct call_config){gridDim, blockDim, sharedMem, stream};
    return 0;
}

cudaError_t __cudaPopCallConfiguration(dim3 *gridDim, dim3 *blockDim, size_t *sharedMem,
                                       void *stream)
{
    if (t_config_depth == 0)
        return ret(cudaErrorInvalidConfiguration);
    struct call_config c = t_configs[--t_config_depth];
    if (gridDim != NULL)
        *gridDim = c.grid;
    if (blockDim != NULL)
        *blockDim = c.block;
    if (sharedMem != NULL)
        *sharedMem = c.shmem;
    if (stream != NULL)
        *(cudaStream_t *)stream = c.stream;
    return cudaSuccess;
}

/* The driver function behind a launched host pointer: the registered kernel's (made at its
 * first launch), or the pointer itself for one nothing registered (the test programs pass
 * plain host functions, which the fake driver accepts as handles). */
static cudaError_t launch_target(const void *func, CUfunction *out)
{
    if (func == NULL)
        return cudaErrorInvalidDeviceFunction;
    pthread_mutex_lock(&g_kernels_lock);
    struct kernel *k = kernel_find(func);
    CUresult rc = CUDA_SUCCESS;
    if (k == NULL) {
        *out = (CUfunction)(uintptr_t)func;
    } else {
        if (k->fn == NULL) {
            CUmodule m = NULL;
            rc = drv.moduleLoadData(&m, k->name);
            if (rc == CUDA_SUCCESS)
                rc = drv.moduleGetFunction(&k->fn, m, k->name);
        }
        *out = k->fn;
    }
    pthread_mutex_unlock(&g_kernels_lock);
    return rc == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidDeviceFunction;
}

static cudaError_t launch(const void *func, dim3 grid, dim3 block, void **args, size_t shmem,
                          cudaStream_t stream)
{
    CUfunction f = NULL;
    cudaError_t e = launch_target(func, &f);
    if (e != cudaSuccess)
        return ret(e);
    CUresult rc = drv.launchKernel(f, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                                   (unsigned int)shmem, stream, args, NULL);
    if (rc == CUDA_SUCCESS)
        atomic_fetch_add_explicit(&g_launches, 1, memory_order_relaxed);
    /* A bad launch configuration is cudaErrorInvalidConfiguration in the runtime. */
    return ret(rc == CUDA_ERROR_INVALID_VALUE ? cudaErrorInvalidConfiguration : map_error(rc));
}

cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
                             size_t sharedMem, cudaStream_t stream)
{
    ENSURE();
    return launch(func, gridDim, blockDim, args, sharedMem, stream);
}

/* Launch attributes (clusters, priorities ...) change nothing when nothing runs. */
cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func, void **args)
{
    ENSURE();
    if (config == NULL || (config->numAttrs != 0 && config->attrs == NULL))
        return ret(cudaErrorInvalidValue);
    return launch(func, config->gridDim, config->blockDim, args, config->dynamicSmemBytes,
                  config->stream);
}

unsigned long long fakeCudartLaunchCount(void) { return atomic_load(&g_launches); }

static int kernel_known(const void *func)
{
    pthread_mutex_lock(&g_kernels_lock);
    int known = kernel_find(func) != NULL;
    pthread_mutex_unlock(&g_kernels_lock);
    return known;
}

/* A registered kernel's attributes, as a small kernel on compute capability 8.6 reports them. */
cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func)
{
    ENSURE();
    if (attr == NULL)
        return ret(cudaErrorInvalidValue);
    if (!kernel_known(func))
        return ret(cudaErrorInvalidDeviceFunction);
    memset(attr, 0, sizeof *attr);
    attr->maxThreadsPerBlock = 1024;
    attr->numRegs = 32;
    attr->ptxVersion = 86;
    attr->binaryVersion = 86;
    attr->maxDynamicSharedSizeBytes = 49152;
    attr->preferredShmemCarveout = -1;
    return cudaSuccess;
}

#define cudaFuncAttributeMaxDynamicSharedMemorySize 8
#define cudaFuncAttributeMax 16

cudaError_t cudaFuncSetAttribute(const void *func, int attr, int value)
{
    ENSURE();
    if (!kernel_known(func))
        return ret(cudaErrorInvalidDeviceFunction);
    if (attr < cudaFuncAttributeMaxDynamicSharedMemorySize || attr >= cudaFuncAttributeMax)
        return ret(cudaErrorInvalidValue);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize && (value < 0 || value > 101376))
        return ret(cudaErrorInvalidValue);
    return cudaSuccess;
}

/* 2048 threads and 16 blocks per multiprocessor, shared memory not counted. */
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks,
                                                                   const void *func,
                                                                   int blockSize,
                                                                   size_t dynamicSMemSize,
                                                                   unsigned int flags)
{
    (void)dynamicSMemSize;
    ENSURE();
    if (numBlocks == NULL || blockSize <= 0 || blockSize > 1024 || flags > 1)
        return ret(cudaErrorInvalidValue);
    if (!kernel_known(func))
        return ret(cudaErrorInvalidDeviceFunction);
    int n = 2048 / blockSize;
    *numBlocks = n > 16 ? 16 : n;
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* What PyTorch calls beyond allocation: device properties, peers, priorities, events, capture */

/* Built from the driver's answers, so the runtime and the driver describe one device. */
cudaError_t cudaGetDeviceProperties_v2(struct cudaDeviceProp *prop, int device)
{
    ENSURE();
    if (prop == NULL)
        return ret(cudaErrorInvalidValue);
    int count = 0;
    CUresult rc = drv.deviceGetCount(&count);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    if (device < 0 || device >= count)
        return ret(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    rc = drv.deviceGetName(prop->name, (int)sizeof prop->name, device);
    if (rc == CUDA_SUCCESS)
        rc = drv.deviceTotalMem(&prop->totalGlobalMem, device);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    /* A fixed UUID per ordinal, as NVML's fake reports it. */
    prop->uuid.bytes[15] = (char)(device + 1);
#define ATTR(field, attr)                                                                       \
    do {                                                                                        \
        int v_ = 0;                                                                             \
        CUresult r_ = drv.deviceGetAttribute(&v_, attr, device);                                \
        if (r_ != CUDA_SUCCESS)                                                                 \
            return ret_drv(r_);                                                                 \
        prop->field = v_;                                                                       \
    } while (0)
    ATTR(sharedMemPerBlock, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
    ATTR(regsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
    ATTR(warpSize, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
    ATTR(memPitch, CU_DEVICE_ATTRIBUTE_MAX_PITCH);
    ATTR(maxThreadsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
    ATTR(maxThreadsDim[0], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
    ATTR(maxThreadsDim[1], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y);
    ATTR(maxThreadsDim[2], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z);
    ATTR(maxGridSize[0], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X);
    ATTR(maxGridSize[1], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y);
    ATTR(maxGridSize[2], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z);
    ATTR(clockRate, CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
    ATTR(totalConstMem, CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY);
    ATTR(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    ATTR(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    ATTR(textureAlignment, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT);
    ATTR(multiProcessorCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    ATTR(integrated, CU_DEVICE_ATTRIBUTE_INTEGRATED);
    ATTR(canMapHostMemory, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY);
    ATTR(computeMode, CU_DEVICE_ATTRIBUTE_COMPUTE_MODE);
    ATTR(concurrentKernels, CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS);
    ATTR(ECCEnabled, CU_DEVICE_ATTRIBUTE_ECC_ENABLED);
    ATTR(pciBusID, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
    ATTR(pciDeviceID, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
    ATTR(pciDomainID, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
    ATTR(asyncEngineCount, CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT);
    ATTR(unifiedAddressing, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING);
    ATTR(memoryClockRate, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    ATTR(memoryBusWidth, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
    ATTR(l2CacheSize, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
    ATTR(maxThreadsPerMultiProcessor, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
    ATTR(streamPrioritiesSupported, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED);
    ATTR(globalL1CacheSupported, CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED);
    ATTR(localL1CacheSupported, CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED);
    ATTR(sharedMemPerMultiprocessor, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
    ATTR(regsPerMultiprocessor, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR);
    ATTR(managedMemory, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY);
    ATTR(concurrentManagedAccess, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS);
    ATTR(cooperativeLaunch, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH);
    ATTR(sharedMemPerBlockOptin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
    ATTR(maxBlocksPerMultiProcessor, CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
    ATTR(reservedSharedMemPerBlock, CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK);
    ATTR(memoryPoolsSupported, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED);
    ATTR(memoryPoolSupportedHandleTypes, CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES);
#undef ATTR
    prop->deviceOverlap = prop->asyncEngineCount > 0;
    prop->hostRegisterSupported = 1;
    return cudaSuccess;
}

/* The runtime's attribute numbers are the driver's. */
cudaError_t cudaDeviceGetAttribute(int *value, int attr, int device)
{
    ENSURE();
    if (value == NULL)
        return ret(cudaErrorInvalidValue);
    return ret_drv(drv.deviceGetAttribute(value, attr, device));
}

static cudaError_t check_device(int device)
{
    int count = 0;
    CUresult rc = drv.deviceGetCount(&count);
    if (rc != CUDA_SUCCESS)
        return map_error(rc);
    return device >= 0 && device < count ? cudaSuccess : cudaErrorInvalidDevice;
}

/* One device: no peer to reach. */
cudaError_t cudaDeviceCanAccessPeer(int *canAccessPeer, int device, int peerDevice)
{
    ENSURE();
    if (canAccessPeer == NULL)
        return ret(cudaErrorInvalidValue);
    cudaError_t e = check_device(device);
    if (e == cudaSuccess)
        e = check_device(peerDevice);
    if (e != cudaSuccess)
        return ret(e);
    *canAccessPeer = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceEnablePeerAccess(int peerDevice, unsigned int flags)
{
    ENSURE();
    if (flags != 0)
        return ret(cudaErrorInvalidValue);
    cudaError_t e = check_device(peerDevice);
    return ret(e != cudaSuccess ? e : cudaErrorPeerAccessUnsupported);
}

cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device)
{
    ENSURE();
    if (pciBusId == NULL || len <= 0)
        return ret(cudaErrorInvalidValue);
    cudaError_t e = check_device(device);
    if (e != cudaSuccess)
        return ret(e);
    snprintf(pciBusId, (size_t)len, "0000:%02x:00.0", device + 1);
    return cudaSuccess;
}

FORWARD(cudaDeviceGetStreamPriorityRange(int *leastPriority, int *greatestPriority),
        drv.ctxGetStreamPriorityRange(leastPriority, greatestPriority))

FORWARD(cudaStreamCreateWithPriority(cudaStream_t *pStream, unsigned int flags, int priority),
        drv.streamCreateWithPriority(pStream, flags, priority))

FORWARD(cudaStreamGetPriority(cudaStream_t hStream, int *priority),
        drv.streamGetPriority(hStream, priority))

FORWARD(cudaStreamQuery(cudaStream_t stream),
        drv.streamQuery(stream))

FORWARD(cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags),
        drv.streamWaitEvent(stream, event, flags))

/* Work is done when it is queued, so a callback runs at once, on the calling thread (the real
 * runtime runs it later on a thread of its own). */
cudaError_t cudaStreamAddCallback(cudaStream_t stream, cudaStreamCallback_t callback,
                                  void *userData, unsigned int flags)
{
    ENSURE();
    if (callback == NULL || flags != 0)
        return ret(cudaErrorInvalidValue);
    CUresult rc = drv.streamQuery(stream);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    callback(stream, cudaSuccess, userData);
    return cudaSuccess;
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *userData)
{
    ENSURE();
    if (fn == NULL)
        return ret(cudaErrorInvalidValue);
    CUresult rc = drv.streamQuery(stream);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    fn(userData);
    return cudaSuccess;
}

FORWARD(cudaEventCreate(cudaEvent_t *event),
        drv.eventCreate(event, 0))

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    ENSURE();
    if (flags > 0x7) /* Default | BlockingSync | DisableTiming | Interprocess */
        return ret(cudaErrorInvalidValue);
    return ret_drv(drv.eventCreate(event, flags));
}

FORWARD(cudaEventDestroy(cudaEvent_t event),
        drv.eventDestroy(event))

FORWARD(cudaEventRecord(cudaEvent_t event, cudaStream_t stream),
        drv.eventRecord(event, stream))

FORWARD(cudaEventRecordWithFlags(cudaEvent_t event, cudaStream_t stream, unsigned int flags),
        drv.eventRecordWithFlags(event, stream, flags))

FORWARD(cudaEventQuery(cudaEvent_t event),
        drv.eventQuery(event))

FORWARD(cudaEventSynchronize(cudaEvent_t event),
        drv.eventSynchronize(event))

FORWARD(cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end),
        drv.eventElapsedTime(ms, start, end))

/* Stream capture: nothing is ever captured (graphs are built with the graph API only). A
 * capture that is asked for fails, as it does on a GPU for an operation capture cannot hold. */
static __thread int t_capture_mode; /* cudaStreamCaptureModeGlobal */

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, int mode)
{
    ENSURE();
    if (mode < 0 || mode > 2)
        return ret(cudaErrorInvalidValue);
    CUresult rc = drv.streamQuery(stream);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    return ret(cudaErrorStreamCaptureUnsupported);
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph)
{
    ENSURE();
    (void)stream;
    if (pGraph != NULL)
        *pGraph = NULL;
    return ret(cudaErrorIllegalState);
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
    ENSURE();
    if (status == NULL)
        return ret(cudaErrorInvalidValue);
    CUresult rc = drv.streamQuery(stream);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    *status = cudaStreamCaptureStatusNone;
    return cudaSuccess;
}

cudaError_t cudaStreamGetCaptureInfo_v2(cudaStream_t stream,
                                        enum cudaStreamCaptureStatus *captureStatus_out,
                                        unsigned long long *id_out, cudaGraph_t *graph_out,
                                        const cudaGraphNode_t **dependencies_out,
                                        size_t *numDependencies_out)
{
    ENSURE();
    if (captureStatus_out == NULL)
        return ret(cudaErrorInvalidValue);
    CUresult rc = drv.streamQuery(stream);
    if (rc != CUDA_SUCCESS)
        return ret_drv(rc);
    *captureStatus_out = cudaStreamCaptureStatusNone;
    if (id_out != NULL)
        *id_out = 0;
    if (graph_out != NULL)
        *graph_out = NULL;
    if (dependencies_out != NULL)
        *dependencies_out = NULL;
    if (numDependencies_out != NULL)
        *numDependencies_out = 0;
    return cudaSuccess;
}

cudaError_t cudaStreamUpdateCaptureDependencies(cudaStream_t stream, cudaGraphNode_t *dependencies,
                                                size_t numDependencies, unsigned int flags)
{
    ENSURE();
    (void)stream, (void)dependencies, (void)numDependencies, (void)flags;
    return ret(cudaErrorIllegalState); /* the stream is not capturing */
}

cudaError_t cudaThreadExchangeStreamCaptureMode(int *mode)
{
    if (mode == NULL || *mode < 0 || *mode > 2)
        return ret(cudaErrorInvalidValue);
    int old = t_capture_mode;
    t_capture_mode = *mode;
    *mode = old;
    return cudaSuccess;
}

/* Graph introspection PyTorch links; graphs made through the graph API have no kernel nodes
 * here, so there is nothing to list or print. */
FORWARD(cudaGraphInstantiateWithFlags(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                 unsigned long long flags),
        drv.graphInstantiate(pGraphExec, graph, flags))

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *numNodes)
{
    ENSURE();
    if (graph == NULL || numNodes == NULL)
        return ret(cudaErrorInvalidValue);
    (void)nodes;
    *numNodes = 0;
    return cudaSuccess;
}

cudaError_t cudaGraphAddEmptyNode(cudaGraphNode_t *pGraphNode, cudaGraph_t graph,
                                  const cudaGraphNode_t *pDependencies, size_t numDependencies)
{
    ENSURE();
    (void)pGraphNode, (void)graph, (void)pDependencies, (void)numDependencies;
    return ret(cudaErrorNotSupported);
}

cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t node, cudaGraphNode_t *pDependencies,
                                         size_t *pNumDependencies)
{
    ENSURE();
    (void)node, (void)pDependencies, (void)pNumDependencies;
    return ret(cudaErrorNotSupported);
}

cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, int *pType)
{
    ENSURE();
    (void)node, (void)pType;
    return ret(cudaErrorNotSupported);
}

cudaError_t cudaGraphDebugDotPrint(cudaGraph_t graph, const char *path, unsigned int flags)
{
    ENSURE();
    (void)graph, (void)path, (void)flags;
    return ret(cudaErrorNotSupported);
}

cudaError_t cudaProfilerStart(void) { return cudaSuccess; }
cudaError_t cudaProfilerStop(void) { return cudaSuccess; }

/* ------------------------------------------------------------------------------------------ */
/* Stream-ordered copies and sets, pools, host registration, IPC, pointer attributes           */

static cudaError_t copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                        cudaStream_t stream)
{
    switch (kind) {
    case cudaMemcpyHostToDevice: return ret_drv(drv.memcpyHtoDAsync(dp(dst), src, count, stream));
    case cudaMemcpyDeviceToHost: return ret_drv(drv.memcpyDtoHAsync(dst, dp(src), count, stream));
    case cudaMemcpyDeviceToDevice:
        return ret_drv(drv.memcpyDtoDAsync(dp(dst), dp(src), count, stream));
    case cudaMemcpyHostToHost:
    case cudaMemcpyDefault: {
        CUresult rc = drv.streamQuery(stream);
        if (rc != CUDA_SUCCESS)
            return ret_drv(rc);
        if (count != 0 && (dst == NULL || src == NULL))
            return ret(cudaErrorInvalidValue);
        memmove(dst, src, count);
        return cudaSuccess;
    }
    }
    return ret(cudaErrorInvalidMemcpyDirection);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    ENSURE();
    return copy(dst, src, count, kind, stream);
}

/* One device: a peer copy is a copy on it. */
cudaError_t cudaMemcpyPeerAsync(void *dst, int dstDevice, const void *src, int srcDevice,
                                size_t count, cudaStream_t stream)
{
    ENSURE();
    cudaError_t e = check_device(dstDevice);
    if (e == cudaSuccess)
        e = check_device(srcDevice);
    if (e != cudaSuccess)
        return ret(e);
    return copy(dst, src, count, cudaMemcpyDeviceToDevice, stream);
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, enum cudaMemcpyKind kind,
                              cudaStream_t stream)
{
    ENSURE();
    if (width > dpitch || width > spitch)
        return ret(cudaErrorInvalidPitchValue);
    for (size_t row = 0; row < height; row++) {
        cudaError_t e = copy((char *)dst + row * dpitch, (const char *)src + row * spitch, width,
                             kind, stream);
        if (e != cudaSuccess)
            return e;
    }
    return cudaSuccess;
}

FORWARD(cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream),
        drv.memsetD8Async(dp(devPtr), (unsigned char)value, count, stream))

FORWARD(cudaMemPoolSetAttribute(cudaMemPool_t memPool, int attr, void *value),
        drv.memPoolSetAttribute(memPool, attr, value))

FORWARD(cudaMemPoolGetAttribute(cudaMemPool_t memPool, int attr, void *value),
        drv.memPoolGetAttribute(memPool, attr, value))

FORWARD(cudaMemPoolSetAccess(cudaMemPool_t memPool, const void *descList, size_t count),
        drv.memPoolSetAccess(memPool, descList, count))

FORWARD(cudaHostRegister(void *ptr, size_t size, unsigned int flags),
        drv.memHostRegister(ptr, size, flags))

FORWARD(cudaHostUnregister(void *ptr),
        drv.memHostUnregister(ptr))

cudaError_t cudaIpcGetMemHandle(cudaIpcMemHandle_t *handle, void *devPtr)
{
    ENSURE();
    if (handle == NULL)
        return ret(cudaErrorInvalidValue);
    return ret_drv(drv.ipcGetMemHandle((CUipcMemHandle *)handle, dp(devPtr)));
}

cudaError_t cudaIpcOpenMemHandle(void **devPtr, cudaIpcMemHandle_t handle, unsigned int flags)
{
    ENSURE();
    if (devPtr == NULL)
        return ret(cudaErrorInvalidValue);
    CUipcMemHandle h;
    memcpy(&h, &handle, sizeof h);
    CUdeviceptr d = 0;
    CUresult rc = drv.ipcOpenMemHandle(&d, h, flags);
    *devPtr = (void *)(uintptr_t)d;
    return ret_drv(rc);
}

FORWARD(cudaIpcCloseMemHandle(void *devPtr),
        drv.ipcCloseMemHandle(dp(devPtr)))

/* Events never cross processes here. */
cudaError_t cudaIpcGetEventHandle(cudaIpcEventHandle_t *handle, cudaEvent_t event)
{
    ENSURE();
    (void)handle, (void)event;
    return ret(cudaErrorNotSupported);
}

cudaError_t cudaIpcOpenEventHandle(cudaEvent_t *event, cudaIpcEventHandle_t handle)
{
    ENSURE();
    (void)event, (void)handle;
    return ret(cudaErrorNotSupported);
}

/* Like CUDA 11 and later: memory CUDA does not know is "unregistered", with success. */
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attributes, const void *ptr)
{
    ENSURE();
    if (attributes == NULL)
        return ret(cudaErrorInvalidValue);
    unsigned int type = 0;
    CUresult rc = drv.pointerGetAttribute(&type, 2 /* MEMORY_TYPE */, dp(ptr));
    memset(attributes, 0, sizeof *attributes);
    if (rc != CUDA_SUCCESS) {
        attributes->type = cudaMemoryTypeUnregistered;
        attributes->device = -2;
        return cudaSuccess;
    }
    attributes->device = 0;
    attributes->devicePointer = (void *)ptr;
    if (type == 1 /* CU_MEMORYTYPE_HOST */) {
        attributes->type = cudaMemoryTypeHost;
        attributes->hostPointer = (void *)ptr;
    } else {
        attributes->type = cudaMemoryTypeDevice;
    }
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* Graphs: the driver's, one call each (cudaGraphInstantiate is CUDA 12's, with flags)         */

FORWARD(cudaGraphCreate(cudaGraph_t *pGraph, unsigned int flags),
        drv.graphCreate(pGraph, flags))

FORWARD(cudaGraphDestroy(cudaGraph_t graph),
        drv.graphDestroy(graph))

FORWARD(cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                 unsigned long long flags),
        drv.graphInstantiate(pGraphExec, graph, flags))

FORWARD(cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream),
        drv.graphLaunch(graphExec, stream))

FORWARD(cudaGraphLaunch_ptsz(cudaGraphExec_t graphExec, cudaStream_t stream),
        drv.graphLaunch_ptsz(graphExec, stream))

FORWARD(cudaGraphExecDestroy(cudaGraphExec_t graphExec),
        drv.graphExecDestroy(graphExec))

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

/* Like the real runtime, a symbol the driver lacks (or lacks at that version) is a success with
 * a NULL pointer and the reason in driverStatus, not an error: callers probe optional functions
 * this way, and an error here would linger as the thread's last error. */
static cudaError_t entry_point(const char *symbol, void **funcPtr, int version,
                               unsigned long long flags,
                               cudaDriverEntryPointQueryResult *driverStatus)
{
    if (symbol == NULL || funcPtr == NULL)
        return ret(cudaErrorInvalidValue);
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult rc = drv.getProcAddress(symbol, funcPtr, version, flags, &status);
    if (driverStatus != NULL)
        *driverStatus = status;
    if (rc == CUDA_ERROR_NOT_FOUND) {
        *funcPtr = NULL;
        return cudaSuccess;
    }
    return ret_drv(rc);
}

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr,
                                             unsigned int cudaVersion, unsigned long long flags,
                                             cudaDriverEntryPointQueryResult *driverStatus)
{
    ENSURE();
    return entry_point(symbol, funcPtr, (int)cudaVersion, flags, driverStatus);
}

cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                    cudaDriverEntryPointQueryResult *driverStatus)
{
    ENSURE();
    return entry_point(symbol, funcPtr, CUDART_VERSION, flags, driverStatus);
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
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction",
     "invalid device function"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration",
     "invalid configuration argument"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorPeerAccessUnsupported, "cudaErrorPeerAccessUnsupported",
     "peer access is not supported between these two devices"},
    {cudaErrorPeerAccessNotEnabled, "cudaErrorPeerAccessNotEnabled",
     "peer access has not been enabled"},
    {cudaErrorHostMemoryAlreadyRegistered, "cudaErrorHostMemoryAlreadyRegistered",
     "part or all of the requested memory range is already mapped"},
    {cudaErrorHostMemoryNotRegistered, "cudaErrorHostMemoryNotRegistered",
     "pointer does not correspond to a registered memory region"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorAlreadyMapped, "cudaErrorAlreadyMapped", "resource already mapped"},
    {cudaErrorInvalidPitchValue, "cudaErrorInvalidPitchValue", "invalid pitch argument"},
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

/* Layouts callers compiled against CUDA 12's headers rely on (LP64). */
_Static_assert(sizeof(struct cudaDeviceProp) == 1032, "cudaDeviceProp");
_Static_assert(offsetof(struct cudaDeviceProp, totalGlobalMem) == 288, "cudaDeviceProp");
_Static_assert(offsetof(struct cudaDeviceProp, multiProcessorCount) == 388, "cudaDeviceProp");
_Static_assert(sizeof(struct cudaFuncAttributes) == 144, "cudaFuncAttributes");
_Static_assert(sizeof(struct cudaPointerAttributes) == 24, "cudaPointerAttributes");
_Static_assert(sizeof(cudaLaunchConfig_t) == 56, "cudaLaunchConfig_t");
