/*
 * fake_cublaslt.c: a test double of cuBLASLt (libcublasLt.so.12) for machines without a GPU.
 *
 * PyTorch's libtorch_cuda.so links 11 cuBLASLt functions (the addmm / linear-with-bias path:
 * descriptors, one heuristic query, cublasLtMatmul) and is loaded with RTLD_NOW, so they must
 * all be defined. Here descriptors, layouts and preferences are opaque objects that are created,
 * validated and destroyed; their attributes are checked for a buffer and otherwise ignored. The
 * heuristic query always offers one algorithm needing no workspace, and cublasLtMatmul validates
 * its objects, counts the call (fakeCublasLtCallCount()) and computes NOTHING.
 *
 * PyTorch passes its cuBLAS handle (a cublasHandle_t from fake_cublas.c) as the
 * cublasLtHandle_t, as the real libraries allow, so any non-NULL light handle is accepted.
 *
 * No NVIDIA header is included: the types are stand-ins with the ABI of CUDA 12.8 cublasLt.h.
 * As in fake_cuda.c, every export is an alias of a static function fl_<name>.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The entry points take cuBLASLt's real parameter lists; the ones that only matter to a real
 * computation are deliberately ignored. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* Export `name` as an alias of the static implementation fl_<name>. */
#define FAKE_EXPORT(name) extern __typeof(fl_##name) name __attribute__((alias("fl_" #name)))

/* ------------------------------------------------------------------------------------------ */
/* Types and values (CUDA 12.8 cublasLt.h, cublas_api.h)                                       */

typedef int cublasStatus_t;
#define CUBLAS_STATUS_SUCCESS 0
#define CUBLAS_STATUS_NOT_INITIALIZED 1
#define CUBLAS_STATUS_ALLOC_FAILED 3
#define CUBLAS_STATUS_INVALID_VALUE 7

typedef int cublasComputeType_t;
typedef int cudaDataType_t;
typedef int cudaDataType;
typedef int cublasLtMatmulDescAttributes_t;
typedef int cublasLtMatrixLayoutAttribute_t;
typedef int cublasLtMatmulPreferenceAttributes_t;

typedef struct CUstream_st *cudaStream_t;
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct fake_lt_object *cublasLtMatmulDesc_t;
typedef struct fake_lt_object *cublasLtMatrixLayout_t;
typedef struct fake_lt_object *cublasLtMatmulPreference_t;

typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;

typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;

/* The caller allocates these arrays: the layout must be the real one. */
_Static_assert(sizeof(cublasLtMatmulAlgo_t) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
_Static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96,
               "cublasLtMatmulHeuristicResult_t is 96 bytes");
_Static_assert(offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize) == 64,
               "workspaceSize follows the algorithm");

#define CUBLASLT_VERSION 120804 /* 12.8.4, as in the cuBLASLt of PyTorch's CUDA 12.8 wheels */
#define OBJECT_MAGIC 0x544c5442u /* "BTLT" */

/* ------------------------------------------------------------------------------------------ */
/* Objects: a list of live ones under g_lock, so that an unknown, destroyed or wrong-kind      */
/* object is detected without reading freed memory. PyTorch creates and destroys a descriptor, */
/* three layouts and a preference per product, so few are ever live.                          */

enum kind { KIND_HANDLE = 1, KIND_MATMUL_DESC, KIND_LAYOUT, KIND_PREFERENCE };

