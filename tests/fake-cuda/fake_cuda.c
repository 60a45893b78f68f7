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
 *   FAKE_CUDA_DEVICES   how many devices there are, 1 to 8. Default 1.
 *   FAKE_CUDA_CAPACITY  device memory capacity in bytes, with optional K/M/G/T suffix
 *                       (powers of 1024; "64M", "2G", "1.5G" is not accepted). Default 1G.
 *                       A comma-separated list gives each device its own ("1G,256M"); the
 *                       last one given holds for the devices after it.
 *
 * Each device has its own capacity and memory in use: allocations are charged to the device of
 * the calling thread's current context and given back to it when freed. Pools, physical (VMM)
 * memory, arrays and graph memory are charged to the current device too, and given back to the
 * device current at their release (the tests that use them run on device 0).
 *   FAKE_CUDA_LOG=1     print every call to stderr.
 *   FAKE_CUDA_OTHER_BYTES  device memory another process holds on device 0 (same syntax as the
 *                       capacity; default 0): charged before anything else, so cuMemGetInfo's
 *                       free drops by it and allocations fail when it leaves no room. The fake
 *                       NVML lists that process (FAKE_CUDA_OTHER_PID).
 *
 * Interposition: every exported entry point is an alias of a static function fc_<name>. The
 * library's own calls and the pointers cuGetProcAddress* hands out use the static names, which
 * the dynamic linker cannot rebind, so they always reach this library's code even when an
 * LD_PRELOAD exports the same symbols. dladdr() on such a pointer still reports the exported
 * versioned name (e.g. "cuMemAllocAsync_ptsz"), as it does on the real driver.
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "fake_size.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Export `name` as an alias of the static implementation fc_<name>. */
#define FAKE_EXPORT(name) extern __typeof(name) name __attribute__((alias("fc_" #name)))

#define FAKE_ALIGN 256u
#define PITCH_ALIGN 512u
#define DEFAULT_CAPACITY (1ull << 30)
#define DRIVER_VERSION 12080
#define CTX_MAGIC 0x43545846u    /* "FXTC" */
#define STREAM_MAGIC 0x53545246u /* "FRTS" */
#define POOL_MAGIC 0x4c4f4f50u   /* "POOL" */
/* The VMM allocation granularity the fake reports (minimum and recommended). */
#define VMM_GRANULARITY (2u << 20)
/* Special stream handles of the real API (CU_STREAM_LEGACY, CU_STREAM_PER_THREAD). */
#define CU_STREAM_LEGACY ((CUstream)0x1)
#define CU_STREAM_PER_THREAD ((CUstream)0x2)

/* ------------------------------------------------------------------------------------------ */
/* Configuration and logging                                                                   */

#define MAX_DEVICES 8
static int g_ndevices = 1;
static size_t g_capacities[MAX_DEVICES] = {DEFAULT_CAPACITY, DEFAULT_CAPACITY, DEFAULT_CAPACITY,
                                           DEFAULT_CAPACITY, DEFAULT_CAPACITY, DEFAULT_CAPACITY,
                                           DEFAULT_CAPACITY, DEFAULT_CAPACITY};
static size_t g_used_of[MAX_DEVICES]; /* device bytes charged against each capacity */
/* FAKE_CUDA_OTHER_BYTES: device 0's bytes held by another process, included in g_used_of[0]. */
static size_t g_other_bytes;
static int cur_dev(void);
/* The current device's figures: every charge and check below is against them. */
#define g_capacity (g_capacities[cur_dev()])
#define g_used (g_used_of[cur_dev()])
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


static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* A forked child must not inherit the table lock held by another thread. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void atfork_release(void) { pthread_mutex_unlock(&g_lock); }

__attribute__((constructor)) static void fake_cuda_load(void)
{
    const char *log = getenv("FAKE_CUDA_LOG");
    g_log = log != NULL && *log != '\0' && strcmp(log, "0") != 0;
    const char *n = getenv("FAKE_CUDA_DEVICES");
    if (n != NULL && *n != '\0') {
        int v = atoi(n);
        if (v >= 1 && v <= MAX_DEVICES)
            g_ndevices = v;
        else
            fprintf(stderr, "fake-cuda: FAKE_CUDA_DEVICES=%s is not 1 to %d; using 1\n", n,
                    MAX_DEVICES);
    }
    const char *cap = getenv("FAKE_CUDA_CAPACITY");
    if (cap != NULL && *cap != '\0') {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cap);
        int d = 0;
        size_t last = DEFAULT_CAPACITY;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL && d < MAX_DEVICES;
             tok = strtok_r(NULL, ",", &save)) {
            size_t v;
            if (fake_parse_size(tok, &v) && v > 0)
                last = v;
            else
                fprintf(stderr, "fake-cuda: FAKE_CUDA_CAPACITY=%s: %s is not a size; using 1G\n",
                        cap, tok);
            g_capacities[d++] = last;
        }
        for (; d < MAX_DEVICES; d++)
            g_capacities[d] = last;
    }
    const char *other = getenv("FAKE_CUDA_OTHER_BYTES");
    if (other != NULL && *other != '\0') {
        size_t v;
        if (fake_parse_size(other, &v))
            g_other_bytes = v < g_capacities[0] ? v : g_capacities[0];
        else
            fprintf(stderr, "fake-cuda: FAKE_CUDA_OTHER_BYTES=%s is not a size; using 0\n", other);
    }
    g_used_of[0] = g_other_bytes;
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
    LOG("loaded, %d device(s), capacity of device 0 %zu bytes", g_ndevices, g_capacities[0]);
}

/* ------------------------------------------------------------------------------------------ */
/* Live allocations: open addressing, linear probing, backward-shift deletion, under g_lock.  */

enum kind { KIND_DEVICE = 1, KIND_MANAGED = 2, KIND_HOST = 3 };

struct CUmemPoolHandle_st;

struct entry {
    uintptr_t key; /* 0 = empty slot */
    size_t size;   /* requested bytes (cuMemGetAddressRange_v2 reports them) */
    size_t charged;
    int dev; /* the device charged */
    int kind;
    struct CUmemPoolHandle_st *pool; /* stream-ordered allocations: the pool, else NULL */
};

static struct entry *g_table;
static size_t g_slots; /* power of two */
static size_t g_count;
/* g_used: the current device's bytes charged against its capacity (see cur_dev). */

static size_t slot_of(uintptr_t key)
{
    /* Fibonacci hashing; the low 8 bits of the key are always zero (256-byte alignment). */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (g_slots - 1);
}

static int table_insert_raw(struct entry e)
{
    size_t i = slot_of(e.key);
    while (g_table[i].key != 0)
        i = (i + 1) & (g_slots - 1);
    g_table[i] = e;
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
            table_insert_raw(old[i]);
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
    int priority;
};

static struct CUctx_st g_primaries[MAX_DEVICES] = {
    {CTX_MAGIC, 0, 1, 1}, {CTX_MAGIC, 1, 1, 1}, {CTX_MAGIC, 2, 1, 1}, {CTX_MAGIC, 3, 1, 1},
    {CTX_MAGIC, 4, 1, 1}, {CTX_MAGIC, 5, 1, 1}, {CTX_MAGIC, 6, 1, 1}, {CTX_MAGIC, 7, 1, 1},
};
static atomic_int g_primary_refs[MAX_DEVICES];
static __thread CUcontext t_current;

static int device_valid(CUdevice dev) { return dev >= 0 && dev < g_ndevices; }

static int ctx_valid(CUcontext c)
{
    return c != NULL && c->magic == CTX_MAGIC && c->alive;
}

