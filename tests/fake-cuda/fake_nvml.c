/*
 * fake_nvml.c: a test double of NVML (libnvidia-ml.so.1) for machines without a GPU.
 *
 * PyTorch's libc10_cuda.so dlopens "libnvidia-ml.so.1" and looks up seven functions, asserting
 * that each is found (nvmlInit_v2, nvmlDeviceGetHandleByPciBusId_v2,
 * nvmlDeviceGetNvLinkRemoteDeviceType, nvmlDeviceGetNvLinkRemotePciInfo_v2,
 * nvmlDeviceGetComputeRunningProcesses, nvmlSystemGetCudaDriverVersion_v2,
 * nvmlDeviceGetGpuFabricInfoV); the caching allocator calls some of them when it reports an out
 * of memory. libtorch_cuda.so looks up a few more (device count, handles by index and UUID, UUID,
 * P2P status, error strings, shutdown).
 *
 * It describes the fake driver's one device: index 0, "gpuleak fake GPU", PCI 00000000:01:00.0,
 * no NvLink, no fabric. Memory figures come from FAKE_CUDA_CAPACITY (parsed as fake_cuda.c
 * parses it) and FAKE_CUDA_OTHER_BYTES (another process); they do not follow the driver's
 * allocations, but the process list does (this process's bytes, asked of the fake driver).
 *
 * Initialisation is counted, as in NVML: every call but nvmlErrorString returns
 * NVML_ERROR_UNINITIALIZED before nvmlInit* and after the nvmlShutdown matching the last one.
 *
 * No NVIDIA header is included: the types are stand-ins with the ABI of nvml.h (CUDA 12.8). As in
 * fake_cuda.c, every export is an alias of a static function fn_<name>.
 */
#define _GNU_SOURCE

