/*
 * fake_cuda.c: a test double of the CUDA driver (libcuda.so.1) for machines without a GPU.
 *
 * It is NOT a GPU emulator. It keeps the bookkeeping a memory profiler observes: which device
 * pointers are live, how many bytes are in use against a fixed capacity, which error codes the
 * real driver returns for bad frees, out of memory and calls before cuInit, and how
 * cuGetProcAddress_v2 picks a function variant from a base name, a CUDA version and flags.
 *
 * Device memory is host memory: each allocation is a 256-byte aligned malloc block whose address
 * is the device pointer, so memcpy/memset work and the memory can be inspected.
 *
 * Environment (read once, when the library is loaded):
 *   FAKE_CUDA_CAPACITY  device memory capacity in bytes, with optional K/M/G/T suffix
 *                       (powers of 1024; "64M", "2G", "1.5G" is not accepted). Default 1G.
 *   FAKE_CUDA_LOG=1     print every call to stderr.
 *
 * Interposition: every exported entry point is an alias of a static function fc_<name>. The
 * library's own calls and the pointers cuGetProcAddress* hands out use the static names, which
 * the dynamic linker cannot rebind, so they always reach this library's code even when an
 * LD_PRELOAD exports the same symbols. dladdr() on such a pointer still reports the exported
 * versioned name (e.g. "cuMemAllocAsync_ptsz"), as it does on the real driver.
 */
#define _GNU_SOURCE
#include "fake_cuda.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Export `name` as an alias of the static implementation fc_<name>. */
#define FAKE_EXPORT(name) extern __typeof(name) name __attribute__((alias("fc_" #name)))

#define FAKE_ALIGN 256u
#define PITCH_ALIGN 512u
#define DEFAULT_CAPACITY (1ull << 30)
#define DRIVER_VERSION 12080
#define CTX_MAGIC 0x43545846u    /* "FXTC" */
#define STREAM_MAGIC 0x53545246u /* "FRTS" */
/* Special stream handles of the real API (CU_STREAM_LEGACY, CU_STREAM_PER_THREAD). */
#define CU_STREAM_LEGACY ((CUstream)0x1)
#define CU_STREAM_PER_THREAD ((CUstream)0x2)

/* ------------------------------------------------------------------------------------------ */
/* Configuration and logging                                                                   */

static size_t g_capacity = DEFAULT_CAPACITY;
static int g_log;
static atomic_int g_initialized;
static atomic_ullong g_launches;

#define LOG(...)                                                                                \
    do {                                                                                        \
        if (g_log) {                                                                            \
            fprintf(stderr, "fake-cuda: " __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                                \
        }                                                                                       \
    } while (0)

/* Parses "1073741824", "64M", "2G", "512K", "1T" (also "64MB", "64MiB"). Returns 0 on error. */
static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift != 0 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != '\0' || (shift != 0 && v > (~0ull >> shift)))
        return 0;
    *out = (size_t)(v << shift);
    return 1;
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* A forked child must not inherit the table lock held by another thread. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void atfork_release(void) { pthread_mutex_unlock(&g_lock); }

__attribute__((constructor)) static void fake_cuda_load(void)
{
    const char *log = getenv("FAKE_CUDA_LOG");
    g_log = log != NULL && *log != '\0' && strcmp(log, "0") != 0;
    const char *cap = getenv("FAKE_CUDA_CAPACITY");
    if (cap != NULL && *cap != '\0') {
        size_t v;
        if (parse_size(cap, &v) && v > 0)
            g_capacity = v;
        else
            fprintf(stderr, "fake-cuda: FAKE_CUDA_CAPACITY=%s is not a size; using 1G\n", cap);
    }
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
    LOG("loaded, capacity %zu bytes", g_capacity);
}

/* ------------------------------------------------------------------------------------------ */
/* Live allocations: open addressing, linear probing, backward-shift deletion, under g_lock.  */

enum kind { KIND_DEVICE = 1, KIND_MANAGED = 2, KIND_HOST = 3 };

struct entry {
    uintptr_t key; /* 0 = empty slot */
    size_t charged;
    int kind;
};