/* The device of the calling thread's current context; device 0 without one. */
static int cur_dev(void)
{
    return ctx_valid(t_current) ? t_current->device : 0;
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
/* Memory pools (the stream-ordered allocator), under g_lock                                   */
/*                                                                                             */
/* A pool holds `reserved` device bytes, charged against the capacity, of which `used` are     */
/* handed out. An allocation takes idle reserved bytes first and grows the reservation by the  */
/* rest; a free returns the bytes to the pool (reserved unchanged). cuMemPoolTrimTo releases   */
/* idle bytes down to minBytesToKeep; at every synchronisation (cuStreamSynchronize,           */
/* cuCtxSynchronize) a pool releases idle bytes above its release threshold, as the real driver */
/* does. Accounting is in 256-byte units, not in the real driver's 2 MiB chunks.              */

struct CUmemPoolHandle_st {
    unsigned magic;
    int alive;
    int is_default;
    size_t reserved;
    size_t used;
    size_t reserved_high;
    size_t used_high;
    size_t max_size; /* 0: no limit */
    cuuint64_t threshold;
    int reuse[3]; /* CU_MEMPOOL_ATTR_REUSE_*: kept, not used */
    struct CUmemPoolHandle_st *next;
};

static struct CUmemPoolHandle_st g_default_pool = {
    .magic = POOL_MAGIC, .alive = 1, .is_default = 1, .reuse = {1, 1, 1}};
/* Every pool ever created (destroyed ones stay, marked dead), and the device's current pool. */
static struct CUmemPoolHandle_st *g_pools = &g_default_pool;
static struct CUmemPoolHandle_st *g_current_pool = &g_default_pool;

static int pool_valid_locked(struct CUmemPoolHandle_st *pool)
{
    for (struct CUmemPoolHandle_st *p = g_pools; p != NULL; p = p->next)
        if (p == pool)
            return p->alive;
    return 0;
}

/* Takes `charged` bytes from the pool, growing its reservation; 0 if out of memory. */
static int pool_take_locked(struct CUmemPoolHandle_st *pool, size_t charged)
{
    size_t idle = pool->reserved - pool->used;
    if (idle < charged) {
        size_t need = charged - idle;
        if (need > g_capacity - g_used)
            return 0;
        if (pool->max_size != 0 && pool->reserved + need > pool->max_size)
            return 0;
        g_used += need;
        pool->reserved += need;
        if (pool->reserved > pool->reserved_high)
            pool->reserved_high = pool->reserved;
    }
    pool->used += charged;
    if (pool->used > pool->used_high)
        pool->used_high = pool->used;
    return 1;
}

/* Releases idle bytes until the reservation is at most `keep`. */
static void pool_trim_locked(struct CUmemPoolHandle_st *pool, size_t keep)
{
    if (pool->reserved <= keep)
        return;
    size_t release = pool->reserved - keep;
    size_t idle = pool->reserved - pool->used;
    if (release > idle)
        release = idle;
    pool->reserved -= release;
    g_used -= release;
}

static void pool_give_back_locked(struct CUmemPoolHandle_st *pool, size_t charged)
{
    pool->used -= charged;
    if (!pool->alive) /* destroyed with allocations outstanding: released as they come back */
        pool_trim_locked(pool, 0);
}

/* A synchronisation point: every pool releases what it holds above its release threshold. */
static void pools_synchronize(void)
{
    pthread_mutex_lock(&g_lock);
    for (struct CUmemPoolHandle_st *p = g_pools; p != NULL; p = p->next)
        if ((cuuint64_t)p->reserved > p->threshold)
            pool_trim_locked(p, (size_t)p->threshold);
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Allocation core                                                                             */

/* Allocates `bytes`; device kinds are charged against the capacity, or taken from `pool`. */
static CUresult do_alloc(void **out, size_t bytes, int kind, struct CUmemPoolHandle_st *pool,
                         const char *api)
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
    int ok = table_reserve();
    if (ok && pool != NULL)
        ok = pool_take_locked(pool, charged);
    else if (ok && device)
        ok = charged <= g_capacity - g_used;
    if (!ok) {
        size_t used = g_used;
        pthread_mutex_unlock(&g_lock);
        free(p);
        *out = NULL;
        LOG("%s(%zu) = 2 (used %zu of %zu)", api, bytes, used, g_capacity);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    table_insert_raw((struct entry){(uintptr_t)p, bytes, charged, cur_dev(), kind, pool});
    if (device && pool == NULL)
        g_used += charged;
    pthread_mutex_unlock(&g_lock);
    *out = p;
    LOG("%s(%zu) = 0 -> %p", api, bytes, p);
    return CUDA_SUCCESS;
}

/* Frees `p` if it is the start of a live allocation of the right family (device or host).
 * Memory from a pool goes back to its pool. */
static CUresult do_free(void *p, int host, const char *api)
{
    pthread_mutex_lock(&g_lock);
    struct entry *e = table_find((uintptr_t)p);
    if (e == NULL || (e->kind == KIND_HOST) != host) {
        pthread_mutex_unlock(&g_lock);
        LOG("%s(%p) = 1 (not a live %s allocation)", api, p, host ? "host" : "device");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (e->pool != NULL)
        pool_give_back_locked(e->pool, e->charged);
    else if (!host)
        g_used_of[e->dev] -= e->charged;
    table_remove(e);
    pthread_mutex_unlock(&g_lock);
    LOG("%s(%p) = 0", api, p);
    free(p);
    return CUDA_SUCCESS;
}

static CUresult device_alloc(CUdeviceptr *dptr, size_t bytes, int kind,
                             struct CUmemPoolHandle_st *pool, const char *api)
{
    void *p = NULL;
    if (dptr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = do_alloc(&p, bytes, kind, pool, api);
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
    if (!device_valid(ordinal))
        return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGet);

static CUresult fc_cuDeviceGetCount(int *count)
{
    REQUIRE_INIT();
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *count = g_ndevices;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetCount);

static CUresult fc_cuDeviceGetName(char *name, int len, CUdevice dev)
{
    REQUIRE_INIT();
    if (name == NULL || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    if (dev == 0)
        snprintf(name, (size_t)len, "%s", "gpuleak fake GPU");
    else
        snprintf(name, (size_t)len, "gpuleak fake GPU %d", dev);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetName);

/* "domain:bus:device.function" from the PCI attributes below (every device reports bus 1, so
 * all of them map to the fake NVML's one device). Truncated to `len`, as cuDeviceGetName. */
static CUresult fc_cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    REQUIRE_INIT();
    if (pciBusId == NULL || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", 0u, 1u, 0u);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetPCIBusId);

static CUresult fc_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    REQUIRE_INIT();
    if (bytes == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    *bytes = g_capacities[dev];
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceTotalMem_v2);

static CUresult fc_cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    REQUIRE_INIT();
    if (pi == NULL || attrib <= 0 || attrib >= FAKE_CU_DEVICE_ATTRIBUTE_END)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
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
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: v = 102400; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: v = 101376; break;
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR: v = 16; break;
    case CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES: v = 1; break; /* POSIX fd */
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
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    atomic_fetch_add(&g_primary_refs[dev], 1);
    *pctx = &g_primaries[dev];
    LOG("cuDevicePrimaryCtxRetain(%d) = 0 -> %p", dev, (void *)&g_primaries[dev]);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDevicePrimaryCtxRetain);

/* The primary context stays usable when its count drops to zero (the real driver would reset
 * it and free its memory); tests that need that behaviour do not exist yet. */
static CUresult fc_cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    REQUIRE_INIT();
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    int prev = atomic_load(&g_primary_refs[dev]);
    do {
        if (prev <= 0)
            return CUDA_ERROR_INVALID_CONTEXT;
    } while (!atomic_compare_exchange_weak(&g_primary_refs[dev], &prev, prev - 1));
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDevicePrimaryCtxRelease_v2);

static CUresult fc_cuDevicePrimaryCtxRelease(CUdevice dev)
{
    return fc_cuDevicePrimaryCtxRelease_v2(dev);
}
FAKE_EXPORT(cuDevicePrimaryCtxRelease);

/* Active while retained: PyTorch asks before it creates a context, to avoid making one. */
static CUresult fc_cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    REQUIRE_INIT();
    if (flags == NULL || active == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    *flags = 0;
    *active = atomic_load(&g_primary_refs[dev]) > 0;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDevicePrimaryCtxGetState);

static CUresult fc_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    (void)flags;
    REQUIRE_INIT();
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
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

static void pools_synchronize(void);

/* A synchronisation point: pools release what they hold above their release thresholds. */
static CUresult fc_cuCtxSynchronize(void)
{
    REQUIRE_CTX();
    pools_synchronize();
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
    s->priority = 0;
    *phStream = s;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamCreate);

/* Priorities as on current GPUs: 0 (least) down to -5 (greatest); others are clamped, as the
 * real driver does. */
#define LEAST_PRIORITY 0
#define GREATEST_PRIORITY (-5)

static CUresult fc_cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags,
                                              int priority)
{
    CUresult rc = fc_cuStreamCreate(phStream, flags);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (priority > LEAST_PRIORITY)
        priority = LEAST_PRIORITY;
    if (priority < GREATEST_PRIORITY)
        priority = GREATEST_PRIORITY;
    (*phStream)->priority = priority;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamCreateWithPriority);

static CUresult fc_cuStreamGetPriority(CUstream hStream, int *priority)
{
    REQUIRE_CTX();
    if (priority == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    int special = hStream == NULL || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD;
    *priority = special ? 0 : hStream->priority;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamGetPriority);

static CUresult fc_cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
    REQUIRE_CTX();
    if (leastPriority != NULL)
        *leastPriority = LEAST_PRIORITY;
    if (greatestPriority != NULL)
        *greatestPriority = GREATEST_PRIORITY;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuCtxGetStreamPriorityRange);

/* Work is synchronous: every stream is idle. */
static CUresult fc_cuStreamQuery(CUstream hStream)
{
    REQUIRE_CTX();
    return stream_valid(hStream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
FAKE_EXPORT(cuStreamQuery);

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

/* A synchronisation point: pools release what they hold above their release thresholds. */
static CUresult fc_cuStreamSynchronize(CUstream hStream)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    pools_synchronize();
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamSynchronize);

/* Events exist for cudarc, which records one around every stream allocation. Work is never
 * queued in the fake, so every event is already complete. */
struct CUevent_st {
    unsigned int flags;
    int recorded;
    struct timespec when; /* host time of the last record */
};

#define CU_EVENT_DISABLE_TIMING 0x2
#define CU_EVENT_RECORD_EXTERNAL 0x1

static CUresult fc_cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
    REQUIRE_CTX();
    if (phEvent == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUevent e = calloc(1, sizeof *e);
    if (e == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    e->flags = Flags;
    *phEvent = e;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventCreate);

static CUresult fc_cuEventRecord(CUevent hEvent, CUstream hStream)
{
    REQUIRE_CTX();
    if (hEvent == NULL || !stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    clock_gettime(CLOCK_MONOTONIC, &hEvent->when);
    hEvent->recorded = 1;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventRecord);

static CUresult fc_cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL)
        return CUDA_ERROR_INVALID_VALUE;
    return fc_cuEventRecord(hEvent, hStream);
}
FAKE_EXPORT(cuEventRecordWithFlags);

/* Host time between the two records: kernels take no time here. */
static CUresult fc_cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    REQUIRE_CTX();
    if (pMilliseconds == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (hStart == NULL || hEnd == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    if ((hStart->flags | hEnd->flags) & CU_EVENT_DISABLE_TIMING)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!hStart->recorded || !hEnd->recorded)
        return CUDA_ERROR_INVALID_HANDLE;
    double ms = (double)(hEnd->when.tv_sec - hStart->when.tv_sec) * 1e3 +
                (double)(hEnd->when.tv_nsec - hStart->when.tv_nsec) / 1e6;
    *pMilliseconds = (float)ms;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventElapsedTime);

static CUresult fc_cuEventSynchronize(CUevent hEvent)
{
    REQUIRE_CTX();
    return hEvent == NULL ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventSynchronize);

static CUresult fc_cuEventQuery(CUevent hEvent)
{
    REQUIRE_CTX();
    return hEvent == NULL ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventQuery);

static CUresult fc_cuEventDestroy_v2(CUevent hEvent)
{
    if (hEvent == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    free(hEvent);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuEventDestroy_v2);

static CUresult fc_cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    (void)Flags;
    REQUIRE_CTX();
    if (hEvent == NULL || !stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamWaitEvent);

/* ------------------------------------------------------------------------------------------ */
/* Memory                                                                                      */

static CUresult fc_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    REQUIRE_CTX();
    return device_alloc(dptr, bytesize, KIND_DEVICE, NULL, "cuMemAlloc_v2");
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
    CUresult rc = device_alloc(dptr, pitch * height, KIND_DEVICE, NULL, "cuMemAllocPitch_v2");
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

/* Stream-ordered allocation happens at once, from the device's current pool (or the pool
 * given); the free returns the block to its pool, which keeps it (see the pool section). */
static CUresult alloc_from_pool(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                CUstream hStream, const char *api)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&g_lock);
    if (pool == NULL)
        pool = g_current_pool;
    int valid = pool_valid_locked(pool);
    pthread_mutex_unlock(&g_lock);
    if (!valid)
        return CUDA_ERROR_INVALID_VALUE;
    return device_alloc(dptr, bytesize, KIND_DEVICE, pool, api);
}

static CUresult fc_cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_from_pool(dptr, bytesize, NULL, hStream, "cuMemAllocAsync");
}
FAKE_EXPORT(cuMemAllocAsync);

static CUresult fc_cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_from_pool(dptr, bytesize, NULL, hStream, "cuMemAllocAsync_ptsz");
}
FAKE_EXPORT(cuMemAllocAsync_ptsz);

static CUresult fc_cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                           CUstream hStream)
{
    if (pool == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    return alloc_from_pool(dptr, bytesize, pool, hStream, "cuMemAllocFromPoolAsync");
}
FAKE_EXPORT(cuMemAllocFromPoolAsync);

static CUresult fc_cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
                                                CUmemoryPool pool, CUstream hStream)
{
    if (pool == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    return alloc_from_pool(dptr, bytesize, pool, hStream, "cuMemAllocFromPoolAsync_ptsz");
}
FAKE_EXPORT(cuMemAllocFromPoolAsync_ptsz);

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
    return device_alloc(dptr, bytesize, KIND_MANAGED, NULL, "cuMemAllocManaged");
}
FAKE_EXPORT(cuMemAllocManaged);