#include "fake_size.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Export `name` as an alias of the static implementation fn_<name>. */
#define FAKE_EXPORT(name) extern __typeof(fn_##name) name __attribute__((alias("fn_" #name)))
/* Export an older name of the same function (nvmlInit for nvmlInit_v2 ...). */
#define FAKE_EXPORT_AS(name, impl)                                                              \
    extern __typeof(fn_##impl) name __attribute__((alias("fn_" #impl)))

/* ------------------------------------------------------------------------------------------ */
/* Types and values (nvml.h)                                                                   */

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999

typedef int nvmlGpuP2PCapsIndex_t;
typedef int nvmlGpuP2PStatus_t;
#define NVML_P2P_STATUS_NOT_SUPPORTED 5

typedef int nvmlIntNvLinkDeviceType_t;

typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct nvmlMemory_st {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

/* Never written through these types (no NvLink, no fabric): only pointers to them are taken. */
typedef struct nvmlPciInfo_st nvmlPciInfo_t;
typedef struct nvmlProcessInfo_st nvmlProcessInfo_t;
typedef struct nvmlGpuFabricInfoV_st nvmlGpuFabricInfoV_t;

#define DEVICE_NAME "gpuleak fake GPU"
#define DEVICE_UUID "GPU-00000000-0000-0000-0000-000000000001"
#define DRIVER_VERSION "570.124.06"
#define CUDA_DRIVER_VERSION 12080 /* as cuDriverGetVersion in fake_cuda.c */
/* The device's PCI location, as fake_cuda.c reports it (CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 1). */
#define PCI_DOMAIN 0u
#define PCI_BUS 1u
#define PCI_DEVICE 0u
#define PCI_FUNCTION 0u
#define DEFAULT_CAPACITY (1ull << 30)
#define DEVICE_MAGIC 0x4c4d564eu /* "NVML" */

struct nvmlDevice_st {
    uint32_t magic;
};

static struct nvmlDevice_st g_device = {DEVICE_MAGIC};
static atomic_int g_init_count;

static int initialized(void) { return atomic_load(&g_init_count) > 0; }

static int device_valid(nvmlDevice_t d) { return d == &g_device && d->magic == DEVICE_MAGIC; }

#define REQUIRE_INIT()                                                                          \
    do {                                                                                        \
        if (!initialized())                                                                     \
            return NVML_ERROR_UNINITIALIZED;                                                    \
    } while (0)

/* Copies `s` with its NUL, or NVML_ERROR_INSUFFICIENT_SIZE if it does not fit in `length`. */
static nvmlReturn_t put_string(char *buf, unsigned int length, const char *s)
{
    if (buf == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    size_t n = strlen(s) + 1;
    if (length < n)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, n);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Capacity: FAKE_CUDA_CAPACITY, read once, parsed exactly as fake_cuda.c does (an invalid      */
/* value keeps 1 GiB; the driver already warns about it, so nothing is printed here).          */

static unsigned long long g_capacity = DEFAULT_CAPACITY;
static pthread_once_t g_capacity_once = PTHREAD_ONCE_INIT;


/* FAKE_CUDA_OTHER_BYTES and FAKE_CUDA_OTHER_PID, read with the capacity: another process on
 * the device, clamped to the capacity as the driver clamps it. */
static unsigned long long g_other_bytes;
#define DEFAULT_OTHER_PID 999999u
static unsigned int g_other_pid = DEFAULT_OTHER_PID;

static void read_capacity(void)
{
    const char *cap = getenv("FAKE_CUDA_CAPACITY");
    size_t v;
    if (cap != NULL && *cap != '\0' && fake_parse_size(cap, &v) && v > 0)
        g_capacity = v;
    const char *other = getenv("FAKE_CUDA_OTHER_BYTES");
    if (other != NULL && *other != '\0' && fake_parse_size(other, &v))
        g_other_bytes = v < g_capacity ? v : g_capacity;
    const char *pid = getenv("FAKE_CUDA_OTHER_PID");
    char *end = NULL;
    unsigned long p = pid != NULL ? strtoul(pid, &end, 10) : 0;
    if (pid != NULL && end != pid && *end == '\0' && p > 0 && p <= 0xFFFFFFFFul)
        g_other_pid = (unsigned int)p;
}

/* ------------------------------------------------------------------------------------------ */
/* Initialisation and errors                                                                   */

static nvmlReturn_t fn_nvmlInit_v2(void)
{
    atomic_fetch_add(&g_init_count, 1);
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlInit_v2);
FAKE_EXPORT_AS(nvmlInit, nvmlInit_v2);

/* Flags (NVML_INIT_FLAG_NO_GPUS, NVML_INIT_FLAG_NO_ATTACH) change nothing here. */
static nvmlReturn_t fn_nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return fn_nvmlInit_v2();
}
FAKE_EXPORT(nvmlInitWithFlags);

static nvmlReturn_t fn_nvmlShutdown(void)
{
    int n = atomic_load(&g_init_count);
    while (n > 0)
        if (atomic_compare_exchange_weak(&g_init_count, &n, n - 1))
            return NVML_SUCCESS;
    return NVML_ERROR_UNINITIALIZED;
}
FAKE_EXPORT(nvmlShutdown);

static const char *fn_nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 5: return "Already Initialized";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 8: return "Insufficient External Power";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 11: return "Interrupted request";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 14: return "Corrupted infoROM";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 17: return "The operating system has blocked the request";
    case 18: return "RM has detected an NVML/RM version mismatch";
    case 19: return "In use by another client";
    case 20: return "Insufficient Memory";
    case 21: return "No data";
    case 22: return "The requested vgpu operation is not available because ECC is enabled";
    case 23: return "Ran out of critical resources, other than memory";
    case 24: return "The requested frequency is not supported";
    case 25: return "The provided version is invalid/unsupported";
    case 26: return "The requested functionality has been deprecated";
    case 27: return "The system is not ready for the request";
    case 28: return "The GPU was not found";
    case 29: return "The state is invalid";
    default: return "Unknown Error";
    }
}
FAKE_EXPORT(nvmlErrorString);

/* ------------------------------------------------------------------------------------------ */
/* System                                                                                      */

static nvmlReturn_t fn_nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    REQUIRE_INIT();
    return put_string(version, length, DRIVER_VERSION);
}
FAKE_EXPORT(nvmlSystemGetDriverVersion);

static nvmlReturn_t fn_nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    REQUIRE_INIT();
    if (cudaDriverVersion == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *cudaDriverVersion = CUDA_DRIVER_VERSION;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlSystemGetCudaDriverVersion_v2);
FAKE_EXPORT_AS(nvmlSystemGetCudaDriverVersion, nvmlSystemGetCudaDriverVersion_v2);

/* ------------------------------------------------------------------------------------------ */
/* Finding the device                                                                          */

static nvmlReturn_t fn_nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    REQUIRE_INIT();
    if (deviceCount == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = 1;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetCount_v2);
FAKE_EXPORT_AS(nvmlDeviceGetCount, nvmlDeviceGetCount_v2);