struct fake_lt_object {
    uint32_t magic;
    enum kind kind;
    struct fake_lt_object *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_lt_object *g_objects;
static atomic_ullong g_matmuls;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* A forked child must not inherit g_lock held by another thread. Registered at the first
 * creation rather than in a constructor. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void atfork_release(void) { pthread_mutex_unlock(&g_lock); }
static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

static cublasStatus_t object_create(struct fake_lt_object **out, enum kind kind)
{
    if (out == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    pthread_once(&g_atfork_once, register_atfork);
    struct fake_lt_object *o = calloc(1, sizeof *o);
    if (o == NULL)
        return CUBLAS_STATUS_ALLOC_FAILED;
    o->magic = OBJECT_MAGIC;
    o->kind = kind;
    pthread_mutex_lock(&g_lock);
    o->next = g_objects;
    g_objects = o;
    pthread_mutex_unlock(&g_lock);
    *out = o;
    return CUBLAS_STATUS_SUCCESS;
}

/* Called with g_lock held: the link pointing at `o` if it is live and of `kind`, else NULL. */
static struct fake_lt_object **object_link(const void *o, enum kind kind)
{
    if (o == NULL)
        return NULL;
    for (struct fake_lt_object **link = &g_objects; *link != NULL; link = &(*link)->next)
        if (*link == o)
            return (*link)->magic == OBJECT_MAGIC && (*link)->kind == kind ? link : NULL;
    return NULL;
}

static int object_valid(const void *o, enum kind kind)
{
    pthread_mutex_lock(&g_lock);
    int ok = object_link(o, kind) != NULL;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* Removes and frees a live object of `kind`. Returns 0 (and changes nothing) otherwise. */
static int object_destroy(void *o, enum kind kind)
{
    pthread_mutex_lock(&g_lock);
    struct fake_lt_object **link = object_link(o, kind);
    if (link != NULL)
        *link = (*link)->next;
    pthread_mutex_unlock(&g_lock);
    if (link == NULL)
        return 0;
    ((struct fake_lt_object *)o)->magic = 0;
    free(o);
    return 1;
}

/* Destroying NULL is CUBLAS_STATUS_SUCCESS, as in cuBLASLt. */
static cublasStatus_t destroy_status(void *o, enum kind kind)
{
    if (o == NULL)
        return CUBLAS_STATUS_SUCCESS;
    return object_destroy(o, kind) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

/* Attributes are not stored: the object must be live and a non-empty value needs a buffer. */
static cublasStatus_t set_attribute(const void *o, enum kind kind, const void *buf, size_t size)
{
    if (!object_valid(o, kind) || (size > 0 && buf == NULL))
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles                                                                                     */

static cublasStatus_t fl_cublasLtCreate(cublasLtHandle_t *lightHandle)
{
    if (lightHandle == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    struct fake_lt_object *o;
    cublasStatus_t st = object_create(&o, KIND_HANDLE);
    if (st == CUBLAS_STATUS_SUCCESS)
        *lightHandle = (cublasLtHandle_t)o;
    return st;
}
FAKE_EXPORT(cublasLtCreate);

/* Only a handle from cublasLtCreate can be destroyed (not a cuBLAS handle used as one). */
static cublasStatus_t fl_cublasLtDestroy(cublasLtHandle_t lightHandle)
{
    return object_destroy(lightHandle, KIND_HANDLE) ? CUBLAS_STATUS_SUCCESS
                                                    : CUBLAS_STATUS_NOT_INITIALIZED;
}
FAKE_EXPORT(cublasLtDestroy);

static size_t fl_cublasLtGetVersion(void) { return CUBLASLT_VERSION; }
FAKE_EXPORT(cublasLtGetVersion);

/* ------------------------------------------------------------------------------------------ */
/* Descriptors, layouts, preferences                                                           */

static cublasStatus_t fl_cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc,
                                                  cublasComputeType_t computeType,
                                                  cudaDataType_t scaleType)
{
    return object_create(matmulDesc, KIND_MATMUL_DESC);
}
FAKE_EXPORT(cublasLtMatmulDescCreate);

static cublasStatus_t fl_cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)
{
    return destroy_status(matmulDesc, KIND_MATMUL_DESC);
}
FAKE_EXPORT(cublasLtMatmulDescDestroy);

static cublasStatus_t fl_cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                                        cublasLtMatmulDescAttributes_t attr,
                                                        const void *buf, size_t sizeInBytes)
{
    return set_attribute(matmulDesc, KIND_MATMUL_DESC, buf, sizeInBytes);
}
FAKE_EXPORT(cublasLtMatmulDescSetAttribute);

static cublasStatus_t fl_cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout,
                                                    cudaDataType type, uint64_t rows,
                                                    uint64_t cols, int64_t ld)
{
    return object_create(matLayout, KIND_LAYOUT);
}
FAKE_EXPORT(cublasLtMatrixLayoutCreate);

static cublasStatus_t fl_cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)
{
    return destroy_status(matLayout, KIND_LAYOUT);
}
FAKE_EXPORT(cublasLtMatrixLayoutDestroy);

static cublasStatus_t fl_cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,
                                                          cublasLtMatrixLayoutAttribute_t attr,
                                                          const void *buf, size_t sizeInBytes)
{
    return set_attribute(matLayout, KIND_LAYOUT, buf, sizeInBytes);
}
FAKE_EXPORT(cublasLtMatrixLayoutSetAttribute);