/* Pinned host memory: tracked (so frees are checked) but not charged to the device. */
static CUresult fc_cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    REQUIRE_CTX();
    return do_alloc(pp, bytesize, KIND_HOST, NULL, "cuMemAllocHost_v2");
}
FAKE_EXPORT(cuMemAllocHost_v2);

static CUresult fc_cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags)
{
    REQUIRE_CTX();
    if (flags > 0xf) /* PORTABLE | DEVICEMAP | WRITECOMBINED (| the internal 0x8) */
        return CUDA_ERROR_INVALID_VALUE;
    return do_alloc(pp, bytesize, KIND_HOST, NULL, "cuMemHostAlloc");
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

static CUresult fc_cuMemsetD8Async(CUdeviceptr dst, unsigned char uc, size_t n, CUstream hStream)
{
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return fc_cuMemsetD8_v2(dst, uc, n);
}
FAKE_EXPORT(cuMemsetD8Async);

static CUresult fc_cuMemsetD32_v2(CUdeviceptr dst, unsigned int ui, size_t n)
{
    REQUIRE_CTX();
    if (n != 0 && (dst == 0 || dst % 4 != 0))
        return CUDA_ERROR_INVALID_VALUE;
    unsigned int *p = (unsigned int *)(uintptr_t)dst;
    for (size_t i = 0; i < n; i++)
        p[i] = ui;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemsetD32_v2);

static CUresult fc_cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t n, CUstream hStream)
{
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return fc_cuMemsetD32_v2(dst, ui, n);
}
FAKE_EXPORT(cuMemsetD32Async);

static CUresult fc_cuStreamWriteValue32(CUstream stream, CUdeviceptr addr, unsigned int value,
                                        unsigned int flags)
{
    REQUIRE_CTX();
    if (!stream_valid(stream))
        return CUDA_ERROR_INVALID_HANDLE;
    if (addr == 0 || addr % 4 != 0 || flags > 1)
        return CUDA_ERROR_INVALID_VALUE;
    *(volatile unsigned int *)(uintptr_t)addr = value;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuStreamWriteValue32);

/* Stream-ordered copies: all work is synchronous here, so these are the plain copies. */
static CUresult fc_cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n,
                                        CUstream hStream)
{
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return fc_cuMemcpyHtoD_v2(dst, src, n);
}
FAKE_EXPORT(cuMemcpyHtoDAsync_v2);

static CUresult fc_cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream hStream)
{
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return fc_cuMemcpyDtoH_v2(dst, src, n);
}
FAKE_EXPORT(cuMemcpyDtoHAsync_v2);

static CUresult fc_cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n,
                                        CUstream hStream)
{
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    return fc_cuMemcpyDtoD_v2(dst, src, n);
}
FAKE_EXPORT(cuMemcpyDtoDAsync_v2);

/* ------------------------------------------------------------------------------------------ */
/* Memory pool API                                                                             */

static CUresult fc_cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
    REQUIRE_INIT();
    if (pool_out == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    *pool_out = &g_default_pool;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetDefaultMemPool);

static CUresult fc_cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
    REQUIRE_INIT();
    if (pool == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&g_lock);
    *pool = g_current_pool;
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGetMemPool);