static struct entry *g_table;
static size_t g_slots; /* power of two */
static size_t g_count;
static size_t g_used; /* device bytes charged against g_capacity */

static size_t slot_of(uintptr_t key)
{
    /* Fibonacci hashing; the low 8 bits of the key are always zero (256-byte alignment). */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (g_slots - 1);
}

static int table_insert_raw(uintptr_t key, size_t charged, int kind)
{
    size_t i = slot_of(key);
    while (g_table[i].key != 0)
        i = (i + 1) & (g_slots - 1);
    g_table[i].key = key;
    g_table[i].charged = charged;
    g_table[i].kind = kind;
    g_count++;
    return 1;
}

/* Grows to keep the load factor under 1/2. Returns 0 if out of host memory. */
static int table_reserve(void)
{
    if (g_table != NULL && (g_count + 1) * 2 <= g_slots)
        return 1;
    size_t old_slots = g_slots;
    struct entry *old = g_table;
    size_t slots = old_slots ? old_slots * 2 : 1024;
    struct entry *t = calloc(slots, sizeof *t);
    if (t == NULL)
        return 0;
    g_table = t;
    g_slots = slots;
    g_count = 0;
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].key != 0)
            table_insert_raw(old[i].key, old[i].charged, old[i].kind);
    free(old);
    return 1;
}

static struct entry *table_find(uintptr_t key)
{
    if (g_table == NULL)
        return NULL;
    for (size_t i = slot_of(key);; i = (i + 1) & (g_slots - 1)) {
        if (g_table[i].key == key)
            return &g_table[i];
        if (g_table[i].key == 0)
            return NULL;
    }
}

static void table_remove(struct entry *e)
{
    size_t i = (size_t)(e - g_table);
    size_t j = i;
    /* Backward-shift: move later members of the probe run into the hole. */
    for (;;) {
        j = (j + 1) & (g_slots - 1);
        if (g_table[j].key == 0)
            break;
        size_t home = slot_of(g_table[j].key);
        /* Move j into i unless its home lies cyclically in (i, j]. */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            g_table[i] = g_table[j];
            i = j;
        }
    }
    g_table[i].key = 0;
    g_count--;
}

/* ------------------------------------------------------------------------------------------ */
/* Contexts and streams                                                                        */

struct CUctx_st {
    unsigned magic;
    CUdevice device;
    int primary;
    int alive;
};

struct CUstream_st {
    unsigned magic;
    int alive;
};

static struct CUctx_st g_primary = {CTX_MAGIC, 0, 1, 1};
static atomic_int g_primary_refs;
static __thread CUcontext t_current;

static int ctx_valid(CUcontext c)
{
    return c != NULL && c->magic == CTX_MAGIC && c->alive;
}

static int stream_valid(CUstream s)
{
    return s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD ||
           (s->magic == STREAM_MAGIC && s->alive);
}

static int initialized(void) { return atomic_load_explicit(&g_initialized, memory_order_acquire); }

/* The checks every call after cuInit makes, in the real driver's order. */
#define REQUIRE_INIT()                                                                          \
    do {                                                                                        \
        if (!initialized())                                                                     \
            return CUDA_ERROR_NOT_INITIALIZED;                                                  \
    } while (0)