static cublasStatus_t fl_cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    return object_create(pref, KIND_PREFERENCE);
}
FAKE_EXPORT(cublasLtMatmulPreferenceCreate);

static cublasStatus_t fl_cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    return destroy_status(pref, KIND_PREFERENCE);
}
FAKE_EXPORT(cublasLtMatmulPreferenceDestroy);

static cublasStatus_t fl_cublasLtMatmulPreferenceSetAttribute(
    cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void *buf,
    size_t sizeInBytes)
{
    return set_attribute(pref, KIND_PREFERENCE, buf, sizeInBytes);
}
FAKE_EXPORT(cublasLtMatmulPreferenceSetAttribute);

/* ------------------------------------------------------------------------------------------ */
/* The product                                                                                 */

/* The checks the heuristic query and the product share: a handle, a live descriptor and four
 * live layouts (C and D may be the same one). */
static cublasStatus_t operation_check(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t desc,
                                      cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                      cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc)
{
    if (lightHandle == NULL)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    pthread_mutex_lock(&g_lock);
    int ok = object_link(desc, KIND_MATMUL_DESC) != NULL &&
             object_link(Adesc, KIND_LAYOUT) != NULL && object_link(Bdesc, KIND_LAYOUT) != NULL &&
             object_link(Cdesc, KIND_LAYOUT) != NULL && object_link(Ddesc, KIND_LAYOUT) != NULL;
    pthread_mutex_unlock(&g_lock);
    return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

/* Always one answer: a zeroed algorithm that needs no workspace (so it fits any preference). */
static cublasStatus_t fl_cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc,
    cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
    cublasLtMatmulPreference_t preference, int requestedAlgoCount,
    cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int *returnAlgoCount)
{
    cublasStatus_t st = operation_check(lightHandle, operationDesc, Adesc, Bdesc, Cdesc, Ddesc);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    if (!object_valid(preference, KIND_PREFERENCE) || requestedAlgoCount <= 0 ||
        heuristicResultsArray == NULL || returnAlgoCount == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    memset(&heuristicResultsArray[0], 0, sizeof heuristicResultsArray[0]);
    heuristicResultsArray[0].workspaceSize = 0;
    heuristicResultsArray[0].state = CUBLAS_STATUS_SUCCESS;
    heuristicResultsArray[0].wavesCount = 1.0f;
    *returnAlgoCount = 1;
    return CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasLtMatmulAlgoGetHeuristic);

/* Validates and counts; A, B, C and D are neither read nor written. algo may be NULL (cuBLASLt
 * then picks one itself). */
static cublasStatus_t fl_cublasLtMatmul(cublasLtHandle_t lightHandle,
                                        cublasLtMatmulDesc_t computeDesc, const void *alpha,
                                        const void *A, cublasLtMatrixLayout_t Adesc, const void *B,
                                        cublasLtMatrixLayout_t Bdesc, const void *beta,
                                        const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                                        cublasLtMatrixLayout_t Ddesc,
                                        const cublasLtMatmulAlgo_t *algo, void *workspace,
                                        size_t workspaceSizeInBytes, cudaStream_t stream)
{
    cublasStatus_t st = operation_check(lightHandle, computeDesc, Adesc, Bdesc, Cdesc, Ddesc);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    if (alpha == NULL || beta == NULL || (workspaceSizeInBytes > 0 && workspace == NULL))
        return CUBLAS_STATUS_INVALID_VALUE;
    atomic_fetch_add_explicit(&g_matmuls, 1, memory_order_relaxed);
    return CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasLtMatmul);

/* Not cuBLASLt: how many cublasLtMatmul calls returned CUBLAS_STATUS_SUCCESS. */
unsigned long long fakeCublasLtCallCount(void);
unsigned long long fakeCublasLtCallCount(void)
{
    return atomic_load_explicit(&g_matmuls, memory_order_relaxed);
}