static CUresult fc_cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
    REQUIRE_INIT();
    if (!device_valid(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&g_lock);
    int ok = pool_valid_locked(pool);
    if (ok)
        g_current_pool = pool;
    pthread_mutex_unlock(&g_lock);
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
FAKE_EXPORT(cuDeviceSetMemPool);

static CUresult fc_cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps)
{
    REQUIRE_INIT();
    if (pool == NULL || poolProps == NULL || poolProps->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
        poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        (poolProps->handleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (poolProps->location.id != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    struct CUmemPoolHandle_st *p = calloc(1, sizeof *p);
    if (p == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    p->magic = POOL_MAGIC;
    p->alive = 1;
    p->max_size = poolProps->maxSize;
    p->reuse[0] = p->reuse[1] = p->reuse[2] = 1;
    pthread_mutex_lock(&g_lock);
    p->next = g_pools;
    g_pools = p;
    pthread_mutex_unlock(&g_lock);
    *pool = p;
    LOG("cuMemPoolCreate = 0 -> %p", (void *)p);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemPoolCreate);

/* Like the real one: returns at once; idle memory is released now, memory still allocated
 * from the pool when it is freed. The default pool cannot be destroyed. */
static CUresult fc_cuMemPoolDestroy(CUmemoryPool pool)
{
    REQUIRE_INIT();
    pthread_mutex_lock(&g_lock);
    if (!pool_valid_locked(pool) || pool->is_default) {
        pthread_mutex_unlock(&g_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    pool->alive = 0;
    pool_trim_locked(pool, 0);
    if (g_current_pool == pool)
        g_current_pool = &g_default_pool;
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemPoolDestroy);

static CUresult fc_cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    REQUIRE_INIT();
    pthread_mutex_lock(&g_lock);
    if (!pool_valid_locked(pool)) {
        pthread_mutex_unlock(&g_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    pool_trim_locked(pool, minBytesToKeep);
    size_t reserved = pool->reserved;
    pthread_mutex_unlock(&g_lock);
    LOG("cuMemPoolTrimTo(%p, %zu) = 0, reserved %zu", (void *)pool, minBytesToKeep, reserved);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemPoolTrimTo);

/* Settable: the reuse flags (int), the release threshold (cuuint64_t), and the two high-water
 * marks (cuuint64_t, reset only to 0). The current figures are read-only. */
static CUresult fc_cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    REQUIRE_INIT();
    if (value == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    if (!pool_valid_locked(pool)) {
        rc = CUDA_ERROR_INVALID_VALUE;
        goto out;
    }
    cuuint64_t v64 = 0;
    if (attr >= CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)
        memcpy(&v64, value, sizeof v64);
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        pool->reuse[attr - 1] = *(const int *)value != 0;
        break;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        pool->threshold = v64;
        break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (v64 != 0)
            rc = CUDA_ERROR_INVALID_VALUE;
        else if (attr == CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)
            pool->reserved_high = pool->reserved;
        else
            pool->used_high = pool->used;
        break;
    default:
        rc = CUDA_ERROR_INVALID_VALUE;
    }
out:
    pthread_mutex_unlock(&g_lock);
    LOG("cuMemPoolSetAttribute(%p, %d) = %d", (void *)pool, attr, rc);
    return rc;
}
FAKE_EXPORT(cuMemPoolSetAttribute);

static CUresult fc_cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    REQUIRE_INIT();
    if (value == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    cuuint64_t v64 = 0;
    pthread_mutex_lock(&g_lock);
    if (!pool_valid_locked(pool)) {
        rc = CUDA_ERROR_INVALID_VALUE;
        goto out;
    }
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        *(int *)value = pool->reuse[attr - 1];
        goto out;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: v64 = pool->threshold; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: v64 = pool->reserved; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: v64 = pool->reserved_high; break;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: v64 = pool->used; break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: v64 = pool->used_high; break;
    default: rc = CUDA_ERROR_INVALID_VALUE; goto out;
    }
    memcpy(value, &v64, sizeof v64);
out:
    pthread_mutex_unlock(&g_lock);
    return rc;
}
FAKE_EXPORT(cuMemPoolGetAttribute);

/* One device: the only location a pool can grant is device 0, which always has access. */
static CUresult fc_cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count)
{
    REQUIRE_INIT();
    if (map == NULL && count != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    int ok = pool_valid_locked(pool);
    pthread_mutex_unlock(&g_lock);
    if (!ok)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++) {
        if (map[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE)
            return CUDA_ERROR_INVALID_VALUE;
        if (map[i].location.id != 0)
            return CUDA_ERROR_INVALID_DEVICE;
    }
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemPoolSetAccess);

/* ------------------------------------------------------------------------------------------ */
/* Small registries of live objects, under g_lock: handles are validated by membership, so a   */
/* bogus or stale handle is an error, never a dereference.                                     */

struct ptrvec {
    void **v;
    size_t n, cap;
};

static int vec_push(struct ptrvec *vec, void *p)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        void **v = realloc(vec->v, cap * sizeof *v);
        if (v == NULL)
            return 0;
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = p;
    return 1;
}

static size_t vec_find(const struct ptrvec *vec, const void *p)
{
    for (size_t i = 0; i < vec->n; i++)
        if (vec->v[i] == p)
            return i;
    return SIZE_MAX;
}

static void vec_remove_at(struct ptrvec *vec, size_t i)
{
    vec->v[i] = vec->v[--vec->n];
}

/* ------------------------------------------------------------------------------------------ */
/* Virtual memory management (cuMemCreate / cuMemAddressReserve / cuMemMap ...)                */
/*                                                                                             */
/* Physical memory is a memfd of the requested size, charged against the capacity when created */
/* and released when its last handle is released and its last mapping unmapped (as the real   */
/* driver does: a released handle that is still mapped keeps its memory). Handles are pointers  */
/* to `struct vmm_handle`; an imported handle is a new handle of the same physical memory.     */
/* Reservations are PROT_NONE anonymous mappings (address space only, not charged); cuMemMap    */
/* maps the memfd over them (MAP_FIXED), inaccessible until cuMemSetAccess; cuMemUnmap puts the */
/* PROT_NONE reservation back.                                                                 */

struct phys {
    int fd;
    size_t size;
    int refs; /* live handles + mappings */
    CUmemAllocationProp prop;
    dev_t dev;
    ino_t ino;
};

struct vmm_handle {
    struct phys *phys;
};

struct reservation {
    uintptr_t base;
    size_t size;
};

struct mapping {
    uintptr_t va;
    size_t size;
    struct phys *phys;
};

static struct ptrvec g_handles, g_reservations, g_mappings;

static int aligned_to(size_t v, size_t a) { return (v & (a - 1)) == 0; }

static void phys_unref_locked(struct phys *ph)
{
    if (--ph->refs > 0)
        return;
    g_used -= ph->size;
    close(ph->fd);
    LOG("physical memory of %zu bytes released", ph->size);
    free(ph);
}

static struct vmm_handle *handle_of(CUmemGenericAllocationHandle h)
{
    void *p = (void *)(uintptr_t)h;
    return vec_find(&g_handles, p) != SIZE_MAX ? p : NULL;
}

static struct reservation *reservation_containing(uintptr_t va, size_t size)
{
    for (size_t i = 0; i < g_reservations.n; i++) {
        struct reservation *r = g_reservations.v[i];
        if (va >= r->base && size <= r->size && va - r->base <= r->size - size)
            return r;
    }
    return NULL;
}

static CUresult fc_cuMemGetAllocationGranularity(size_t *granularity,
                                                 const CUmemAllocationProp *prop,
                                                 CUmemAllocationGranularity_flags option)
{
    REQUIRE_INIT();
    if (granularity == NULL || prop == NULL || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
        prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM &&
         option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
        return CUDA_ERROR_INVALID_VALUE;
    if (prop->location.id != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    *granularity = VMM_GRANULARITY;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemGetAllocationGranularity);

static CUresult fc_cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                               const CUmemAllocationProp *prop, unsigned long long flags)
{
    REQUIRE_CTX();
    if (handle == NULL || prop == NULL || flags != 0 || size == 0 ||
        !aligned_to(size, VMM_GRANULARITY) || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
        prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (prop->location.id != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    if ((prop->requestedHandleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0)
        return CUDA_ERROR_NOT_SUPPORTED;
    struct phys *ph = calloc(1, sizeof *ph);
    struct vmm_handle *hd = calloc(1, sizeof *hd);
    int fd = memfd_create("fake-cuda-physical", MFD_CLOEXEC);
    struct stat st;
    if (ph == NULL || hd == NULL || fd < 0 || ftruncate(fd, (off_t)size) != 0 ||
        fstat(fd, &st) != 0)
        goto oom;
    ph->fd = fd;
    ph->size = size;
    ph->refs = 1;
    ph->prop = *prop;
    ph->dev = st.st_dev;
    ph->ino = st.st_ino;
    hd->phys = ph;
    pthread_mutex_lock(&g_lock);
    if (size > g_capacity - g_used || !vec_push(&g_handles, hd)) {
        pthread_mutex_unlock(&g_lock);
        goto oom;
    }
    g_used += size;
    pthread_mutex_unlock(&g_lock);
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)hd;
    LOG("cuMemCreate(%zu) = 0 -> 0x%llx", size, *handle);
    return CUDA_SUCCESS;
oom:
    if (fd >= 0)
        close(fd);
    free(ph);
    free(hd);
    LOG("cuMemCreate(%zu) = 2", size);
    return CUDA_ERROR_OUT_OF_MEMORY;
}
FAKE_EXPORT(cuMemCreate);

static CUresult fc_cuMemRelease(CUmemGenericAllocationHandle handle)
{
    REQUIRE_INIT();
    pthread_mutex_lock(&g_lock);
    struct vmm_handle *hd = handle_of(handle);
    if (hd == NULL) {
        pthread_mutex_unlock(&g_lock);
        LOG("cuMemRelease(0x%llx) = 1 (not a live handle)", handle);
        return CUDA_ERROR_INVALID_VALUE;
    }
    vec_remove_at(&g_handles, vec_find(&g_handles, hd));
    phys_unref_locked(hd->phys);
    pthread_mutex_unlock(&g_lock);
    free(hd);
    LOG("cuMemRelease(0x%llx) = 0", handle);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemRelease);

/* `addr` is a hint, as on the real driver; `alignment` 0 means the granularity. */
static CUresult fc_cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment,
                                       CUdeviceptr addr, unsigned long long flags)
{
    REQUIRE_CTX();
    if (ptr == NULL || size == 0 || flags != 0 || !aligned_to(size, VMM_GRANULARITY) ||
        (alignment & (alignment - 1)) != 0 || size > SIZE_MAX / 2)
        return CUDA_ERROR_INVALID_VALUE;
    if (alignment < VMM_GRANULARITY)
        alignment = VMM_GRANULARITY;
    const int prot = PROT_NONE, mflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *base = MAP_FAILED;
    if (addr != 0 && aligned_to(addr, alignment)) {
        base = mmap((void *)(uintptr_t)addr, size, prot, mflags | MAP_FIXED_NOREPLACE, -1, 0);
        if (base != MAP_FAILED && base != (void *)(uintptr_t)addr) {
            munmap(base, size);
            base = MAP_FAILED;
        }
    }
    if (base == MAP_FAILED) {
        /* Over-reserve, then trim to an aligned range. */
        char *raw = mmap(NULL, size + alignment, prot, mflags, -1, 0);
        if (raw == MAP_FAILED)
            return CUDA_ERROR_OUT_OF_MEMORY;
        uintptr_t start = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
        size_t head = start - (uintptr_t)raw;
        if (head != 0)
            munmap(raw, head);
        if (alignment - head != 0)
            munmap((char *)start + size, alignment - head);
        base = (void *)start;
    }
    struct reservation *r = malloc(sizeof *r);
    pthread_mutex_lock(&g_lock);
    if (r == NULL || !vec_push(&g_reservations, r)) {
        pthread_mutex_unlock(&g_lock);
        free(r);
        munmap(base, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    r->base = (uintptr_t)base;
    r->size = size;
    pthread_mutex_unlock(&g_lock);
    *ptr = (CUdeviceptr)(uintptr_t)base;
    LOG("cuMemAddressReserve(%zu) = 0 -> %p", size, base);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemAddressReserve);

/* The whole reservation, as reserved. The fake refuses to free a range still mapped. */
static CUresult fc_cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    REQUIRE_INIT();
    pthread_mutex_lock(&g_lock);
    size_t i;
    struct reservation *r = NULL;
    for (i = 0; i < g_reservations.n; i++) {
        struct reservation *c = g_reservations.v[i];
        if (c->base == ptr && c->size == size) {
            r = c;
            break;
        }
    }
    int mapped = 0;
    for (size_t j = 0; r != NULL && j < g_mappings.n; j++) {
        struct mapping *m = g_mappings.v[j];
        mapped |= m->va >= r->base && m->va - r->base < r->size;
    }
    if (r == NULL || mapped) {
        pthread_mutex_unlock(&g_lock);
        LOG("cuMemAddressFree(0x%llx, %zu) = 1", ptr, size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    vec_remove_at(&g_reservations, i);
    pthread_mutex_unlock(&g_lock);
    munmap((void *)r->base, r->size);
    free(r);
    LOG("cuMemAddressFree(0x%llx, %zu) = 0", ptr, size);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemAddressFree);

static CUresult fc_cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                            CUmemGenericAllocationHandle handle, unsigned long long flags)
{
    REQUIRE_CTX();
    if (flags != 0 || size == 0 || !aligned_to(ptr, VMM_GRANULARITY) ||
        !aligned_to(size, VMM_GRANULARITY) || !aligned_to(offset, VMM_GRANULARITY))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    struct mapping *m = malloc(sizeof *m);
    pthread_mutex_lock(&g_lock);
    struct vmm_handle *hd = handle_of(handle);
    if (m == NULL) {
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    } else if (hd == NULL || offset > hd->phys->size || size > hd->phys->size - offset ||
               reservation_containing(ptr, size) == NULL) {
        rc = CUDA_ERROR_INVALID_VALUE;
    } else {
        for (size_t i = 0; i < g_mappings.n; i++) {
            struct mapping *o = g_mappings.v[i];
            if (ptr < o->va + o->size && o->va < ptr + size)
                rc = CUDA_ERROR_ALREADY_MAPPED;
        }
    }
    if (rc == CUDA_SUCCESS &&
        (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, hd->phys->fd,
              (off_t)offset) == MAP_FAILED ||
         !vec_push(&g_mappings, m)))
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    if (rc == CUDA_SUCCESS) {
        m->va = ptr;
        m->size = size;
        m->phys = hd->phys;
        hd->phys->refs++;
    } else {
        free(m);
    }
    pthread_mutex_unlock(&g_lock);
    LOG("cuMemMap(0x%llx, %zu, %zu, 0x%llx) = %d", ptr, size, offset, handle, rc);
    return rc;
}
FAKE_EXPORT(cuMemMap);

/* Unmaps every mapping in [ptr, ptr + size): each must lie wholly inside (no partial unmaps,
 * as on the real driver), and there must be at least one. */
static CUresult fc_cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    REQUIRE_CTX();
    if (size == 0 || !aligned_to(ptr, VMM_GRANULARITY) || !aligned_to(size, VMM_GRANULARITY))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    size_t inside = 0;
    int partial = 0;
    for (size_t i = 0; i < g_mappings.n; i++) {
        struct mapping *m = g_mappings.v[i];
        if (m->va < ptr + size && ptr < m->va + m->size) {
            if (m->va >= ptr && m->va + m->size <= ptr + size)
                inside++;
            else
                partial = 1;
        }
    }
    if (inside == 0 || partial) {
        pthread_mutex_unlock(&g_lock);
        LOG("cuMemUnmap(0x%llx, %zu) = 1", ptr, size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    for (size_t i = 0; i < g_mappings.n;) {
        struct mapping *m = g_mappings.v[i];
        if (m->va >= ptr && m->va + m->size <= ptr + size) {
            mmap((void *)m->va, m->size, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
            phys_unref_locked(m->phys);
            vec_remove_at(&g_mappings, i);
            free(m);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&g_lock);
    LOG("cuMemUnmap(0x%llx, %zu) = 0", ptr, size);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemUnmap);

/* The range must be wholly mapped; READ and READWRITE make it readable/writable here. */
static CUresult fc_cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
                                  size_t count)
{
    REQUIRE_CTX();
    if (desc == NULL || count == 0 || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    int prot = -1;
    for (size_t i = 0; i < count; i++) {
        if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE)
            return CUDA_ERROR_INVALID_VALUE;
        if (desc[i].location.id != 0)
            return CUDA_ERROR_INVALID_DEVICE;
        switch (desc[i].flags) {
        case CU_MEM_ACCESS_FLAGS_PROT_NONE: prot = PROT_NONE; break;
        case CU_MEM_ACCESS_FLAGS_PROT_READ: prot = PROT_READ; break;
        case CU_MEM_ACCESS_FLAGS_PROT_READWRITE: prot = PROT_READ | PROT_WRITE; break;
        default: return CUDA_ERROR_INVALID_VALUE;
        }
    }
    pthread_mutex_lock(&g_lock);
    /* Covered: walk forward from ptr through adjacent mappings. */
    uintptr_t at = ptr;
    int progress = 1;
    while (at < ptr + size && progress) {
        progress = 0;
        for (size_t i = 0; i < g_mappings.n; i++) {
            struct mapping *m = g_mappings.v[i];
            if (m->va <= at && at < m->va + m->size) {
                at = m->va + m->size;
                progress = 1;
            }
        }
    }
    int covered = at >= ptr + size;
    if (covered)
        mprotect((void *)(uintptr_t)ptr, size, prot);
    pthread_mutex_unlock(&g_lock);
    return covered ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
FAKE_EXPORT(cuMemSetAccess);

static CUresult fc_cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
                                                          CUmemGenericAllocationHandle handle)
{
    REQUIRE_INIT();
    if (prop == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    struct vmm_handle *hd = handle_of(handle);
    if (hd != NULL)
        *prop = hd->phys->prop;
    pthread_mutex_unlock(&g_lock);
    return hd != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
FAKE_EXPORT(cuMemGetAllocationPropertiesFromHandle);

/* POSIX file descriptors only: a dup of the memfd (the caller closes it), and only for memory
 * created with that handle type requested, as on the real driver. */
static CUresult fc_cuMemExportToShareableHandle(void *shareableHandle,
                                                CUmemGenericAllocationHandle handle,
                                                CUmemAllocationHandleType handleType,
                                                unsigned long long flags)
{
    REQUIRE_INIT();
    if (shareableHandle == NULL || flags != 0 ||
        handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    struct vmm_handle *hd = handle_of(handle);
    if (hd == NULL ||
        (hd->phys->prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) == 0) {
        rc = CUDA_ERROR_INVALID_VALUE;
    } else {
        int fd = fcntl(hd->phys->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        else
            *(int *)shareableHandle = fd;
    }
    pthread_mutex_unlock(&g_lock);
    LOG("cuMemExportToShareableHandle(0x%llx) = %d", handle, rc);
    return rc;
}
FAKE_EXPORT(cuMemExportToShareableHandle);

/* The fd must come from cuMemExportToShareableHandle in this process (the fake keeps no
 * cross-process registry): the new handle refers to the same physical memory, not charged
 * again. */
static CUresult fc_cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle,
                                                  void *osHandle,
                                                  CUmemAllocationHandleType shHandleType)
{
    REQUIRE_CTX();
    if (handle == NULL || shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_INVALID_VALUE;
    struct stat st;
    if (fstat((int)(intptr_t)osHandle, &st) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    struct vmm_handle *hd = calloc(1, sizeof *hd);
    if (hd == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_handles.n && hd->phys == NULL; i++) {
        struct phys *ph = ((struct vmm_handle *)g_handles.v[i])->phys;
        if (ph->dev == st.st_dev && ph->ino == st.st_ino)
            hd->phys = ph;
    }
    for (size_t i = 0; i < g_mappings.n && hd->phys == NULL; i++) {
        struct phys *ph = ((struct mapping *)g_mappings.v[i])->phys;
        if (ph->dev == st.st_dev && ph->ino == st.st_ino)
            hd->phys = ph;
    }
    if (hd->phys == NULL || !vec_push(&g_handles, hd)) {
        pthread_mutex_unlock(&g_lock);
        free(hd);
        return CUDA_ERROR_INVALID_VALUE;
    }
    hd->phys->refs++;
    pthread_mutex_unlock(&g_lock);
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)hd;
    LOG("cuMemImportFromShareableHandle = 0 -> 0x%llx", *handle);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemImportFromShareableHandle);

/* ------------------------------------------------------------------------------------------ */
/* Page-locked registration of existing host memory: tracked, not charged.                    */

struct host_range {
    uintptr_t base;
    size_t size;
};

static struct ptrvec g_registered;

static CUresult fc_cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
    REQUIRE_CTX();
    if (p == NULL || bytesize == 0 || Flags > 0xf || (uintptr_t)p > UINTPTR_MAX - bytesize)
        return CUDA_ERROR_INVALID_VALUE;
    uintptr_t b = (uintptr_t)p;
    struct host_range *r = malloc(sizeof *r);
    if (r == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_registered.n; i++) {
        struct host_range *o = g_registered.v[i];
        if (b < o->base + o->size && o->base < b + bytesize)
            rc = CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    }
    if (rc == CUDA_SUCCESS) {
        r->base = b;
        r->size = bytesize;
        if (!vec_push(&g_registered, r))
            rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&g_lock);
    if (rc != CUDA_SUCCESS)
        free(r);
    LOG("cuMemHostRegister(%p, %zu) = %d", p, bytesize, rc);
    return rc;
}
FAKE_EXPORT(cuMemHostRegister_v2);

static CUresult fc_cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
    return fc_cuMemHostRegister_v2(p, bytesize, Flags);
}
FAKE_EXPORT(cuMemHostRegister);

static CUresult fc_cuMemHostUnregister(void *p)
{
    REQUIRE_CTX();
    struct host_range *r = NULL;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_registered.n; i++) {
        struct host_range *o = g_registered.v[i];
        if (o->base == (uintptr_t)p) {
            r = o;
            vec_remove_at(&g_registered, i);
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    free(r);
    LOG("cuMemHostUnregister(%p) = %d", p, r ? 0 : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    return r != NULL ? CUDA_SUCCESS : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}
FAKE_EXPORT(cuMemHostUnregister);

/* ------------------------------------------------------------------------------------------ */
/* Arrays: bookkeeping only (no storage); their bytes are charged against the capacity.       */
/* bytes = Width x max(Height,1) x max(Depth,1) x NumChannels x bytes_of(Format), summed over   */
/* the levels of a mipmapped array (each level halves every dimension, minimum 1).           */

struct CUarray_st {
    size_t bytes;
    size_t charged;
};

struct CUmipmappedArray_st {
    size_t bytes;
    size_t charged;
};

static struct ptrvec g_arrays, g_mipmaps;

static size_t format_bytes(CUarray_format f)
{
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8: return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF: return 2;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT: return 4;
    default: return 0;
    }
}

/* Bytes of a W x H x D array of `desc`'s format; 0 if the descriptor is invalid. */
static size_t array_bytes(size_t w, size_t h, size_t d, CUarray_format f, unsigned channels)
{
    size_t elem = format_bytes(f);
    if (w == 0 || elem == 0 || (channels != 1 && channels != 2 && channels != 4))
        return 0;
    size_t dims[3] = {w, h ? h : 1, d ? d : 1};
    size_t bytes = elem * channels;
    for (int i = 0; i < 3; i++) {
        if (dims[i] > (1u << 20) || bytes > SIZE_MAX / dims[i])
            return 0;
        bytes *= dims[i];
    }
    return bytes;
}

/* Charges `bytes`, registers `obj` in `vec`; 0 if out of memory. */
static CUresult charge_object(struct ptrvec *vec, void *obj, size_t bytes, size_t *charged)
{
    *charged = (bytes + FAKE_ALIGN - 1) & ~(size_t)(FAKE_ALIGN - 1);
    pthread_mutex_lock(&g_lock);
    int ok = *charged <= g_capacity - g_used && vec_push(vec, obj);
    if (ok)
        g_used += *charged;
    pthread_mutex_unlock(&g_lock);
    return ok ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult uncharge_object(struct ptrvec *vec, void *obj, const size_t *charged_field)
{
    pthread_mutex_lock(&g_lock);
    size_t i = vec_find(vec, obj);
    if (i != SIZE_MAX) {
        vec_remove_at(vec, i);
        g_used -= *charged_field;
    }
    pthread_mutex_unlock(&g_lock);
    if (i == SIZE_MAX)
        return CUDA_ERROR_INVALID_HANDLE;
    free(obj);
    return CUDA_SUCCESS;
}

static CUresult make_array(CUarray *pHandle, size_t bytes, const char *api)
{
    if (pHandle == NULL || bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a = malloc(sizeof *a);
    if (a == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    a->bytes = bytes;
    CUresult rc = charge_object(&g_arrays, a, bytes, &a->charged);
    if (rc != CUDA_SUCCESS)
        free(a);
    else
        *pHandle = a;
    LOG("%s(%zu bytes) = %d -> %p", api, bytes, rc, rc == CUDA_SUCCESS ? (void *)a : NULL);
    return rc;
}

static CUresult fc_cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *d)
{
    REQUIRE_CTX();
    if (d == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    return make_array(pHandle, array_bytes(d->Width, d->Height, 1, d->Format, d->NumChannels),
                      "cuArrayCreate_v2");
}
FAKE_EXPORT(cuArrayCreate_v2);

static CUresult fc_cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    REQUIRE_CTX();
    if (d == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    return make_array(pHandle,
                      array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels),
                      "cuArray3DCreate_v2");
}
FAKE_EXPORT(cuArray3DCreate_v2);

static CUresult fc_cuArrayDestroy(CUarray hArray)
{
    REQUIRE_CTX();
    if (hArray == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&g_lock);
    size_t charged = vec_find(&g_arrays, hArray) != SIZE_MAX ? hArray->charged : 0;
    pthread_mutex_unlock(&g_lock);
    CUresult rc = uncharge_object(&g_arrays, hArray, &charged);
    LOG("cuArrayDestroy(%p) = %d", (void *)hArray, rc);
    return rc;
}
FAKE_EXPORT(cuArrayDestroy);

static CUresult fc_cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                          const CUDA_ARRAY3D_DESCRIPTOR *d,
                                          unsigned int numMipmapLevels)
{
    REQUIRE_CTX();
    if (pHandle == NULL || d == NULL || numMipmapLevels == 0)
        return CUDA_ERROR_INVALID_VALUE;
    size_t w = d->Width, h = d->Height ? d->Height : 1, z = d->Depth ? d->Depth : 1;
    size_t largest = w > h ? (w > z ? w : z) : (h > z ? h : z);
    unsigned max_levels = 1;
    while ((largest >> max_levels) != 0)
        max_levels++;
    if (numMipmapLevels > max_levels)
        return CUDA_ERROR_INVALID_VALUE;
    size_t total = 0;
    for (unsigned l = 0; l < numMipmapLevels; l++) {
        size_t lw = w >> l, lh = h >> l, lz = z >> l;
        size_t b = array_bytes(lw ? lw : 1, lh ? lh : 1, lz ? lz : 1, d->Format, d->NumChannels);
        if (b == 0 || total > SIZE_MAX - b)
            return CUDA_ERROR_INVALID_VALUE;
        total += b;
    }
    struct CUmipmappedArray_st *m = malloc(sizeof *m);
    if (m == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->bytes = total;
    CUresult rc = charge_object(&g_mipmaps, m, total, &m->charged);
    if (rc != CUDA_SUCCESS)
        free(m);
    else
        *pHandle = m;
    LOG("cuMipmappedArrayCreate(%u levels, %zu bytes) = %d", numMipmapLevels, total, rc);
    return rc;
}
FAKE_EXPORT(cuMipmappedArrayCreate);

static CUresult fc_cuMipmappedArrayDestroy(CUmipmappedArray h)
{
    REQUIRE_CTX();
    if (h == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&g_lock);
    size_t charged = vec_find(&g_mipmaps, h) != SIZE_MAX ? h->charged : 0;
    pthread_mutex_unlock(&g_lock);
    return uncharge_object(&g_mipmaps, h, &charged);
}
FAKE_EXPORT(cuMipmappedArrayDestroy);

/* ------------------------------------------------------------------------------------------ */
/* Graphs: only memory nodes mean anything; nothing runs.                                      */
/*                                                                                             */
/* cuGraphAddMemAllocNode hands out a virtual address (an anonymous mapping, not charged) that   */
/* stays valid until the graph is destroyed. Physical memory comes from the device's graph      */
/* memory pool when a graph is launched: the pool grows to the largest sum of alloc-node bytes  */
/* any launched graph has (charged against the capacity) and keeps it until                     */
/* cuDeviceGraphMemTrim, which releases it all (no graph runs after its launch returns).        */

enum { NODE_MEM_ALLOC = 1, NODE_MEM_FREE = 2 };

struct CUgraphNode_st {
    int type;
    uintptr_t va;
    size_t size;
    struct CUgraphNode_st *next;
};

struct CUgraph_st {
    struct CUgraphNode_st *nodes;
    size_t alloc_bytes;
};

struct CUgraphExec_st {
    CUgraph graph;
};

static struct ptrvec g_graphs, g_execs;
static size_t g_graph_pool; /* bytes the device's graph memory pool holds */

static CUresult fc_cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
    REQUIRE_CTX();
    if (phGraph == NULL || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgraph_st *g = calloc(1, sizeof *g);
    if (g == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_lock);
    int ok = vec_push(&g_graphs, g);
    pthread_mutex_unlock(&g_lock);
    if (!ok) {
        free(g);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *phGraph = g;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuGraphCreate);

static CUresult fc_cuGraphDestroy(CUgraph hGraph)
{
    REQUIRE_CTX();
    pthread_mutex_lock(&g_lock);
    size_t i = vec_find(&g_graphs, hGraph);
    if (i != SIZE_MAX)
        vec_remove_at(&g_graphs, i);
    pthread_mutex_unlock(&g_lock);
    if (i == SIZE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    for (struct CUgraphNode_st *n = hGraph->nodes, *next; n != NULL; n = next) {
        next = n->next;
        if (n->type == NODE_MEM_ALLOC)
            munmap((void *)n->va, n->size);
        free(n);
    }
    free(hGraph);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuGraphDestroy);

static CUresult add_node(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *deps,
                         size_t numDeps, struct CUgraphNode_st *node)
{
    if (phGraphNode == NULL || (numDeps != 0 && deps == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    if (vec_find(&g_graphs, hGraph) == SIZE_MAX) {
        pthread_mutex_unlock(&g_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    node->next = hGraph->nodes;
    hGraph->nodes = node;
    if (node->type == NODE_MEM_ALLOC)
        hGraph->alloc_bytes += node->size;
    pthread_mutex_unlock(&g_lock);
    *phGraphNode = node;
    return CUDA_SUCCESS;
}

static CUresult fc_cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                          const CUgraphNode *dependencies, size_t numDependencies,
                                          CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams)
{
    REQUIRE_CTX();
    if (nodeParams == NULL || nodeParams->bytesize == 0 ||
        nodeParams->poolProps.allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
        nodeParams->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        (nodeParams->accessDescCount != 0 && nodeParams->accessDescs == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    if (nodeParams->poolProps.location.id != 0)
        return CUDA_ERROR_INVALID_DEVICE;
    if (nodeParams->bytesize > g_capacity)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct CUgraphNode_st *n = calloc(1, sizeof *n);
    if (n == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    void *va = mmap(NULL, nodeParams->bytesize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (va == MAP_FAILED) {
        free(n);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    n->type = NODE_MEM_ALLOC;
    n->va = (uintptr_t)va;
    n->size = nodeParams->bytesize;
    CUresult rc = add_node(phGraphNode, hGraph, dependencies, numDependencies, n);
    if (rc != CUDA_SUCCESS) {
        munmap(va, n->size);
        free(n);
        return rc;
    }
    nodeParams->dptr = (CUdeviceptr)(uintptr_t)va;
    LOG("cuGraphAddMemAllocNode(%p, %zu) = 0 -> %p", (void *)hGraph, n->size, va);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuGraphAddMemAllocNode);

/* dptr must be the address of an alloc node of a live graph. */
static CUresult fc_cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                         const CUgraphNode *dependencies, size_t numDependencies,
                                         CUdeviceptr dptr)
{
    REQUIRE_CTX();
    int known = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_graphs.n && !known; i++)
        for (struct CUgraphNode_st *n = ((CUgraph)g_graphs.v[i])->nodes; n; n = n->next)
            known |= n->type == NODE_MEM_ALLOC && n->va == dptr;
    pthread_mutex_unlock(&g_lock);
    if (!known)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgraphNode_st *n = calloc(1, sizeof *n);
    if (n == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    n->type = NODE_MEM_FREE;
    n->va = dptr;
    CUresult rc = add_node(phGraphNode, hGraph, dependencies, numDependencies, n);
    if (rc != CUDA_SUCCESS)
        free(n);
    LOG("cuGraphAddMemFreeNode(%p, 0x%llx) = %d", (void *)hGraph, dptr, rc);
    return rc;
}
FAKE_EXPORT(cuGraphAddMemFreeNode);

static CUresult fc_cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                               unsigned long long flags)
{
    (void)flags;
    REQUIRE_CTX();
    if (phGraphExec == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgraphExec_st *e = malloc(sizeof *e);
    if (e == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    e->graph = hGraph;
    pthread_mutex_lock(&g_lock);
    int ok = vec_find(&g_graphs, hGraph) != SIZE_MAX && vec_push(&g_execs, e);
    pthread_mutex_unlock(&g_lock);
    if (!ok) {
        free(e);
        return CUDA_ERROR_INVALID_VALUE;
    }
    *phGraphExec = e;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuGraphInstantiateWithFlags);

static CUresult fc_cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    REQUIRE_CTX();
    if (!stream_valid(hStream))
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    if (vec_find(&g_execs, hGraphExec) == SIZE_MAX ||
        vec_find(&g_graphs, hGraphExec->graph) == SIZE_MAX) {
        rc = CUDA_ERROR_INVALID_VALUE;
    } else {
        size_t want = hGraphExec->graph->alloc_bytes;
        if (want > g_graph_pool) {
            if (want - g_graph_pool > g_capacity - g_used) {
                rc = CUDA_ERROR_OUT_OF_MEMORY;
            } else {
                g_used += want - g_graph_pool;
                g_graph_pool = want;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}
FAKE_EXPORT(cuGraphLaunch);

/* The per-thread default stream variant (what cuGetProcAddress gives with flags 2): the same
 * launch, since nothing here is queued on a stream. */
static CUresult fc_cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return fc_cuGraphLaunch(hGraphExec, hStream);
}
FAKE_EXPORT(cuGraphLaunch_ptsz);

static CUresult fc_cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    REQUIRE_CTX();
    pthread_mutex_lock(&g_lock);
    size_t i = vec_find(&g_execs, hGraphExec);
    if (i != SIZE_MAX)
        vec_remove_at(&g_execs, i);
    pthread_mutex_unlock(&g_lock);
    if (i == SIZE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    free(hGraphExec);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuGraphExecDestroy);

static CUresult fc_cuDeviceGraphMemTrim(CUdevice device)
{
    REQUIRE_CTX();
    if (!device_valid(device))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&g_lock);
    g_used -= g_graph_pool;
    g_graph_pool = 0;
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuDeviceGraphMemTrim);

/* ------------------------------------------------------------------------------------------ */
/* IPC. A handle names a cuMemAlloc allocation of this process (pool memory cannot be shared   */
/* this way, as on the real driver). Opening it maps a NEW alias address of the allocation's    */
/* size (fresh anonymous memory: the fake cannot alias heap blocks, so writes are not shared);  */
/* cuMemGetAddressRange_v2 on the alias gives the allocation's size. A handle from another     */
/* process is refused (CUDA_ERROR_INVALID_VALUE).                                              */

#define IPC_MAGIC 0x4350494b41464bull /* "FAKIPC" */

struct ipc_payload {
    unsigned long long magic;
    unsigned long long pid;
    unsigned long long base;
    unsigned long long size;
};
_Static_assert(sizeof(struct ipc_payload) <= sizeof(CUipcMemHandle), "ipc payload");

struct ipc_alias {
    uintptr_t va;
    size_t size;    /* the allocation's requested size */
    size_t mapped;  /* page-rounded */
};

static struct ptrvec g_ipc_aliases;

static CUresult fc_cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr)
{
    REQUIRE_CTX();
    if (pHandle == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    struct entry *e = table_find((uintptr_t)dptr);
    struct ipc_payload pl = {IPC_MAGIC, (unsigned long long)getpid(), dptr, 0};
    int ok = e != NULL && e->kind == KIND_DEVICE && e->pool == NULL;
    if (ok)
        pl.size = e->size;
    pthread_mutex_unlock(&g_lock);
    if (!ok)
        return CUDA_ERROR_INVALID_VALUE;
    memset(pHandle, 0, sizeof *pHandle);
    memcpy(pHandle->reserved, &pl, sizeof pl);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuIpcGetMemHandle);

static CUresult fc_cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle,
                                         unsigned int Flags)
{
    REQUIRE_CTX();
    struct ipc_payload pl;
    memcpy(&pl, handle.reserved, sizeof pl);
    if (pdptr == NULL || (Flags & ~CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) != 0 ||
        pl.magic != IPC_MAGIC || pl.pid != (unsigned long long)getpid())
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    struct entry *e = table_find((uintptr_t)pl.base);
    int live = e != NULL && e->kind == KIND_DEVICE && e->pool == NULL;
    pthread_mutex_unlock(&g_lock);
    if (!live)
        return CUDA_ERROR_INVALID_VALUE;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t mapped = (pl.size + page - 1) & ~(page - 1);
    struct ipc_alias *a = malloc(sizeof *a);
    void *va = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == NULL || va == MAP_FAILED) {
        free(a);
        if (va != MAP_FAILED)
            munmap(va, mapped);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    a->va = (uintptr_t)va;
    a->size = pl.size;
    a->mapped = mapped;
    pthread_mutex_lock(&g_lock);
    int ok = vec_push(&g_ipc_aliases, a);
    pthread_mutex_unlock(&g_lock);
    if (!ok) {
        munmap(va, mapped);
        free(a);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *pdptr = (CUdeviceptr)(uintptr_t)va;
    LOG("cuIpcOpenMemHandle(0x%llx) = 0 -> %p", pl.base, va);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuIpcOpenMemHandle_v2);

static CUresult fc_cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle,
                                      unsigned int Flags)
{
    return fc_cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}
FAKE_EXPORT(cuIpcOpenMemHandle);

static CUresult fc_cuIpcCloseMemHandle(CUdeviceptr dptr)
{
    REQUIRE_CTX();
    struct ipc_alias *a = NULL;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_ipc_aliases.n; i++) {
        struct ipc_alias *o = g_ipc_aliases.v[i];
        if (o->va == dptr) {
            a = o;
            vec_remove_at(&g_ipc_aliases, i);
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (a == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    munmap((void *)a->va, a->mapped);
    free(a);
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuIpcCloseMemHandle);

/* The allocation containing dptr: device/managed allocations (their requested size), IPC
 * aliases, VMM mappings and graph allocations. Either output may be NULL. */
static CUresult fc_cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    REQUIRE_CTX();
    uintptr_t p = (uintptr_t)dptr, base = 0;
    size_t size = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; size == 0 && i < g_slots; i++) {
        const struct entry *e = &g_table[i];
        if (e->key != 0 && e->kind != KIND_HOST && p >= e->key && p - e->key < e->size) {
            base = e->key;
            size = e->size;
        }
    }
    for (size_t i = 0; size == 0 && i < g_ipc_aliases.n; i++) {
        const struct ipc_alias *a = g_ipc_aliases.v[i];
        if (p >= a->va && p - a->va < a->size) {
            base = a->va;
            size = a->size;
        }
    }
    for (size_t i = 0; size == 0 && i < g_mappings.n; i++) {
        const struct mapping *m = g_mappings.v[i];
        if (p >= m->va && p - m->va < m->size) {
            base = m->va;
            size = m->size;
        }
    }
    for (size_t i = 0; size == 0 && i < g_graphs.n; i++)
        for (struct CUgraphNode_st *n = ((CUgraph)g_graphs.v[i])->nodes; n; n = n->next)
            if (n->type == NODE_MEM_ALLOC && p >= n->va && p - n->va < n->size) {
                base = n->va;
                size = n->size;
                break;
            }
    pthread_mutex_unlock(&g_lock);
    if (size == 0)
        return CUDA_ERROR_NOT_FOUND;
    if (pbase != NULL)
        *pbase = base;
    if (psize != NULL)
        *psize = size;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuMemGetAddressRange_v2);

#define CU_POINTER_ATTRIBUTE_MEMORY_TYPE 2
#define CU_MEMORYTYPE_HOST 1
#define CU_MEMORYTYPE_DEVICE 2

/* The memory type only (what PyTorch's pinned-memory checks ask, through the runtime's
 * cudaPointerGetAttributes): device for any device, managed, mapped or IPC address; host for
 * pinned or registered host memory; CUDA_ERROR_INVALID_VALUE for memory CUDA does not know. */
static CUresult fc_cuPointerGetAttribute(void *data, int attribute, CUdeviceptr ptr)
{
    REQUIRE_CTX();
    if (data == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (attribute != CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (fc_cuMemGetAddressRange_v2(NULL, NULL, ptr) == CUDA_SUCCESS) {
        *(unsigned int *)data = CU_MEMORYTYPE_DEVICE;
        return CUDA_SUCCESS;
    }
    uintptr_t p = (uintptr_t)ptr;
    int host = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; !host && i < g_slots; i++) {
        const struct entry *e = &g_table[i];
        host = e->key != 0 && e->kind == KIND_HOST && p >= e->key && p - e->key < e->size;
    }
    for (size_t i = 0; !host && i < g_registered.n; i++) {
        const struct host_range *r = g_registered.v[i];
        host = p >= r->base && p - r->base < r->size;
    }
    pthread_mutex_unlock(&g_lock);
    if (!host)
        return CUDA_ERROR_INVALID_VALUE;
    *(unsigned int *)data = CU_MEMORYTYPE_HOST;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuPointerGetAttribute);

/* Layouts the hook and real programs rely on (CUDA 12.x cuda.h, LP64). */
_Static_assert(sizeof(CUmemAllocationProp) == 32, "CUmemAllocationProp");
_Static_assert(sizeof(CUmemAccessDesc) == 12, "CUmemAccessDesc");
_Static_assert(sizeof(CUmemPoolProps) == 88, "CUmemPoolProps");
_Static_assert(offsetof(CUDA_MEM_ALLOC_NODE_PARAMS, accessDescs) == 88, "alloc node params");
_Static_assert(offsetof(CUDA_MEM_ALLOC_NODE_PARAMS, bytesize) == 104, "alloc node params");
_Static_assert(offsetof(CUDA_MEM_ALLOC_NODE_PARAMS, dptr) == 112, "alloc node params");
_Static_assert(sizeof(CUDA_ARRAY_DESCRIPTOR) == 24, "CUDA_ARRAY_DESCRIPTOR");
_Static_assert(sizeof(CUDA_ARRAY3D_DESCRIPTOR) == 40, "CUDA_ARRAY3D_DESCRIPTOR");
_Static_assert(sizeof(CUipcMemHandle) == 64, "CUipcMemHandle");

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

/* ------------------------------------------------------------------------------------------ */
/* Modules, for cudarc's load_module / load_function (a sampler's kernels). Nothing is         */
/* compiled: the image is copied as NUL-terminated text (PTX, or any placeholder), and a       */
/* function is found when its name appears in that text. Each (module, name) gets its own      */
/* handle, so a profiler that tells kernels apart by CUfunction sees distinct kernels.         */

#define MODULE_MAGIC 0x4d4f4446u /* "FDOM" */
#define MODULE_MAX_FUNCS 64

struct CUfunc_st {
    struct CUmod_st *module;
    char *name; /* C++ kernel names run to hundreds of characters */
};

struct CUmod_st {
    unsigned magic;
    int dead;
    char *text;
    size_t nfuncs;
    struct CUfunc_st funcs[MODULE_MAX_FUNCS];
};

static int module_valid(CUmodule m) { return m != NULL && m->magic == MODULE_MAGIC && !m->dead; }

static CUresult fc_cuModuleLoadData(CUmodule *module, const void *image)
{
    REQUIRE_CTX();
    if (module == NULL || image == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUmod_st *m = calloc(1, sizeof *m);
    char *text = m ? strdup((const char *)image) : NULL;
    if (m == NULL || text == NULL) {
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    m->magic = MODULE_MAGIC;
    m->text = text;
    *module = m;
    LOG("cuModuleLoadData -> %p (%zu bytes of text)", (void *)m, strlen(text));
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuModuleLoadData);

static CUresult fc_cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
    REQUIRE_CTX();
    if (hfunc == NULL || name == NULL || name[0] == '\0')
        return CUDA_ERROR_INVALID_VALUE;
    if (!module_valid(hmod))
        return CUDA_ERROR_INVALID_HANDLE;
    if (strstr(hmod->text, name) == NULL)
        return CUDA_ERROR_NOT_FOUND;
    pthread_mutex_lock(&g_lock);
    CUfunction f = NULL;
    for (size_t i = 0; i < hmod->nfuncs; i++)
        if (strcmp(hmod->funcs[i].name, name) == 0)
            f = &hmod->funcs[i];
    if (f == NULL && hmod->nfuncs < MODULE_MAX_FUNCS) {
        char *copy = strdup(name);
        if (copy != NULL) {
            f = &hmod->funcs[hmod->nfuncs++];
            f->module = hmod;
            f->name = copy;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (f == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *hfunc = f;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuModuleGetFunction);

/* Kept, marked dead (like streams), so a stale handle is refused rather than read after free. */
static CUresult fc_cuModuleUnload(CUmodule hmod)
{
    REQUIRE_CTX();
    if (!module_valid(hmod))
        return CUDA_ERROR_INVALID_HANDLE;
    hmod->dead = 1;
    free(hmod->text);
    hmod->text = NULL;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuModuleUnload);

/* A module file is read like an image: its text names its kernels. */
static CUresult fc_cuModuleLoad(CUmodule *module, const char *fname)
{
    REQUIRE_CTX();
    if (module == NULL || fname == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    FILE *f = fopen(fname, "rb");
    if (f == NULL)
        return CUDA_ERROR_FILE_NOT_FOUND;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int c;
    while (mem != NULL && (c = fgetc(f)) != EOF)
        fputc(c, mem);
    fclose(f);
    if (mem == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    fclose(mem);
    CUresult rc = fc_cuModuleLoadData(module, text);
    free(text);
    return rc;
}
FAKE_EXPORT(cuModuleLoad);

/* JIT options change nothing: nothing is compiled. */
static CUresult fc_cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                      int *options, void **optionValues)
{
    if (numOptions != 0 && (options == NULL || optionValues == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    return fc_cuModuleLoadData(module, image);
}
FAKE_EXPORT(cuModuleLoadDataEx);

/* Linking needs a JIT, which the fake does not have. */
static CUresult fc_cuLinkCreate_v2(unsigned int numOptions, int *options, void **optionValues,
                                   CUlinkState *stateOut)
{
    (void)numOptions, (void)options, (void)optionValues;
    REQUIRE_CTX();
    if (stateOut == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(cuLinkCreate_v2);

static CUresult fc_cuLinkAddData_v2(CUlinkState state, int type, void *data, size_t size,
                                    const char *name, unsigned int numOptions, int *options,
                                    void **optionValues)
{
    (void)type, (void)data, (void)size, (void)name, (void)numOptions, (void)options,
        (void)optionValues;
    REQUIRE_CTX();
    return state == NULL ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(cuLinkAddData_v2);

static CUresult fc_cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    (void)cubinOut, (void)sizeOut;
    REQUIRE_CTX();
    return state == NULL ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(cuLinkComplete);

static int func_valid(CUfunction f) { return f != NULL && module_valid(f->module); }

#define CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK 0
#define CU_FUNC_ATTRIBUTE_NUM_REGS 4
#define CU_FUNC_ATTRIBUTE_PTX_VERSION 5
#define CU_FUNC_ATTRIBUTE_BINARY_VERSION 6
#define CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES 8
#define CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT 9
#define CU_FUNC_ATTRIBUTE_MAX 17

/* What a small kernel for compute capability 8.6 reports. */
static CUresult fc_cuFuncGetAttribute(int *pi, int attrib, CUfunction hfunc)
{
    REQUIRE_CTX();
    if (pi == NULL || attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    if (!func_valid(hfunc))
        return CUDA_ERROR_INVALID_HANDLE;
    int v = 0;
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: v = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: v = 86; break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: v = 86; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: v = 49152; break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: v = -1; break;
    default: break;
    }
    *pi = v;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuFuncGetAttribute);

static CUresult fc_cuFuncSetAttribute(CUfunction hfunc, int attrib, int value)
{
    REQUIRE_CTX();
    if (!func_valid(hfunc))
        return CUDA_ERROR_INVALID_HANDLE;
    if (attrib != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES &&
        attrib != CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
        return CUDA_ERROR_INVALID_VALUE;
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES && (value < 0 || value > 101376))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuFuncSetAttribute);

static CUresult fc_cuFuncSetCacheConfig(CUfunction hfunc, int config)
{
    REQUIRE_CTX();
    if (!func_valid(hfunc))
        return CUDA_ERROR_INVALID_HANDLE;
    return config < 0 || config > 3 ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}
FAKE_EXPORT(cuFuncSetCacheConfig);

static CUresult fc_cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
                                                               int blockSize,
                                                               size_t dynamicSMemSize)
{
    (void)dynamicSMemSize;
    REQUIRE_CTX();
    if (numBlocks == NULL || blockSize <= 0 || blockSize > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    if (!func_valid(func))
        return CUDA_ERROR_INVALID_HANDLE;
    int n = 2048 / blockSize;
    *numBlocks = n > 16 ? 16 : n;
    return CUDA_SUCCESS;
}
FAKE_EXPORT(cuOccupancyMaxActiveBlocksPerMultiprocessor);

static CUresult fc_cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
                                             unsigned int gridDimY, unsigned int gridDimZ,
                                             unsigned int blockDimX, unsigned int blockDimY,
                                             unsigned int blockDimZ, unsigned int sharedMemBytes,
                                             CUstream hStream, void **kernelParams)
{
    return fc_cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                             sharedMemBytes, hStream, kernelParams, NULL);
}
FAKE_EXPORT(cuLaunchCooperativeKernel);

/* Tensor maps describe TMA copies, which need a Hopper GPU; this device is compute 8.6. */
static CUresult fc_cuTensorMapEncodeTiled(void *tensorMap, int dataType, unsigned int rank,
                                          void *globalAddress, const cuuint64_t *globalDim,
                                          const cuuint64_t *globalStrides,
                                          const unsigned int *boxDim,
                                          const unsigned int *elementStrides, int interleave,
                                          int swizzle, int l2Promotion, int oobFill)
{
    (void)tensorMap, (void)dataType, (void)rank, (void)globalAddress, (void)globalDim,
        (void)globalStrides, (void)boxDim, (void)elementStrides, (void)interleave, (void)swizzle,
        (void)l2Promotion, (void)oobFill;
    return CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(cuTensorMapEncodeTiled);

size_t fakeCudaBytesInUse(void)
{
    pthread_mutex_lock(&g_lock);
    size_t used = g_used - (cur_dev() == 0 ? g_other_bytes : 0);
    pthread_mutex_unlock(&g_lock);
    return used;
}

/* For the fake NVML: this process's bytes charged to device `dev` (its context counts nothing,
 * as cuMemGetInfo's free says), or -1 before cuInit (no context, so NVML would not list it). */
long long fakeCudaProcessBytes(int dev)
{
    if (!initialized() || dev < 0 || dev >= g_ndevices)
        return -1;
    pthread_mutex_lock(&g_lock);
    size_t used = g_used_of[dev] - (dev == 0 ? g_other_bytes : 0);
    pthread_mutex_unlock(&g_lock);
    return (long long)used;
}

/* For the fake NVML: FAKE_CUDA_OTHER_BYTES as the driver read it (clamped to the capacity). */
size_t fakeCudaOtherBytes(void) { return g_other_bytes; }

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
    {CUDA_ERROR_ALREADY_MAPPED, "CUDA_ERROR_ALREADY_MAPPED", "resource already mapped"},
    {CUDA_ERROR_NOT_MAPPED, "CUDA_ERROR_NOT_MAPPED", "resource not mapped"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
     "part or all of the requested memory range is already mapped"},
    {CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
     "pointer does not correspond to a registered memory region"},
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
    P("cuDeviceGetPCIBusId", 4010, fc_cuDeviceGetPCIBusId),
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
    P("cuModuleLoadData", 2000, fc_cuModuleLoadData),
    P("cuModuleGetFunction", 2000, fc_cuModuleGetFunction),
    P("cuModuleUnload", 2000, fc_cuModuleUnload),
    P("cuModuleLoad", 2000, fc_cuModuleLoad),
    P("cuModuleLoadDataEx", 2010, fc_cuModuleLoadDataEx),
    P("cuLinkCreate", 6050, fc_cuLinkCreate_v2),
    P("cuLinkAddData", 6050, fc_cuLinkAddData_v2),
    P("cuLinkComplete", 5050, fc_cuLinkComplete),
    P("cuFuncGetAttribute", 2020, fc_cuFuncGetAttribute),
    P("cuFuncSetAttribute", 9000, fc_cuFuncSetAttribute),
    P("cuFuncSetCacheConfig", 3000, fc_cuFuncSetCacheConfig),
    P("cuOccupancyMaxActiveBlocksPerMultiprocessor", 6050,
      fc_cuOccupancyMaxActiveBlocksPerMultiprocessor),
    P("cuLaunchCooperativeKernel", 9000, fc_cuLaunchCooperativeKernel),
    P("cuTensorMapEncodeTiled", 12000, fc_cuTensorMapEncodeTiled),
    P("cuDevicePrimaryCtxGetState", 7000, fc_cuDevicePrimaryCtxGetState),
    P("cuMemcpyHtoDAsync", 3020, fc_cuMemcpyHtoDAsync_v2),
    P("cuMemcpyDtoHAsync", 3020, fc_cuMemcpyDtoHAsync_v2),
    P("cuMemcpyDtoDAsync", 3020, fc_cuMemcpyDtoDAsync_v2),
    P("cuDeviceGetDefaultMemPool", 11020, fc_cuDeviceGetDefaultMemPool),
    P("cuDeviceGetMemPool", 11020, fc_cuDeviceGetMemPool),
    P("cuDeviceSetMemPool", 11020, fc_cuDeviceSetMemPool),
    P("cuMemPoolCreate", 11020, fc_cuMemPoolCreate),
    P("cuMemPoolDestroy", 11020, fc_cuMemPoolDestroy),
    {"cuMemAllocFromPoolAsync", 11020, PER_THREAD_ONLY, (void *)fc_cuMemAllocFromPoolAsync_ptsz},
    {"cuMemAllocFromPoolAsync", 11020, NOT_PER_THREAD, (void *)fc_cuMemAllocFromPoolAsync},
    P("cuMemPoolTrimTo", 11020, fc_cuMemPoolTrimTo),
    P("cuMemPoolSetAttribute", 11020, fc_cuMemPoolSetAttribute),
    P("cuMemPoolGetAttribute", 11020, fc_cuMemPoolGetAttribute),
    P("cuMemGetAllocationGranularity", 10020, fc_cuMemGetAllocationGranularity),
    P("cuMemCreate", 10020, fc_cuMemCreate),
    P("cuMemRelease", 10020, fc_cuMemRelease),
    P("cuMemAddressReserve", 10020, fc_cuMemAddressReserve),
    P("cuMemAddressFree", 10020, fc_cuMemAddressFree),
    P("cuMemMap", 10020, fc_cuMemMap),
    P("cuMemUnmap", 10020, fc_cuMemUnmap),
    P("cuMemSetAccess", 10020, fc_cuMemSetAccess),
    P("cuMemGetAllocationPropertiesFromHandle", 10020, fc_cuMemGetAllocationPropertiesFromHandle),
    P("cuMemExportToShareableHandle", 10020, fc_cuMemExportToShareableHandle),
    P("cuMemImportFromShareableHandle", 10020, fc_cuMemImportFromShareableHandle),
    P("cuMemHostRegister", 6050, fc_cuMemHostRegister_v2),
    P("cuMemHostRegister", 4000, fc_cuMemHostRegister),
    P("cuMemHostUnregister", 4000, fc_cuMemHostUnregister),
    P("cuArrayCreate", 3020, fc_cuArrayCreate_v2),
    P("cuArray3DCreate", 3020, fc_cuArray3DCreate_v2),
    P("cuArrayDestroy", 2000, fc_cuArrayDestroy),
    P("cuMipmappedArrayCreate", 5000, fc_cuMipmappedArrayCreate),
    P("cuMipmappedArrayDestroy", 5000, fc_cuMipmappedArrayDestroy),
    P("cuGraphCreate", 10000, fc_cuGraphCreate),
    P("cuGraphDestroy", 10000, fc_cuGraphDestroy),
    P("cuGraphAddMemAllocNode", 11040, fc_cuGraphAddMemAllocNode),
    P("cuGraphAddMemFreeNode", 11040, fc_cuGraphAddMemFreeNode),
    P("cuGraphInstantiateWithFlags", 11040, fc_cuGraphInstantiateWithFlags),
    {"cuGraphLaunch", 10000, PER_THREAD_ONLY, (void *)fc_cuGraphLaunch_ptsz},
    {"cuGraphLaunch", 10000, NOT_PER_THREAD, (void *)fc_cuGraphLaunch},
    P("cuGraphExecDestroy", 10000, fc_cuGraphExecDestroy),
    P("cuDeviceGraphMemTrim", 11040, fc_cuDeviceGraphMemTrim),
    P("cuIpcGetMemHandle", 4010, fc_cuIpcGetMemHandle),
    P("cuIpcOpenMemHandle", 11000, fc_cuIpcOpenMemHandle_v2),
    P("cuIpcOpenMemHandle", 4010, fc_cuIpcOpenMemHandle),
    P("cuIpcCloseMemHandle", 4010, fc_cuIpcCloseMemHandle),
    P("cuMemGetAddressRange", 3020, fc_cuMemGetAddressRange_v2),
    P("cuStreamCreateWithPriority", 5050, fc_cuStreamCreateWithPriority),
    P("cuStreamGetPriority", 5050, fc_cuStreamGetPriority),
    P("cuStreamQuery", 2000, fc_cuStreamQuery),
    P("cuCtxGetStreamPriorityRange", 5050, fc_cuCtxGetStreamPriorityRange),
    P("cuEventCreate", 2000, fc_cuEventCreate),
    P("cuEventRecord", 2000, fc_cuEventRecord),
    P("cuEventRecordWithFlags", 11010, fc_cuEventRecordWithFlags),
    P("cuEventSynchronize", 2000, fc_cuEventSynchronize),
    P("cuEventQuery", 2000, fc_cuEventQuery),
    P("cuEventDestroy", 4000, fc_cuEventDestroy_v2),
    P("cuEventElapsedTime", 2000, fc_cuEventElapsedTime),
    P("cuStreamWaitEvent", 2000, fc_cuStreamWaitEvent),
    P("cuMemsetD8Async", 3020, fc_cuMemsetD8Async),
    P("cuMemsetD32", 3020, fc_cuMemsetD32_v2),
    P("cuMemsetD32Async", 3020, fc_cuMemsetD32Async),
    P("cuStreamWriteValue32", 12000, fc_cuStreamWriteValue32),
    P("cuPointerGetAttribute", 4000, fc_cuPointerGetAttribute),
    P("cuMemPoolSetAccess", 11020, fc_cuMemPoolSetAccess),
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