static nvmlReturn_t fn_nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    REQUIRE_INIT();
    if (device == NULL || index != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_device;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetHandleByIndex_v2);
FAKE_EXPORT_AS(nvmlDeviceGetHandleByIndex, nvmlDeviceGetHandleByIndex_v2);

/* One hexadecimal field of 1 to 8 digits, then `sep` (or the end of the string for sep 0). */
static int hex_field(const char **p, char sep, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    int digits = 0;
    for (;; s++, digits++) {
        char c = *s;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        if (digits == 8)
            return 0;
        v = v * 16 + d;
    }
    if (digits == 0 || *s != sep)
        return 0;
    *p = sep != '\0' ? s + 1 : s;
    *out = v;
    return 1;
}

/* NVML takes "domain:bus:device.function" or "bus:device.function", in hexadecimal: both
 * "00000000:01:00.0" (NVML's own form) and "0000:01:00.0" (cudaDeviceGetPCIBusId's) name the
 * device, in either case. */
static int pci_bus_id_matches(const char *id)
{
    unsigned f[4];
    const char *p = id;
    if (hex_field(&p, ':', &f[0]) && hex_field(&p, ':', &f[1]) && hex_field(&p, '.', &f[2]) &&
        hex_field(&p, '\0', &f[3]))
        return f[0] == PCI_DOMAIN && f[1] == PCI_BUS && f[2] == PCI_DEVICE && f[3] == PCI_FUNCTION;
    p = id;
    if (hex_field(&p, ':', &f[1]) && hex_field(&p, '.', &f[2]) && hex_field(&p, '\0', &f[3]))
        return f[1] == PCI_BUS && f[2] == PCI_DEVICE && f[3] == PCI_FUNCTION;
    return 0;
}

static nvmlReturn_t fn_nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId,
                                                        nvmlDevice_t *device)
{
    REQUIRE_INIT();
    if (pciBusId == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!pci_bus_id_matches(pciBusId))
        return NVML_ERROR_NOT_FOUND;
    *device = &g_device;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetHandleByPciBusId_v2);
FAKE_EXPORT_AS(nvmlDeviceGetHandleByPciBusId, nvmlDeviceGetHandleByPciBusId_v2);

static nvmlReturn_t fn_nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    REQUIRE_INIT();
    if (uuid == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strcasecmp(uuid, DEVICE_UUID) != 0)
        return NVML_ERROR_NOT_FOUND;
    *device = &g_device;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetHandleByUUID);

/* ------------------------------------------------------------------------------------------ */
/* Device queries                                                                              */

#define REQUIRE_DEVICE(d)                                                                       \
    do {                                                                                        \
        REQUIRE_INIT();                                                                         \
        if (!device_valid(d))                                                                   \
            return NVML_ERROR_INVALID_ARGUMENT;                                                 \
    } while (0)

static nvmlReturn_t fn_nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    REQUIRE_DEVICE(device);
    return put_string(uuid, length, DEVICE_UUID);
}
FAKE_EXPORT(nvmlDeviceGetUUID);

static nvmlReturn_t fn_nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    REQUIRE_DEVICE(device);
    return put_string(name, length, DEVICE_NAME);
}
FAKE_EXPORT(nvmlDeviceGetName);

/* Total is the fake driver's capacity; used is what another process holds
 * (FAKE_CUDA_OTHER_BYTES) and nothing else: this process's allocations are not followed. */
static nvmlReturn_t fn_nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    REQUIRE_DEVICE(device);
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    pthread_once(&g_capacity_once, read_capacity);
    memory->total = g_capacity;
    memory->used = g_other_bytes;
    memory->free = g_capacity - g_other_bytes;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetMemoryInfo);

/* The processes using the device, as real NVML lists them: another process when
 * FAKE_CUDA_OTHER_BYTES is set (pid FAKE_CUDA_OTHER_PID), and this process once it has
 * initialised the fake driver (it has a context then), with the bytes the driver charged to it.
 * The fake context itself takes no memory (cuMemGetInfo's free starts at the capacity), so it
 * adds nothing; real NVML counts a context's few hundred MiB. Returns the count. */
