/*
 * nvtx_sampler: a fake diffusion sampler annotated with NVTX ranges, on the (fake) runtime. No GPU.
 *
 *     nvtx_sampler [--images N] [--steps N] [-q]
 *
 * A TEST DOUBLE for a program built with the NVTX v3 headers. There is no CUDA toolkit here, so
 * the program plays the headers' loader part itself, following the NVTX v3 injection protocol:
 * on start it reads NVTX_INJECTION64_PATH; when set, it dlopen()s that library, looks up
 * `InitializeInjectionNvtx2` and calls it with its own `getExportTable(id)`. For id 1
 * (NVTX_ETID_CALLBACKS) that returns { size_t struct_size; GetModuleFunctionTable }, whose
 * tables are arrays of pointers to this program's own function-pointer slots:
 *     module 1 (CORE), 16 slots:  MarkEx 1, MarkA 2, RangeStartEx 4, RangeStartA 5, RangeEnd 7,
 *                                 RangePushEx 8, RangePushA 9, RangePop 11;
 *     module 5 (CORE2), 16 slots: DomainMarkEx 1, DomainRangeStartEx 2, DomainRangeEnd 3,
 *                                 DomainRangePushEx 4, DomainRangePop 5,
 *                                 DomainRegisterStringA 10, DomainCreateA 12, DomainDestroy 14.
 * Slots start as no-ops; the injection overwrites those it implements. Every NVTX call below
 * goes through a slot, as the headers' inline functions do.
 *
 * Per image (default 4): nvtxDomainRangePushEx on the domain "sampler" with the ASCII message
 * "image" (nvtxEventAttributes_t version 2, 48 bytes), then per step (default 10):
 * nvtxRangePushA("step"); an 8 MiB scratch cudaMalloc (`step_scratch`); nvtxRangePushA("unet"),
 * nvtxRangePop; 3 MiB kept by `denoise_step` (the leak, never freed); the scratch freed;
 * nvtxRangePop. Then nvtxDomainRangePop. So a run opens "step" images x steps times, "image"
 * images times, and leaks 3 MiB per step.
 *
 * Output: one line per CUDA call (report.h), then `summary <images> <steps> <allocs> <frees>
 * <live bytes> <injected>`; injected is 1 when an injection library was loaded and initialized,
 * 0 when NVTX_INJECTION64_PATH is unset, -1 when loading or initializing failed (then, as with
 * the real headers, every NVTX call stays a no-op and the program runs on; a line on stderr
 * says why). -q prints only the summary. Exits 0 when every call returned cudaSuccess, 1
 * otherwise, 2 on a usage error.
 */
#define _GNU_SOURCE
#include "fake_cuda_runtime.h"
#include "report.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define MIB ((size_t)1 << 20)

/* --- The NVTX v3 types this program needs, as the headers define them. --- */

typedef void (*NvtxFunctionPointer)(void);
typedef const void *(*NvtxGetExportTableFunc_t)(uint32_t exportTableId);
typedef int (*NvtxInitializeInjectionNvtxFunc_t)(NvtxGetExportTableFunc_t exportTable);

#define NVTX_ETID_CALLBACKS 1
#define NVTX_CB_MODULE_CORE 1
#define NVTX_CB_MODULE_CORE2 5
#define NVTX_TABLE_SIZE 16

typedef struct nvtxDomainRegistration_st *nvtxDomainHandle_t;
typedef struct nvtxStringRegistration_st *nvtxStringHandle_t;
typedef uint64_t nvtxRangeId_t;

typedef struct {
    uint16_t version;
    uint16_t size;
    uint32_t category;
    int32_t colorType;
    uint32_t color;
    int32_t payloadType;
    int32_t reserved0;
    union {
        uint64_t ullValue;
        int64_t llValue;
        double dValue;
    } payload;
    int32_t messageType;
    union {
        const char *ascii;
        const void *unicode;
        nvtxStringHandle_t registered;
    } message;
} nvtxEventAttributes_t;

_Static_assert(sizeof(nvtxEventAttributes_t) == 48, "nvtxEventAttributes_t is 48 bytes");
_Static_assert(offsetof(nvtxEventAttributes_t, message) == 40, "message at offset 40");

#define NVTX_VERSION 2
#define NVTX_MESSAGE_TYPE_ASCII 1

typedef struct {
    size_t struct_size;
    int (*GetModuleFunctionTable)(int module, NvtxFunctionPointer ***out_table,
                                  unsigned int *out_size);
} NvtxExportTableCallbacks;

/* --- The slots, each starting as a no-op of the right signature. --- */