#define REQUIRE_CTX()                                                                           \
    do {                                                                                        \
        REQUIRE_INIT();                                                                         \
        if (!ctx_valid(t_current))                                                              \
            return CUDA_ERROR_INVALID_CONTEXT;                                                  \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Allocation core                                                                             */

static CUresult do_alloc(void **out, size_t bytes, int kind, const char *api)
{
    if (out == NULL || bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (bytes > SIZE_MAX - FAKE_ALIGN) {
        *out = NULL;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    size_t charged = (bytes + FAKE_ALIGN - 1) & ~(size_t)(FAKE_ALIGN - 1);
    int device = kind != KIND_HOST;
    /* Cheap early rejection; the authoritative check is under the lock below. */
    if (device && charged > g_capacity) {
        *out = NULL;
        LOG("%s(%zu) = 2 (capacity %zu)", api, bytes, g_capacity);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    void *p = aligned_alloc(FAKE_ALIGN, charged);
    if (p == NULL) {
        *out = NULL;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_lock(&g_lock);
    if ((device && charged > g_capacity - g_used) || !table_reserve()) {
        size_t used = g_used;
        pthread_mutex_unlock(&g_lock);
        free(p);
        *out = NULL;
        LOG("%s(%zu) = 2 (used %zu of %zu)", api, bytes, used, g_capacity);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    table_insert_raw((uintptr_t)p, charged, kind);
    if (device)
        g_used += charged;
    pthread_mutex_unlock(&g_lock);
    *out = p;
    LOG("%s(%zu) = 0 -> %p", api, bytes, p);
    return CUDA_SUCCESS;
}

/* Frees `p` if it is the start of a live allocation of the right family (device or host). */
static CUresult do_free(void *p, int host, const char *api)
{
    pthread_mutex_lock(&g_lock);
    struct entry *e = table_find((uintptr_t)p);
    if (e == NULL || (e->kind == KIND_HOST) != host) {
        pthread_mutex_unlock(&g_lock);
        LOG("%s(%p) = 1 (not a live %s allocation)", api, p, host ? "host" : "device");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (!host)
        g_used -= e->charged;
    table_remove(e);
    pthread_mutex_unlock(&g_lock);
    LOG("%s(%p) = 0", api, p);
    free(p);
    return CUDA_SUCCESS;
}

static CUresult device_alloc(CUdeviceptr *dptr, size_t bytes, int kind, const char *api)
{
    void *p = NULL;
    if (dptr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = do_alloc(&p, bytes, kind, api);
    if (rc == CUDA_SUCCESS || rc == CUDA_ERROR_OUT_OF_MEMORY)
        *dptr = (CUdeviceptr)(uintptr_t)p;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Initialisation, version, devices                                                            */

static CUresult fc_cuInit(unsigned int flags)
{
    LOG("cuInit(%u)", flags);
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_store_explicit(&g_initialized, 1, memory_order_release);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuInit);

static CUresult fc_cuDriverGetVersion(int *version)
{
    if (version == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *version = DRIVER_VERSION;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDriverGetVersion);

static CUresult fc_cuDeviceGet(CUdevice *device, int ordinal)
{
    REQUIRE_INIT();
    if (device == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGet);

static CUresult fc_cuDeviceGetCount(int *count)
{
    REQUIRE_INIT();
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *count = 1;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetCount);

static CUresult fc_cuDeviceGetName(char *name, int len, CUdevice dev)
{
    REQUIRE_INIT();
    if (name == NULL || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, (size_t)len, "%s", "gpuleak fake GPU");
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetName);

static CUresult fc_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    REQUIRE_INIT();
    if (bytes == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    *bytes = g_capacity;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceTotalMem_v2);

static CUresult fc_cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    REQUIRE_INIT();
    if (pi == NULL || attrib <= 0 || attrib >= FAKE_CU_DEVICE_ATTRIBUTE_END)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    int v = 0; /* attributes not listed: 0 (feature absent) */
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: v = 49152; break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MAX_PITCH: v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: v = 1695000; break;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT: v = 512; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: v = 84; break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: v = 9751000; break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: v = 384; break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: v = 6291456; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: v = 1536; break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: v = 2; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: v = 8; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: v = 6; break;
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: v = 1; break;
    default: break;
    }
    *pi = v;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetAttribute);

/* ------------------------------------------------------------------------------------------ */
/* Contexts                                                                                    */

static CUresult fc_cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    REQUIRE_INIT();
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    atomic_fetch_add(&g_primary_refs, 1);
    *pctx = &g_primary;
    LOG("cuDevicePrimaryCtxRetain(%d) = 0 -> %p", dev, (void *)&g_primary);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDevicePrimaryCtxRetain);

/* The primary context stays usable when its count drops to zero (the real driver would reset
 * it and free its memory); tests that need that behaviour do not exist yet. */
static CUresult fc_cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    REQUIRE_INIT();
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    int prev = atomic_load(&g_primary_refs);
    do {
        if (prev <= 0)
            return CUDA_ERROR_INVALID_CONTEXT;
    } while (!atomic_compare_exchange_weak(&g_primary_refs, &prev, prev - 1));
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDevicePrimaryCtxRelease_v2);

static CUresult fc_cuDevicePrimaryCtxRelease(CUdevice dev)
{
    return fc_cuDevicePrimaryCtxRelease_v2(dev);
}
FAKE_EXPORT(cuDevicePrimaryCtxRelease);

static CUresult fc_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    (void)flags;
    REQUIRE_INIT();
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    CUcontext c = malloc(sizeof *c);
    if (c == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    c->magic = CTX_MAGIC;
    c->device = dev;
    c->primary = 0;
    c->alive = 1;
    t_current = c; /* like the real one: the new context becomes current */
    *pctx = c;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxCreate_v2);

/* Destroyed contexts are kept (marked dead) so a stale handle is detected, not dereferenced
 * after free. Memory allocated in them is not released: the fake has one memory space. */
static CUresult fc_cuCtxDestroy_v2(CUcontext ctx)
{
    REQUIRE_INIT();
    if (!ctx_valid(ctx) || ctx->primary)
        return CUDA_ERROR_INVALID_CONTEXT;
    ctx->alive = 0;
    if (t_current == ctx)
        t_current = NULL;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxDestroy_v2);

static CUresult fc_cuCtxSetCurrent(CUcontext ctx)
{
    REQUIRE_INIT();
    if (ctx != NULL && !ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    t_current = ctx;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxSetCurrent);

static CUresult fc_cuCtxGetCurrent(CUcontext *pctx)
{
    REQUIRE_INIT();
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = ctx_valid(t_current) ? t_current : NULL;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxGetCurrent);

static CUresult fc_cuCtxGetDevice(CUdevice *device)
{
    REQUIRE_CTX();
    if (device == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *device = t_current->device;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxGetDevice);

static CUresult fc_cuCtxSynchronize(void)
{
    REQUIRE_CTX();
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxSynchronize);

/* ------------------------------------------------------------------------------------------ */
/* Streams (work is synchronous, so a stream is only a validated handle)                      */

static CUresult fc_cuStreamCreate(CUstream *phStream, unsigned int flags)
{
    REQUIRE_CTX();
    if (phStream == NULL || flags > 1)
        return CUDA_ERROR_INVALID_VALUE;
    CUstream s = malloc(sizeof *s);
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->magic = STREAM_MAGIC;
    s->alive = 1;
    *phStream = s;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamCreate);

/* Like contexts, destroyed streams are kept, marked dead. */
static CUresult fc_cuStreamDestroy_v2(CUstream hStream)
{
    REQUIRE_CTX();
    if (hStream == NULL || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD ||
        !stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    hStream->alive = 0;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamDestroy_v2);

static CUresult fc_cuStreamDestroy(CUstream hStream) { return fc_cuStreamDestroy_v2(hStream); }
FAKE_EXPORT(cuStreamDestroy);

static CUresult fc_cuStreamSynchronize(CUstream hStream)
{
    REQUIRE_CTX();
    return stream_valid(hStream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
FAKE_EXPORT(cuStreamSynchronize);

/* ------------------------------------------------------------------------------------------ */
/* Memory                                                                                      */

static CUresult fc_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    REQUIRE_CTX();
    return device_alloc(dptr, bytesize, KIND_DEVICE, "cuMemAlloc_v2");
}
FAKE_EXPORT(cuMemAlloc_v2);

static CUresult fc_cuMemFree_v2(CUdeviceptr dptr)
{
    if (dptr == 0)
        return CUDA_SUCCESS;
    REQUIRE_CTX();
    return do_free((void *)(uintptr_t)dptr, 0, "cuMemFree_v2");
}
FAKE_EXPORT(cuMemFree_v2);

static CUresult fc_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t widthInBytes,
                                      size_t height, unsigned int elementSizeBytes)
{
    REQUIRE_CTX();
    if (dptr == NULL || pPitch == NULL || widthInBytes == 0 || height == 0 ||
        (elementSizeBytes != 4 && elementSizeBytes != 8 && elementSizeBytes != 16) ||
        widthInBytes > SIZE_MAX - PITCH_ALIGN)
        return CUDA_ERROR_INVALID_VALUE;
    size_t pitch = (widthInBytes + PITCH_ALIGN - 1) & ~(size_t)(PITCH_ALIGN - 1);
    if (height > SIZE_MAX / pitch)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = device_alloc(dptr, pitch * height, KIND_DEVICE, "cuMemAllocPitch_v2");
    if (rc == CUDA_SUCCESS)
        *pPitch = pitch;
    return rc;
}
FAKE_EXPORT(cuMemAllocPitch_v2);

static CUresult fc_cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    REQUIRE_CTX();
    if (free_bytes == NULL || total == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    *free_bytes = g_capacity - g_used;
    pthread_mutex_unlock(&g_lock);
    *total = g_capacity;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemGetInfo_v2);

/* Stream-ordered allocation happens at once; the free returns memory to the device at once
 * (the real driver returns it to the stream's pool; see README). */
static CUresult fc_cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return device_alloc(dptr, bytesize, KIND_DEVICE, "cuMemAllocAsync");
}
FAKE_EXPORT(cuMemAllocAsync);

static CUresult fc_cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return device_alloc(dptr, bytesize, KIND_DEVICE, "cuMemAllocAsync_ptsz");
}
FAKE_EXPORT(cuMemAllocAsync_ptsz);

static CUresult free_async(CUdeviceptr dptr, CUstream hStream, const char *api)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    if (dptr == 0)
        return CUDA_ERROR_INVALID_VALUE;
    return do_free((void *)(uintptr_t)dptr, 0, api);
}

static CUresult fc_cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    return free_async(dptr, hStream, "cuMemFreeAsync");
}
FAKE_EXPORT(cuMemFreeAsync);

static CUresult fc_cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    return free_async(dptr, hStream, "cuMemFreeAsync_ptsz");
}
FAKE_EXPORT(cuMemFreeAsync_ptsz);

static CUresult fc_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    REQUIRE_CTX();
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    return device_alloc(dptr, bytesize, KIND_MANAGED, "cuMemAllocManaged");
}
FAKE_EXPORT(cuMemAllocManaged);

/* Pinned host memory: tracked (so frees are checked) but not charged to the device. */
static CUresult fc_cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    REQUIRE_CTX();
    return do_alloc(pp, bytesize, KIND_HOST, "cuMemAllocHost_v2");
}
FAKE_EXPORT(cuMemAllocHost_v2);

static CUresult fc_cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags)
{
    REQUIRE_CTX();
    if (flags > 0xf) /* PORTABLE | DEVICEMAP | WRITECOMBINED (| the internal 0x8) */
        return CUDA_ERROR_INVALID_VALUE;
    return do_alloc(pp, bytesize, KIND_HOST, "cuMemHostAlloc");
}
FAKE_EXPORT(cuMemHostAlloc);

static CUresult fc_cuMemFreeHost(void *p)
{
    REQUIRE_CTX();
    return do_free(p, 1, "cuMemFreeHost");
}
FAKE_EXPORT(cuMemFreeHost);

/* Copies are synchronous memcpy; addresses are not checked against live allocations. */
static CUresult fc_cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    REQUIRE_CTX();
    if (n != 0 && (dst == 0 || src == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    memmove((void *)(uintptr_t)dst, src, n);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemcpyHtoD_v2);

static CUresult fc_cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    REQUIRE_CTX();
    if (n != 0 && (dst == NULL || src == 0))
        return CUDA_ERROR_INVALID_VALUE;
    memmove(dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemcpyDtoH_v2);

static CUresult fc_cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    REQUIRE_CTX();
    if (n != 0 && (dst == 0 || src == 0))
        return CUDA_ERROR_INVALID_VALUE;
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemcpyDtoD_v2);

static CUresult fc_cuMemsetD8_v2(CUdeviceptr dst, unsigned char uc, size_t n)
{
    REQUIRE_CTX();
    if (n != 0 && dst == 0)
        return CUDA_ERROR_INVALID_VALUE;
    memset((void *)(uintptr_t)dst, uc, n);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemsetD8_v2);

/* ------------------------------------------------------------------------------------------ */
/* Kernels: nothing runs; launches are counted.                                               */

static CUresult fc_cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                  unsigned int gridDimZ, unsigned int blockDimX,
                                  unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream,
                                  void **kernelParams, void **extra)
{
    (void)sharedMemBytes;
    (void)kernelParams;
    (void)extra;
    REQUIRE_CTX();
    if (f == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    if (gridDimX == 0 || gridDimY == 0 || gridDimZ == 0 || blockDimX == 0 || blockDimY == 0 ||
        blockDimZ == 0 || (unsigned long long)blockDimX * blockDimY * blockDimZ > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_add_explicit(&g_launches, 1, memory_order_relaxed);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuLaunchKernel);

unsigned long long fakeCudaLaunchCount(void) { return atomic_load(&g_launches); }

size_t fakeCudaBytesInUse(void)
{
    pthread_mutex_lock(&g_lock);
    size_t used = g_used;
    pthread_mutex_unlock(&g_lock);
    return used;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

static const struct {
    CUresult code;
    const char *name;
    const char *text;
} k_errors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_DEINITIALIZED, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

static CUresult error_lookup(CUresult error, const char **pStr, int name)
{
    if (pStr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof k_errors / sizeof k_errors[0]; i++) {
        if (k_errors[i].code == error) {
            *pStr = name ? k_errors[i].name : k_errors[i].text;
            return CUDA_SUCCESS;
        }
    }
    *pStr = NULL;
    return CUDA_ERROR_INVALID_VALUE;
}

static CUresult fc_cuGetErrorString(CUresult error, const char **pStr)
{
    return error_lookup(error, pStr, 0);
}
FAKE_EXPORT(cuGetErrorString);

static CUresult fc_cuGetErrorName(CUresult error, const char **pStr)
{
    return error_lookup(error, pStr, 1);
}
FAKE_EXPORT(cuGetErrorName);

/* ------------------------------------------------------------------------------------------ */
/* cuGetProcAddress: base name + version + flags -> the variant the real driver would pick.   */

static CUresult fc_cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                    cuuint64_t flags);
static CUresult fc_cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                       cuuint64_t flags,
                                       CUdriverProcAddressQueryResult *symbolStatus);

enum stream_mode { ANY, PER_THREAD_ONLY, NOT_PER_THREAD };

/* For one base name, entries are ordered newest first: the first whose min_version is
 * satisfied (and whose stream mode matches the flags) wins. */
static const struct proc {
    const char *base;
    int min_version;
    int mode;
    void *fn;
} k_procs[] = {
#define P(base, ver, fn) {base, ver, ANY, (void *)fn}
    P("cuInit", 2000, fc_cuInit),
    P("cuDriverGetVersion", 2020, fc_cuDriverGetVersion),
    P("cuDeviceGet", 2000, fc_cuDeviceGet),
    P("cuDeviceGetCount", 2000, fc_cuDeviceGetCount),
    P("cuDeviceGetName", 2000, fc_cuDeviceGetName),
    P("cuDeviceTotalMem", 3020, fc_cuDeviceTotalMem_v2),
    P("cuDeviceGetAttribute", 2000, fc_cuDeviceGetAttribute),
    P("cuDevicePrimaryCtxRetain", 7000, fc_cuDevicePrimaryCtxRetain),
    P("cuDevicePrimaryCtxRelease", 11000, fc_cuDevicePrimaryCtxRelease_v2),
    P("cuDevicePrimaryCtxRelease", 7000, fc_cuDevicePrimaryCtxRelease),
    P("cuCtxCreate", 3020, fc_cuCtxCreate_v2),
    P("cuCtxDestroy", 4000, fc_cuCtxDestroy_v2),
    P("cuCtxSetCurrent", 4000, fc_cuCtxSetCurrent),
    P("cuCtxGetCurrent", 4000, fc_cuCtxGetCurrent),
    P("cuCtxGetDevice", 2000, fc_cuCtxGetDevice),
    P("cuCtxSynchronize", 2000, fc_cuCtxSynchronize),
    P("cuStreamCreate", 2000, fc_cuStreamCreate),
    P("cuStreamDestroy", 4000, fc_cuStreamDestroy_v2),
    P("cuStreamDestroy", 2000, fc_cuStreamDestroy),
    P("cuStreamSynchronize", 2000, fc_cuStreamSynchronize),
    P("cuMemAlloc", 3020, fc_cuMemAlloc_v2),
    P("cuMemFree", 3020, fc_cuMemFree_v2),
    P("cuMemAllocPitch", 3020, fc_cuMemAllocPitch_v2),
    P("cuMemGetInfo", 3020, fc_cuMemGetInfo_v2),
    {"cuMemAllocAsync", 11020, PER_THREAD_ONLY, (void *)fc_cuMemAllocAsync_ptsz},
    {"cuMemAllocAsync", 11020, NOT_PER_THREAD, (void *)fc_cuMemAllocAsync},
    {"cuMemFreeAsync", 11020, PER_THREAD_ONLY, (void *)fc_cuMemFreeAsync_ptsz},
    {"cuMemFreeAsync", 11020, NOT_PER_THREAD, (void *)fc_cuMemFreeAsync},
    P("cuMemAllocManaged", 6000, fc_cuMemAllocManaged),
    P("cuMemAllocHost", 3020, fc_cuMemAllocHost_v2),
    P("cuMemHostAlloc", 2020, fc_cuMemHostAlloc),
    P("cuMemFreeHost", 2000, fc_cuMemFreeHost),
    P("cuMemcpyHtoD", 3020, fc_cuMemcpyHtoD_v2),
    P("cuMemcpyDtoH", 3020, fc_cuMemcpyDtoH_v2),
    P("cuMemcpyDtoD", 3020, fc_cuMemcpyDtoD_v2),
    P("cuMemsetD8", 3020, fc_cuMemsetD8_v2),
    P("cuLaunchKernel", 4000, fc_cuLaunchKernel),
    P("cuGetErrorString", 6000, fc_cuGetErrorString),
    P("cuGetErrorName", 6000, fc_cuGetErrorName),
    P("cuGetProcAddress", 12000, fc_cuGetProcAddress_v2),
    P("cuGetProcAddress", 11030, fc_cuGetProcAddress),
#undef P
};

static CUresult lookup_proc(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                            CUdriverProcAddressQueryResult *status)
{
    CUresult rc = CUDA_ERROR_NOT_FOUND;
    int st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    void *fn = NULL;
    if (symbol == NULL || pfn == NULL || flags > CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) {
        rc = CUDA_ERROR_INVALID_VALUE;
        goto out;
    }
    int per_thread = flags == CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    for (size_t i = 0; i < sizeof k_procs / sizeof k_procs[0]; i++) {
        const struct proc *p = &k_procs[i];
        if (strcmp(p->base, symbol) != 0)
            continue;
        if ((p->mode == PER_THREAD_ONLY && !per_thread) ||
            (p->mode == NOT_PER_THREAD && per_thread))
            continue;
        if (cudaVersion < p->min_version) {
            st = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
            continue;
        }
        fn = p->fn;
        rc = CUDA_SUCCESS;
        st = CU_GET_PROC_ADDRESS_SUCCESS;
        break;
    }
    *pfn = fn;
out:
    if (status != NULL)
        *status = st;
    LOG("cuGetProcAddress(\"%s\", %d, %llu) = %d -> %p", symbol ? symbol : "(null)",
        cudaVersion, (unsigned long long)flags, rc, fn);
    return rc;
}

static CUresult fc_cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                    cuuint64_t flags)
{
    return lookup_proc(symbol, pfn, cudaVersion, flags, NULL);
}
FAKE_EXPORT(cuGetProcAddress);

static CUresult fc_cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                       cuuint64_t flags,
                                       CUdriverProcAddressQueryResult *symbolStatus)
{
    return lookup_proc(symbol, pfn, cudaVersion, flags, symbolStatus);
}
FAKE_EXPORT(cuGetProcAddress_v2);