static unsigned int list_processes(unsigned int pids[2], unsigned long long used[2])
{
    pthread_once(&g_capacity_once, read_capacity);
    unsigned int n = 0;
    if (g_other_bytes > 0) {
        pids[n] = g_other_pid;
        used[n++] = g_other_bytes;
    }
    /* The driver's own count, looked up in the loaded libcuda.so.1 only (never loads it). */
    void *cuda = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (cuda != NULL) {
        long long (*own)(int) = (long long (*)(int))dlsym(cuda, "fakeCudaProcessBytes");
        long long bytes = own != NULL ? own(0) : -1;
        dlclose(cuda);
        if (bytes >= 0) {
            pids[n] = (unsigned int)getpid();
            used[n++] = (unsigned long long)bytes;
        }
    }
    return n;
}

/* The three versions differ in the entry they fill: nvmlProcessInfo_v1_t (pid, usedGpuMemory;
 * 16 bytes, what PyTorch passes to the unversioned name), then nvmlProcessInfo_v2_t and
 * nvmlProcessInfo_t (_v3), which add gpuInstanceId and computeInstanceId (24 bytes; 0xFFFFFFFF
 * outside MIG). As in NVML: a count too small for the list is NVML_ERROR_INSUFFICIENT_SIZE with
 * the count needed; a NULL buffer is allowed only with a count of 0. */
static nvmlReturn_t running_processes(nvmlDevice_t device, unsigned int *infoCount, void *infos,
                                      size_t entry_size)
{
    REQUIRE_DEVICE(device);
    if (infoCount == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int pids[2];
    unsigned long long used[2];
    unsigned int n = list_processes(pids, used);
    if (*infoCount < n) {
        *infoCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    if (n > 0 && infos == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int i = 0; i < n; i++) {
        struct {
            unsigned int pid;
            unsigned long long usedGpuMemory;
            unsigned int gpuInstanceId;
            unsigned int computeInstanceId;
        } e = {pids[i], used[i], 0xFFFFFFFFu, 0xFFFFFFFFu};
        memcpy((char *)infos + i * entry_size, &e, entry_size);
    }
    *infoCount = n;
    return NVML_SUCCESS;
}

#define PROCESS_INFO_V1_SIZE 16
#define PROCESS_INFO_V2_SIZE 24

static nvmlReturn_t fn_nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                            unsigned int *infoCount,
                                                            nvmlProcessInfo_t *infos)
{
    return running_processes(device, infoCount, infos, PROCESS_INFO_V1_SIZE);
}
FAKE_EXPORT(nvmlDeviceGetComputeRunningProcesses);

static nvmlReturn_t fn_nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                               unsigned int *infoCount,
                                                               nvmlProcessInfo_t *infos)
{
    return running_processes(device, infoCount, infos, PROCESS_INFO_V2_SIZE);
}
FAKE_EXPORT(nvmlDeviceGetComputeRunningProcesses_v2);
FAKE_EXPORT_AS(nvmlDeviceGetComputeRunningProcesses_v3, nvmlDeviceGetComputeRunningProcesses_v2);

/* One device: no peer. The index is not checked. */
static nvmlReturn_t fn_nvmlDeviceGetP2PStatus(nvmlDevice_t device1, nvmlDevice_t device2,
                                              nvmlGpuP2PCapsIndex_t p2pIndex,
                                              nvmlGpuP2PStatus_t *p2pStatus)
{
    (void)p2pIndex;
    REQUIRE_INIT();
    if (!device_valid(device1) || !device_valid(device2) || p2pStatus == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *p2pStatus = NVML_P2P_STATUS_NOT_SUPPORTED;
    return NVML_SUCCESS;
}
FAKE_EXPORT(nvmlDeviceGetP2PStatus);

/* No NvLink. */
static nvmlReturn_t fn_nvmlDeviceGetNvLinkRemoteDeviceType(
    nvmlDevice_t device, unsigned int link, nvmlIntNvLinkDeviceType_t *pNvLinkDeviceType)
{
    (void)link;
    REQUIRE_DEVICE(device);
    if (pNvLinkDeviceType == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(nvmlDeviceGetNvLinkRemoteDeviceType);

static nvmlReturn_t fn_nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device,
                                                           unsigned int link, nvmlPciInfo_t *pci)
{
    (void)link;
    REQUIRE_DEVICE(device);
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(nvmlDeviceGetNvLinkRemotePciInfo_v2);

/* No multi-node NvLink fabric. */
static nvmlReturn_t fn_nvmlDeviceGetGpuFabricInfoV(nvmlDevice_t device,
                                                   nvmlGpuFabricInfoV_t *gpuFabricInfo)
{
    REQUIRE_DEVICE(device);
    if (gpuFabricInfo == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT(nvmlDeviceGetGpuFabricInfoV);