static void noop_mark_ex(const nvtxEventAttributes_t *a) { (void)a; }
static void noop_mark_a(const char *m) { (void)m; }
static nvtxRangeId_t noop_start_ex(const nvtxEventAttributes_t *a) { (void)a; return 0; }
static nvtxRangeId_t noop_start_a(const char *m) { (void)m; return 0; }
static void noop_end(nvtxRangeId_t id) { (void)id; }
static int noop_push_ex(const nvtxEventAttributes_t *a) { (void)a; return -2; }
static int noop_push_a(const char *m) { (void)m; return -2; }
static int noop_pop(void) { return -2; }
static void noop_d_mark_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    (void)a;
}
static nvtxRangeId_t noop_d_start_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    (void)a;
    return 0;
}
static void noop_d_end(nvtxDomainHandle_t d, nvtxRangeId_t id)
{
    (void)d;
    (void)id;
}
static int noop_d_push_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    (void)d;
    (void)a;
    return -2;
}
static int noop_d_pop(nvtxDomainHandle_t d) { (void)d; return -2; }
static nvtxStringHandle_t noop_d_register_a(nvtxDomainHandle_t d, const char *s)
{
    (void)d;
    (void)s;
    return NULL;
}
static nvtxDomainHandle_t noop_d_create_a(const char *name) { (void)name; return NULL; }
static void noop_d_destroy(nvtxDomainHandle_t d) { (void)d; }

static void (*nvtxMarkEx_slot)(const nvtxEventAttributes_t *) = noop_mark_ex;
static void (*nvtxMarkA_slot)(const char *) = noop_mark_a;
static nvtxRangeId_t (*nvtxRangeStartEx_slot)(const nvtxEventAttributes_t *) = noop_start_ex;
static nvtxRangeId_t (*nvtxRangeStartA_slot)(const char *) = noop_start_a;
static void (*nvtxRangeEnd_slot)(nvtxRangeId_t) = noop_end;
static int (*nvtxRangePushEx_slot)(const nvtxEventAttributes_t *) = noop_push_ex;
static int (*nvtxRangePushA_slot)(const char *) = noop_push_a;
static int (*nvtxRangePop_slot)(void) = noop_pop;
static void (*nvtxDomainMarkEx_slot)(nvtxDomainHandle_t, const nvtxEventAttributes_t *) =
    noop_d_mark_ex;
static nvtxRangeId_t (*nvtxDomainRangeStartEx_slot)(nvtxDomainHandle_t,
                                                    const nvtxEventAttributes_t *) =
    noop_d_start_ex;
static void (*nvtxDomainRangeEnd_slot)(nvtxDomainHandle_t, nvtxRangeId_t) = noop_d_end;
static int (*nvtxDomainRangePushEx_slot)(nvtxDomainHandle_t, const nvtxEventAttributes_t *) =
    noop_d_push_ex;
static int (*nvtxDomainRangePop_slot)(nvtxDomainHandle_t) = noop_d_pop;
static nvtxStringHandle_t (*nvtxDomainRegisterStringA_slot)(nvtxDomainHandle_t, const char *) =
    noop_d_register_a;
static nvtxDomainHandle_t (*nvtxDomainCreateA_slot)(const char *) = noop_d_create_a;
static void (*nvtxDomainDestroy_slot)(nvtxDomainHandle_t) = noop_d_destroy;

/* The tables the injection writes through: entry i points at the slot of function id i. */
static NvtxFunctionPointer *core_table[NVTX_TABLE_SIZE];
static NvtxFunctionPointer *core2_table[NVTX_TABLE_SIZE];

static void fill_tables(void)
{
#define SLOT(table, id, slot) table[id] = (NvtxFunctionPointer *)(void *)&(slot)
    SLOT(core_table, 1, nvtxMarkEx_slot);
    SLOT(core_table, 2, nvtxMarkA_slot);
    SLOT(core_table, 4, nvtxRangeStartEx_slot);
    SLOT(core_table, 5, nvtxRangeStartA_slot);
    SLOT(core_table, 7, nvtxRangeEnd_slot);
    SLOT(core_table, 8, nvtxRangePushEx_slot);
    SLOT(core_table, 9, nvtxRangePushA_slot);
    SLOT(core_table, 11, nvtxRangePop_slot);
    SLOT(core2_table, 1, nvtxDomainMarkEx_slot);
    SLOT(core2_table, 2, nvtxDomainRangeStartEx_slot);
    SLOT(core2_table, 3, nvtxDomainRangeEnd_slot);
    SLOT(core2_table, 4, nvtxDomainRangePushEx_slot);
    SLOT(core2_table, 5, nvtxDomainRangePop_slot);
    SLOT(core2_table, 10, nvtxDomainRegisterStringA_slot);
    SLOT(core2_table, 12, nvtxDomainCreateA_slot);
    SLOT(core2_table, 14, nvtxDomainDestroy_slot);
#undef SLOT
}

static int get_module_function_table(int module, NvtxFunctionPointer ***out_table,
                                     unsigned int *out_size)
{
    if (out_table == NULL || out_size == NULL)
        return 0;
    switch (module) {
    case NVTX_CB_MODULE_CORE:
        *out_table = core_table;
        break;
    case NVTX_CB_MODULE_CORE2:
        *out_table = core2_table;
        break;
    default:
        return 0;
    }
    *out_size = NVTX_TABLE_SIZE;
    return 1;
}

static const NvtxExportTableCallbacks callbacks = {
    sizeof(NvtxExportTableCallbacks),
    get_module_function_table,
};

static const void *get_export_table(uint32_t id)
{
    return id == NVTX_ETID_CALLBACKS ? (const void *)&callbacks : NULL;
}

/* Loads the injection named by NVTX_INJECTION64_PATH: 1 when loaded and initialized, 0 when the
 * variable is unset, -1 on failure. */
static int load_injection(void)
{
    const char *path = getenv("NVTX_INJECTION64_PATH");
    if (path == NULL || *path == '\0')
        return 0;
    fill_tables();
    void *lib = dlopen(path, RTLD_LAZY);
    if (lib == NULL) {
        fprintf(stderr, "nvtx_sampler: dlopen(%s): %s\n", path, dlerror());
        return -1;
    }
    NvtxInitializeInjectionNvtxFunc_t init =
        (NvtxInitializeInjectionNvtxFunc_t)dlsym(lib, "InitializeInjectionNvtx2");
    if (init == NULL) {
        fprintf(stderr, "nvtx_sampler: %s has no InitializeInjectionNvtx2\n", path);
        return -1;
    }
    /* As the headers do, a failed initialization leaves every slot a no-op. */
    return init(get_export_table) ? 1 : -1;
}

/* --- The sampler. --- */

static int quiet;
static int failures;
static unsigned long long allocs, frees, live;

static int after_malloc(const char *where, cudaError_t rc, void *p, size_t size)
{
    if (!quiet)
        report("cudaMalloc", rc, rc == cudaSuccess ? PTR(p) : 0, size);
    if (rc == cudaSuccess) {
        allocs++;
        live += size;
        return 0;
    }
    fprintf(stderr, "nvtx_sampler: %s: cudaMalloc(%zu) returned %d (%s)\n", where, size, rc,
            cudaGetErrorString(rc));
    failures++;
    return -1;
}

static void release(void *p, size_t size)
{
    if (p == NULL)
        return;
    cudaError_t rc = cudaFree(p);
    if (!quiet)
        report("cudaFree", rc, PTR(p), 0);
    if (rc == cudaSuccess) {
        frees++;
        live -= size;
    } else {
        fprintf(stderr, "nvtx_sampler: cudaFree returned %d (%s)\n", rc, cudaGetErrorString(rc));
        failures++;
    }
}

#define ALLOC(where, slot, size)                                                                \
    __extension__({                                                                             \
        cudaError_t rc_ = cudaMalloc(&(slot), size); /* before slot is read */                  \
        after_malloc(where, rc_, slot, size);                                                   \
    })

NOINLINE int step_scratch(void **out)
{
    *out = NULL;
    return ALLOC("step_scratch", *out, 8 * MIB);
}

/* The leak: 3 MiB per step that nothing frees. */
NOINLINE int denoise_step(void **out)
{
    *out = NULL;
    return ALLOC("denoise_step", *out, 3 * MIB);
}

static long parse_count(const char *flag, const char *v)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    if (v == NULL || *end != '\0' || n < 0) {
        fprintf(stderr, "nvtx_sampler: %s needs a count\n", flag);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    long images = 4, steps = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0) {
            images = parse_count("--images", i + 1 < argc ? argv[++i] : NULL);
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = parse_count("--steps", i + 1 < argc ? argv[++i] : NULL);
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else {
            fprintf(stderr, "usage: nvtx_sampler [--images N] [--steps N] [-q]\n");
            return 2;
        }
    }
    int injected = load_injection();

    nvtxDomainHandle_t domain = nvtxDomainCreateA_slot("sampler");
    nvtxEventAttributes_t image_attr;
    memset(&image_attr, 0, sizeof image_attr);
    image_attr.version = NVTX_VERSION;
    image_attr.size = (uint16_t)sizeof image_attr;
    image_attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
    image_attr.message.ascii = "image";

    for (long img = 0; img < images; img++) {
        nvtxDomainRangePushEx_slot(domain, &image_attr);
        for (long s = 0; s < steps; s++) {
            nvtxRangePushA_slot("step");
            void *scratch, *kept;
            step_scratch(&scratch);
            nvtxRangePushA_slot("unet");
            nvtxRangePop_slot();
            denoise_step(&kept); /* never freed */
            release(scratch, 8 * MIB);
            nvtxRangePop_slot();
        }
        nvtxDomainRangePop_slot(domain);
    }
    nvtxDomainDestroy_slot(domain);

    printf("summary %ld %ld %llu %llu %llu %d\n", images, steps, allocs, frees, live,
           injected);
    return failures ? 1 : 0;
}
