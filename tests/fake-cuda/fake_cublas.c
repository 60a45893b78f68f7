/*
 * fake_cublas.c: a test double of cuBLAS (libcublas.so.12) for machines without a GPU.
 *
 * It exists so that a real PyTorch (2.9, CUDA 12.8 wheels) can load and run matrix products on
 * the fake driver: libtorch_cuda.so links 54 cuBLAS functions, and Python loads it with RTLD_NOW,
 * so every one must be defined even if a test never calls it. libtorch_cuda_linalg.so (loaded
 * when torch.linalg is first used) links 110 more, and the real libcusolver.so.11 it needs 77
 * more again; they are here too, so that loading linalg succeeds and its calls get an error
 * status rather than an undefined-symbol failure.
 *
 * It computes NOTHING. Handles keep what a caller can read back (stream, workspace, math and
 * pointer modes). The real-number GEMM / GEMV / dot entry points PyTorch's float, half and
 * bfloat16 paths use check the handle and the arguments as cuBLAS does (negative sizes, bad
 * operations, leading dimensions too small: CUBLAS_STATUS_INVALID_VALUE), count the call
 * (fakeCublasCallCount()) and return CUBLAS_STATUS_SUCCESS without reading or writing a matrix,
 * vector or result: device memory here is host memory, but its values mean nothing. Every other
 * entry point checks the handle and returns CUBLAS_STATUS_NOT_SUPPORTED.
 *
 * No NVIDIA header is included: the types below are minimal stand-ins with the ABI of CUDA 12.8
 * cublas_api.h (handles are pointers, enums are int), and every function has that header's
 * parameter list, so a caller's arguments are where it put them.
 *
 * Interposition: as in fake_cuda.c, every exported entry point is an alias of a static function
 * fb_<name>, and the library's own calls use the static names.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The entry points take cuBLAS's real parameter lists, and most of their parameters are
 * deliberately ignored (nothing is computed). */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* Export `name` as an alias of the static implementation fb_<name>. */
#define FAKE_EXPORT(name) extern __typeof(fb_##name) name __attribute__((alias("fb_" #name)))

/* ------------------------------------------------------------------------------------------ */
/* Types and values (CUDA 12.8 cublas_api.h, library_types.h)                                  */

typedef int cublasStatus_t;
#define CUBLAS_STATUS_SUCCESS 0
#define CUBLAS_STATUS_NOT_INITIALIZED 1
#define CUBLAS_STATUS_ALLOC_FAILED 3
#define CUBLAS_STATUS_INVALID_VALUE 7
#define CUBLAS_STATUS_ARCH_MISMATCH 8
#define CUBLAS_STATUS_MAPPING_ERROR 11
#define CUBLAS_STATUS_EXECUTION_FAILED 13
#define CUBLAS_STATUS_INTERNAL_ERROR 14
#define CUBLAS_STATUS_NOT_SUPPORTED 15
#define CUBLAS_STATUS_LICENSE_ERROR 16

typedef int cublasOperation_t;
#define CUBLAS_OP_N 0
#define CUBLAS_OP_T 1
#define CUBLAS_OP_C 2

typedef int cublasPointerMode_t;
#define CUBLAS_POINTER_MODE_HOST 0
#define CUBLAS_POINTER_MODE_DEVICE 1

typedef int cublasAtomicsMode_t;
#define CUBLAS_ATOMICS_NOT_ALLOWED 0
#define CUBLAS_ATOMICS_ALLOWED 1

typedef int cublasMath_t;
#define CUBLAS_DEFAULT_MATH 0
#define CUBLAS_TF32_TENSOR_OP_MATH 3 /* the largest mode: 0 default, 1 tensor op, 2 pedantic */
#define CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION 16

typedef int cublasFillMode_t;
typedef int cublasSideMode_t;
typedef int cublasDiagType_t;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;
typedef int cudaDataType;

typedef struct {
    float x, y;
} cuComplex;
typedef struct {
    double x, y;
} cuDoubleComplex;

typedef struct CUstream_st *cudaStream_t;
typedef struct cublasContext *cublasHandle_t;

#define CUBLAS_VERSION 120804 /* 12.8.4, as in the cuBLAS of PyTorch's CUDA 12.8 wheels */
#define HANDLE_MAGIC 0x53414c42u /* "BLAS" */
/* cuBLAS requires a user workspace aligned to 256 bytes. */
#define WORKSPACE_ALIGN 256u

/* ------------------------------------------------------------------------------------------ */
/* Handles: a list of live handles under g_lock, so that an unknown or destroyed handle is     */
/* detected without reading freed memory.                                                      */

struct cublasContext {
    uint32_t magic;
    struct cublasContext *next;
    cudaStream_t stream;
    void *workspace;
    size_t workspace_size;
    cublasMath_t math_mode;
    cublasPointerMode_t pointer_mode;
    cublasAtomicsMode_t atomics_mode;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cublasContext *g_handles;
static atomic_ullong g_calls;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* A forked child must not inherit g_lock held by another thread. Registered at the first
 * cublasCreate_v2 rather than in a constructor: a process that never creates a handle never
 * takes the lock. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void atfork_release(void) { pthread_mutex_unlock(&g_lock); }
static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* Called with g_lock held. */
static int handle_live(cublasHandle_t h)
{
    if (h == NULL)
        return 0;
    for (struct cublasContext *p = g_handles; p != NULL; p = p->next)
        if (p == h)
            return p->magic == HANDLE_MAGIC;
    return 0;
}

static int handle_valid(cublasHandle_t h)
{
    pthread_mutex_lock(&g_lock);
    int ok = handle_live(h);
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* What an unsupported entry point answers: cuBLAS checks the handle first. */
static cublasStatus_t unsupported(cublasHandle_t h)
{
    return handle_valid(h) ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_NOT_INITIALIZED;
}

static cublasStatus_t counted(void)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t fb_cublasCreate_v2(cublasHandle_t *handle)
{
    if (handle == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    pthread_once(&g_atfork_once, register_atfork);
    struct cublasContext *h = calloc(1, sizeof *h);
    if (h == NULL)
        return CUBLAS_STATUS_ALLOC_FAILED;
    h->magic = HANDLE_MAGIC;
    h->math_mode = CUBLAS_DEFAULT_MATH;
    h->pointer_mode = CUBLAS_POINTER_MODE_HOST;
    h->atomics_mode = CUBLAS_ATOMICS_NOT_ALLOWED;
    pthread_mutex_lock(&g_lock);
    h->next = g_handles;
    g_handles = h;
    pthread_mutex_unlock(&g_lock);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasCreate_v2);

static cublasStatus_t fb_cublasDestroy_v2(cublasHandle_t handle)
{
    pthread_mutex_lock(&g_lock);
    struct cublasContext **link = &g_handles;
    while (*link != NULL && *link != handle)
        link = &(*link)->next;
    if (handle == NULL || *link == NULL || handle->magic != HANDLE_MAGIC) {
        pthread_mutex_unlock(&g_lock);
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *link = handle->next;
    pthread_mutex_unlock(&g_lock);
    handle->magic = 0;
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasDestroy_v2);

/* Like the real one (cuBLAS 12), setting the stream drops a workspace set by
 * cublasSetWorkspace_v2: the handle goes back to its default workspace. The stream itself is not
 * checked (cuBLAS does not check it either). */
static cublasStatus_t fb_cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
{
    pthread_mutex_lock(&g_lock);
    int ok = handle_live(handle);
    if (ok) {
        handle->stream = streamId;
        handle->workspace = NULL;
        handle->workspace_size = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
FAKE_EXPORT(cublasSetStream_v2);

static cublasStatus_t fb_cublasGetStream_v2(cublasHandle_t handle, cudaStream_t *streamId)
{
    pthread_mutex_lock(&g_lock);
    int ok = handle_live(handle);
    if (ok && streamId != NULL)
        *streamId = handle->stream;
    pthread_mutex_unlock(&g_lock);
    if (!ok)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return streamId == NULL ? CUBLAS_STATUS_INVALID_VALUE : CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasGetStream_v2);

/* The workspace is only kept (nothing uses it). A size with no memory, or memory that is not
 * 256-byte aligned, is CUBLAS_STATUS_INVALID_VALUE, as in cuBLAS. (NULL, 0) is allowed. */
static cublasStatus_t fb_cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace,
                                               size_t workspaceSizeInBytes)
{
    pthread_mutex_lock(&g_lock);
    int ok = handle_live(handle);
    int bad = (workspaceSizeInBytes > 0 && workspace == NULL) ||
              ((uintptr_t)workspace % WORKSPACE_ALIGN) != 0;
    if (ok && !bad) {
        handle->workspace = workspace;
        handle->workspace_size = workspaceSizeInBytes;
    }
    pthread_mutex_unlock(&g_lock);
    if (!ok)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return bad ? CUBLAS_STATUS_INVALID_VALUE : CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasSetWorkspace_v2);

/* A setting kept per handle: the getter needs a live handle and somewhere to write; the
 * setter a live handle and a value `valid` accepts (else INVALID_VALUE, nothing changed). */
#define SETTING(getter, setter, type, field, valid)                                             \
    static cublasStatus_t fb_##getter(cublasHandle_t handle, type *out)                         \
    {                                                                                           \
        pthread_mutex_lock(&g_lock);                                                            \
        int ok = handle_live(handle);                                                           \
        if (ok && out != NULL)                                                                  \
            *out = handle->field;                                                               \
        pthread_mutex_unlock(&g_lock);                                                          \
        if (!ok)                                                                                \
            return CUBLAS_STATUS_NOT_INITIALIZED;                                               \
        return out == NULL ? CUBLAS_STATUS_INVALID_VALUE : CUBLAS_STATUS_SUCCESS;              \
    }                                                                                           \
    FAKE_EXPORT(getter);                                                                        \
    static cublasStatus_t fb_##setter(cublasHandle_t handle, type value)                        \
    {                                                                                           \
        int bad = !(valid(value));                                                              \
        pthread_mutex_lock(&g_lock);                                                            \
        int ok = handle_live(handle);                                                           \
        if (ok && !bad)                                                                         \
            handle->field = value;                                                              \
        pthread_mutex_unlock(&g_lock);                                                          \
        if (!ok)                                                                                \
            return CUBLAS_STATUS_NOT_INITIALIZED;                                               \
        return bad ? CUBLAS_STATUS_INVALID_VALUE : CUBLAS_STATUS_SUCCESS;                       \
    }                                                                                           \
    FAKE_EXPORT(setter)

/* A math mode is one of 0..3 (default, tensor op, pedantic, TF32), optionally or-ed with
 * CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION (16), which PyTorch sets. */
static int math_mode_valid(int mode)
{
    int base = mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    return base >= CUBLAS_DEFAULT_MATH && base <= CUBLAS_TF32_TENSOR_OP_MATH;
}

static int pointer_mode_valid(int mode)
{
    return mode == CUBLAS_POINTER_MODE_HOST || mode == CUBLAS_POINTER_MODE_DEVICE;
}

static int atomics_mode_valid(int mode)
{
    return mode == CUBLAS_ATOMICS_NOT_ALLOWED || mode == CUBLAS_ATOMICS_ALLOWED;
}

SETTING(cublasGetMathMode, cublasSetMathMode, cublasMath_t, math_mode, math_mode_valid);
SETTING(cublasGetPointerMode_v2, cublasSetPointerMode_v2, cublasPointerMode_t, pointer_mode,
        pointer_mode_valid);
/* cuSOLVER sets the atomics mode on the handles it creates. */
SETTING(cublasGetAtomicsMode, cublasSetAtomicsMode, cublasAtomicsMode_t, atomics_mode,
        atomics_mode_valid);

/* The handle is not needed (cuBLAS accepts NULL too). */
static cublasStatus_t fb_cublasGetVersion_v2(cublasHandle_t handle, int *version)
{
    if (version == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    *version = CUBLAS_VERSION;
    return CUBLAS_STATUS_SUCCESS;
}
FAKE_EXPORT(cublasGetVersion_v2);

static const char *fb_cublasGetStatusName(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}
FAKE_EXPORT(cublasGetStatusName);

static const char *fb_cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
    default: return "unknown error";
    }
}
FAKE_EXPORT(cublasGetStatusString);

/* ------------------------------------------------------------------------------------------ */
/* The real-number products PyTorch uses: checked and counted, never computed.                 */
/*                                                                                             */
/* Column-major, as cuBLAS: C (m x n) = op(A) op(B), op(A) m x k, op(B) k x n. A is stored     */
/* m x k when transa is N and k x m otherwise, so lda must be at least max(1, m) or max(1, k); */
/* the same for B with k and n; ldc at least max(1, m). These are the reference BLAS checks,   */
/* which cuBLAS makes (CUBLAS_STATUS_INVALID_VALUE).                                           */

static int op_valid(cublasOperation_t op)
{
    return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

static int at_least_1(int x) { return x > 1 ? x : 1; }

static cublasStatus_t gemm_check(cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int m, int n, int k, int lda, int ldb,
                                 int ldc, int batchCount)
{
    if (!handle_valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!op_valid(transa) || !op_valid(transb) || m < 0 || n < 0 || k < 0 || batchCount < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    int rows_a = transa == CUBLAS_OP_N ? m : k;
    int rows_b = transb == CUBLAS_OP_N ? k : n;
    if (lda < at_least_1(rows_a) || ldb < at_least_1(rows_b) || ldc < at_least_1(m))
        return CUBLAS_STATUS_INVALID_VALUE;
    return counted();
}

/* y = op(A) x: A is stored m x n whatever the operation, so lda >= max(1, m); the increments
 * must not be 0. */
static cublasStatus_t gemv_check(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                 int lda, int incx, int incy)
{
    if (!handle_valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!op_valid(trans) || m < 0 || n < 0 || lda < at_least_1(m) || incx == 0 || incy == 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    return counted();
}

/* As in BLAS, n <= 0 is not an error (the result would be 0). The result is not written. */
static cublasStatus_t dot_check(cublasHandle_t handle, const void *result)
{
    if (!handle_valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (result == NULL)
        return CUBLAS_STATUS_INVALID_VALUE;
    return counted();
}

static cublasStatus_t fb_cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k,
                                        const float *alpha, const float *A, int lda,
                                        const float *B, int ldb, const float *beta, float *C,
                                        int ldc)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, 1);
}
FAKE_EXPORT(cublasSgemm_v2);

static cublasStatus_t fb_cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k,
                                        const double *alpha, const double *A, int lda,
                                        const double *B, int ldb, const double *beta, double *C,
                                        int ldc)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, 1);
}
FAKE_EXPORT(cublasDgemm_v2);

static cublasStatus_t fb_cublasSgemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                       cublasOperation_t transb, int m, int n, int k,
                                       const float *alpha, const void *A, cudaDataType Atype,
                                       int lda, const void *B, cudaDataType Btype, int ldb,
                                       const float *beta, void *C, cudaDataType Ctype, int ldc)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, 1);
}
FAKE_EXPORT(cublasSgemmEx);

static cublasStatus_t fb_cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                      cublasOperation_t transb, int m, int n, int k,
                                      const void *alpha, const void *A, cudaDataType Atype,
                                      int lda, const void *B, cudaDataType Btype, int ldb,
                                      const void *beta, void *C, cudaDataType Ctype, int ldc,
                                      cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, 1);
}
FAKE_EXPORT(cublasGemmEx);

static cublasStatus_t fb_cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
    int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA,
    const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C,
    cudaDataType Ctype, int ldc, long long int strideC, int batchCount,
    cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, batchCount);
}
FAKE_EXPORT(cublasGemmStridedBatchedEx);

static cublasStatus_t fb_cublasSgemmStridedBatched(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
    int k, const float *alpha, const float *A, int lda, long long int strideA, const float *B,
    int ldb, long long int strideB, const float *beta, float *C, int ldc, long long int strideC,
    int batchCount)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, batchCount);
}
FAKE_EXPORT(cublasSgemmStridedBatched);

static cublasStatus_t fb_cublasDgemmStridedBatched(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
    int k, const double *alpha, const double *A, int lda, long long int strideA, const double *B,
    int ldb, long long int strideB, const double *beta, double *C, int ldc,
    long long int strideC, int batchCount)
{
    return gemm_check(handle, transa, transb, m, n, k, lda, ldb, ldc, batchCount);
}
FAKE_EXPORT(cublasDgemmStridedBatched);

static cublasStatus_t fb_cublasSgemv_v2(cublasHandle_t handle, cublasOperation_t trans, int m,
                                        int n, const float *alpha, const float *A, int lda,
                                        const float *x, int incx, const float *beta, float *y,
                                        int incy)
{
    return gemv_check(handle, trans, m, n, lda, incx, incy);
}
FAKE_EXPORT(cublasSgemv_v2);

static cublasStatus_t fb_cublasDgemv_v2(cublasHandle_t handle, cublasOperation_t trans, int m,
                                        int n, const double *alpha, const double *A, int lda,
                                        const double *x, int incx, const double *beta,
                                        double *y, int incy)
{
    return gemv_check(handle, trans, m, n, lda, incx, incy);
}
FAKE_EXPORT(cublasDgemv_v2);

static cublasStatus_t fb_cublasSdot_v2(cublasHandle_t handle, int n, const float *x, int incx,
                                       const float *y, int incy, float *result)
{
    return dot_check(handle, result);
}
FAKE_EXPORT(cublasSdot_v2);

static cublasStatus_t fb_cublasDdot_v2(cublasHandle_t handle, int n, const double *x, int incx,
                                       const double *y, int incy, double *result)
{
    return dot_check(handle, result);
}
FAKE_EXPORT(cublasDdot_v2);

static cublasStatus_t fb_cublasDotEx(cublasHandle_t handle, int n, const void *x,
                                     cudaDataType xType, int incx, const void *y,
                                     cudaDataType yType, int incy, void *result,
                                     cudaDataType resultType, cudaDataType executionType)
{
    return dot_check(handle, result);
}
FAKE_EXPORT(cublasDotEx);

/* Not cuBLAS: how many calls of the functions above returned CUBLAS_STATUS_SUCCESS. */
unsigned long long fakeCublasCallCount(void);
unsigned long long fakeCublasCallCount(void)
{
    return atomic_load_explicit(&g_calls, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------ */
/* Everything else: CUBLAS_STATUS_NOT_INITIALIZED for an invalid handle, otherwise             */
/* CUBLAS_STATUS_NOT_SUPPORTED. Each keeps its cublas_api.h parameter list.                    */

#define UNSUPPORTED(name, params)                                                               \
    static cublasStatus_t fb_##name params { return unsupported(handle); }                      \
    FAKE_EXPORT(name)

/* Needed by libtorch_cuda.so: complex products, triangular solves, batched factorizations. */
UNSUPPORTED(cublasCdotc_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                             const cuComplex *y, int incy, cuComplex *result));
UNSUPPORTED(cublasCdotu_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                             const cuComplex *y, int incy, cuComplex *result));
UNSUPPORTED(cublasCgelsBatched, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                 int nrhs, cuComplex *const Aarray[], int lda,
                                 cuComplex *const Carray[], int ldc, int *info, int *devInfoArray,
                                 int batchSize));
UNSUPPORTED(cublasCgemmStridedBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k,
                                        const cuComplex *alpha, const cuComplex *A, int lda,
                                        long long int strideA, const cuComplex *B, int ldb,
                                        long long int strideB, const cuComplex *beta, cuComplex *C,
                                        int ldc, long long int strideC, int batchCount));
UNSUPPORTED(cublasCgemm_v2, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int m, int n, int k, const cuComplex *alpha,
                             const cuComplex *A, int lda, const cuComplex *B, int ldb,
                             const cuComplex *beta, cuComplex *C, int ldc));
UNSUPPORTED(cublasCgemv_v2, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                             const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *x, int incx, const cuComplex *beta, cuComplex *y,
                             int incy));
UNSUPPORTED(cublasCgeqrfBatched, (cublasHandle_t handle, int m, int n, cuComplex *const Aarray[],
                                  int lda, cuComplex *const TauArray[], int *info, int batchSize));
UNSUPPORTED(cublasCgetrfBatched, (cublasHandle_t handle, int n, cuComplex *const A[], int lda,
                                  int *P, int *info, int batchSize));
UNSUPPORTED(cublasCgetrsBatched, (cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                  const cuComplex *const Aarray[], int lda, const int *devIpiv,
                                  cuComplex *const Barray[], int ldb, int *info, int batchSize));
UNSUPPORTED(cublasCtrsmBatched, (cublasHandle_t handle, cublasSideMode_t side,
                                 cublasFillMode_t uplo, cublasOperation_t trans,
                                 cublasDiagType_t diag, int m, int n, const cuComplex *alpha,
                                 const cuComplex *const A[], int lda, cuComplex *const B[], int ldb,
                                 int batchCount));
UNSUPPORTED(cublasCtrsm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const cuComplex *alpha, const cuComplex *A, int lda, cuComplex *B,
                             int ldb));
UNSUPPORTED(cublasDgelsBatched, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                 int nrhs, double *const Aarray[], int lda, double *const Carray[],
                                 int ldc, int *info, int *devInfoArray, int batchSize));
UNSUPPORTED(cublasDgeqrfBatched, (cublasHandle_t handle, int m, int n, double *const Aarray[],
                                  int lda, double *const TauArray[], int *info, int batchSize));
UNSUPPORTED(cublasDgetrfBatched, (cublasHandle_t handle, int n, double *const A[], int lda, int *P,
                                  int *info, int batchSize));
UNSUPPORTED(cublasDgetrsBatched, (cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                  const double *const Aarray[], int lda, const int *devIpiv,
                                  double *const Barray[], int ldb, int *info, int batchSize));
UNSUPPORTED(cublasDtrsmBatched, (cublasHandle_t handle, cublasSideMode_t side,
                                 cublasFillMode_t uplo, cublasOperation_t trans,
                                 cublasDiagType_t diag, int m, int n, const double *alpha,
                                 const double *const A[], int lda, double *const B[], int ldb,
                                 int batchCount));
UNSUPPORTED(cublasDtrsm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const double *alpha, const double *A, int lda, double *B, int ldb));
UNSUPPORTED(cublasSgelsBatched, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                 int nrhs, float *const Aarray[], int lda, float *const Carray[],
                                 int ldc, int *info, int *devInfoArray, int batchSize));
UNSUPPORTED(cublasSgeqrfBatched, (cublasHandle_t handle, int m, int n, float *const Aarray[],
                                  int lda, float *const TauArray[], int *info, int batchSize));
UNSUPPORTED(cublasSgetrfBatched, (cublasHandle_t handle, int n, float *const A[], int lda, int *P,
                                  int *info, int batchSize));
UNSUPPORTED(cublasSgetrsBatched, (cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                  const float *const Aarray[], int lda, const int *devIpiv,
                                  float *const Barray[], int ldb, int *info, int batchSize));
UNSUPPORTED(cublasStrsmBatched, (cublasHandle_t handle, cublasSideMode_t side,
                                 cublasFillMode_t uplo, cublasOperation_t trans,
                                 cublasDiagType_t diag, int m, int n, const float *alpha,
                                 const float *const A[], int lda, float *const B[], int ldb,
                                 int batchCount));
UNSUPPORTED(cublasStrsm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const float *alpha, const float *A, int lda, float *B, int ldb));
UNSUPPORTED(cublasZdotc_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                             const cuDoubleComplex *y, int incy, cuDoubleComplex *result));
UNSUPPORTED(cublasZdotu_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                             const cuDoubleComplex *y, int incy, cuDoubleComplex *result));
UNSUPPORTED(cublasZgelsBatched, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                 int nrhs, cuDoubleComplex *const Aarray[], int lda,
                                 cuDoubleComplex *const Carray[], int ldc, int *info,
                                 int *devInfoArray, int batchSize));
UNSUPPORTED(cublasZgemmStridedBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                        cublasOperation_t transb, int m, int n, int k,
                                        const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                                        int lda, long long int strideA, const cuDoubleComplex *B,
                                        int ldb, long long int strideB, const cuDoubleComplex *beta,
                                        cuDoubleComplex *C, int ldc, long long int strideC,
                                        int batchCount));
UNSUPPORTED(cublasZgemm_v2, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int m, int n, int k,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             const cuDoubleComplex *B, int ldb, const cuDoubleComplex *beta,
                             cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZgemv_v2, (cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             const cuDoubleComplex *x, int incx, const cuDoubleComplex *beta,
                             cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZgeqrfBatched, (cublasHandle_t handle, int m, int n,
                                  cuDoubleComplex *const Aarray[], int lda,
                                  cuDoubleComplex *const TauArray[], int *info, int batchSize));
UNSUPPORTED(cublasZgetrfBatched, (cublasHandle_t handle, int n, cuDoubleComplex *const A[], int lda,
                                  int *P, int *info, int batchSize));
UNSUPPORTED(cublasZgetrsBatched, (cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                  const cuDoubleComplex *const Aarray[], int lda,
                                  const int *devIpiv, cuDoubleComplex *const Barray[], int ldb,
                                  int *info, int batchSize));
UNSUPPORTED(cublasZtrsmBatched, (cublasHandle_t handle, cublasSideMode_t side,
                                 cublasFillMode_t uplo, cublasOperation_t trans,
                                 cublasDiagType_t diag, int m, int n, const cuDoubleComplex *alpha,
                                 const cuDoubleComplex *const A[], int lda,
                                 cuDoubleComplex *const B[], int ldb, int batchCount));
UNSUPPORTED(cublasZtrsm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             cuDoubleComplex *B, int ldb));

/* Needed only by libtorch_cuda_linalg.so (and MAGMA inside it): the rest of levels 1-3. */
UNSUPPORTED(cublasCaxpy_v2, (cublasHandle_t handle, int n, const cuComplex *alpha,
                             const cuComplex *x, int incx, cuComplex *y, int incy));
UNSUPPORTED(cublasCcopy_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                             cuComplex *y, int incy));
UNSUPPORTED(cublasCgemmBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int m, int n, int k,
                                 const cuComplex *alpha, const cuComplex *const Aarray[], int lda,
                                 const cuComplex *const Barray[], int ldb, const cuComplex *beta,
                                 cuComplex *const Carray[], int ldc, int batchCount));
UNSUPPORTED(cublasCgerc_v2, (cublasHandle_t handle, int m, int n, const cuComplex *alpha,
                             const cuComplex *x, int incx, const cuComplex *y, int incy,
                             cuComplex *A, int lda));
UNSUPPORTED(cublasCgeru_v2, (cublasHandle_t handle, int m, int n, const cuComplex *alpha,
                             const cuComplex *x, int incx, const cuComplex *y, int incy,
                             cuComplex *A, int lda));
UNSUPPORTED(cublasChemm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *B, int ldb, const cuComplex *beta, cuComplex *C,
                             int ldc));
UNSUPPORTED(cublasChemv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *x, int incx, const cuComplex *beta, cuComplex *y,
                             int incy));
UNSUPPORTED(cublasCher2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuComplex *alpha, const cuComplex *x, int incx,
                             const cuComplex *y, int incy, cuComplex *A, int lda));
UNSUPPORTED(cublasCher2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const cuComplex *alpha, const cuComplex *A, int lda,
                              const cuComplex *B, int ldb, const float *beta, cuComplex *C,
                              int ldc));
UNSUPPORTED(cublasCher_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n, const float *alpha,
                            const cuComplex *x, int incx, cuComplex *A, int lda));
UNSUPPORTED(cublasCherk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const float *alpha, const cuComplex *A, int lda,
                             const float *beta, cuComplex *C, int ldc));
UNSUPPORTED(cublasCrot_v2, (cublasHandle_t handle, int n, cuComplex *x, int incx, cuComplex *y,
                            int incy, const float *c, const cuComplex *s));
UNSUPPORTED(cublasCrotg_v2, (cublasHandle_t handle, cuComplex *a, cuComplex *b, float *c,
                             cuComplex *s));
UNSUPPORTED(cublasCscal_v2, (cublasHandle_t handle, int n, const cuComplex *alpha, cuComplex *x,
                             int incx));
UNSUPPORTED(cublasCsrot_v2, (cublasHandle_t handle, int n, cuComplex *x, int incx, cuComplex *y,
                             int incy, const float *c, const float *s));
UNSUPPORTED(cublasCsscal_v2, (cublasHandle_t handle, int n, const float *alpha, cuComplex *x,
                              int incx));
UNSUPPORTED(cublasCswap_v2, (cublasHandle_t handle, int n, cuComplex *x, int incx, cuComplex *y,
                             int incy));
UNSUPPORTED(cublasCsymm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *B, int ldb, const cuComplex *beta, cuComplex *C,
                             int ldc));
UNSUPPORTED(cublasCsymv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *x, int incx, const cuComplex *beta, cuComplex *y,
                             int incy));
UNSUPPORTED(cublasCsyr2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuComplex *alpha, const cuComplex *x, int incx,
                             const cuComplex *y, int incy, cuComplex *A, int lda));
UNSUPPORTED(cublasCsyr2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const cuComplex *alpha, const cuComplex *A, int lda,
                              const cuComplex *B, int ldb, const cuComplex *beta, cuComplex *C,
                              int ldc));
UNSUPPORTED(cublasCsyr_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                            const cuComplex *alpha, const cuComplex *x, int incx, cuComplex *A,
                            int lda));
UNSUPPORTED(cublasCsyrk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *beta, cuComplex *C, int ldc));
UNSUPPORTED(cublasCtrmm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const cuComplex *alpha, const cuComplex *A, int lda,
                             const cuComplex *B, int ldb, cuComplex *C, int ldc));
UNSUPPORTED(cublasCtrmv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const cuComplex *A, int lda,
                             cuComplex *x, int incx));
UNSUPPORTED(cublasCtrsv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const cuComplex *A, int lda,
                             cuComplex *x, int incx));
UNSUPPORTED(cublasDasum_v2, (cublasHandle_t handle, int n, const double *x, int incx,
                             double *result));
UNSUPPORTED(cublasDaxpy_v2, (cublasHandle_t handle, int n, const double *alpha, const double *x,
                             int incx, double *y, int incy));
UNSUPPORTED(cublasDcopy_v2, (cublasHandle_t handle, int n, const double *x, int incx, double *y,
                             int incy));
UNSUPPORTED(cublasDgemmBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int m, int n, int k, const double *alpha,
                                 const double *const Aarray[], int lda,
                                 const double *const Barray[], int ldb, const double *beta,
                                 double *const Carray[], int ldc, int batchCount));
UNSUPPORTED(cublasDger_v2, (cublasHandle_t handle, int m, int n, const double *alpha,
                            const double *x, int incx, const double *y, int incy, double *A,
                            int lda));
UNSUPPORTED(cublasDnrm2_v2, (cublasHandle_t handle, int n, const double *x, int incx,
                             double *result));
UNSUPPORTED(cublasDrot_v2, (cublasHandle_t handle, int n, double *x, int incx, double *y, int incy,
                            const double *c, const double *s));
UNSUPPORTED(cublasDrotg_v2, (cublasHandle_t handle, double *a, double *b, double *c, double *s));
UNSUPPORTED(cublasDrotm_v2, (cublasHandle_t handle, int n, double *x, int incx, double *y, int incy,
                             const double *param));
UNSUPPORTED(cublasDrotmg_v2, (cublasHandle_t handle, double *d1, double *d2, double *x1,
                              const double *y1, double *param));
UNSUPPORTED(cublasDscal_v2, (cublasHandle_t handle, int n, const double *alpha, double *x,
                             int incx));
UNSUPPORTED(cublasDswap_v2, (cublasHandle_t handle, int n, double *x, int incx, double *y,
                             int incy));
UNSUPPORTED(cublasDsymm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const double *alpha, const double *A, int lda,
                             const double *B, int ldb, const double *beta, double *C, int ldc));
UNSUPPORTED(cublasDsymv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const double *alpha, const double *A, int lda, const double *x,
                             int incx, const double *beta, double *y, int incy));
UNSUPPORTED(cublasDsyr2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const double *alpha, const double *x, int incx, const double *y,
                             int incy, double *A, int lda));
UNSUPPORTED(cublasDsyr2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const double *alpha, const double *A, int lda,
                              const double *B, int ldb, const double *beta, double *C, int ldc));
UNSUPPORTED(cublasDsyr_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                            const double *alpha, const double *x, int incx, double *A, int lda));
UNSUPPORTED(cublasDsyrk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const double *alpha, const double *A, int lda,
                             const double *beta, double *C, int ldc));
UNSUPPORTED(cublasDtrmm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const double *alpha, const double *A, int lda, const double *B,
                             int ldb, double *C, int ldc));
UNSUPPORTED(cublasDtrmv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const double *A, int lda, double *x,
                             int incx));
UNSUPPORTED(cublasDtrsv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const double *A, int lda, double *x,
                             int incx));
UNSUPPORTED(cublasDzasum_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                              double *result));
UNSUPPORTED(cublasDznrm2_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                              double *result));
UNSUPPORTED(cublasIcamax_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                              int *result));
UNSUPPORTED(cublasIcamin_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                              int *result));
UNSUPPORTED(cublasIdamax_v2, (cublasHandle_t handle, int n, const double *x, int incx,
                              int *result));
UNSUPPORTED(cublasIdamin_v2, (cublasHandle_t handle, int n, const double *x, int incx,
                              int *result));
UNSUPPORTED(cublasIsamax_v2, (cublasHandle_t handle, int n, const float *x, int incx, int *result));
UNSUPPORTED(cublasIsamin_v2, (cublasHandle_t handle, int n, const float *x, int incx, int *result));
UNSUPPORTED(cublasIzamax_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                              int *result));
UNSUPPORTED(cublasIzamin_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                              int *result));
UNSUPPORTED(cublasSasum_v2, (cublasHandle_t handle, int n, const float *x, int incx,
                             float *result));
UNSUPPORTED(cublasSaxpy_v2, (cublasHandle_t handle, int n, const float *alpha, const float *x,
                             int incx, float *y, int incy));
UNSUPPORTED(cublasScasum_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                              float *result));
UNSUPPORTED(cublasScnrm2_v2, (cublasHandle_t handle, int n, const cuComplex *x, int incx,
                              float *result));
UNSUPPORTED(cublasScopy_v2, (cublasHandle_t handle, int n, const float *x, int incx, float *y,
                             int incy));
UNSUPPORTED(cublasSgemmBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int m, int n, int k, const float *alpha,
                                 const float *const Aarray[], int lda, const float *const Barray[],
                                 int ldb, const float *beta, float *const Carray[], int ldc,
                                 int batchCount));
UNSUPPORTED(cublasSger_v2, (cublasHandle_t handle, int m, int n, const float *alpha, const float *x,
                            int incx, const float *y, int incy, float *A, int lda));
UNSUPPORTED(cublasSnrm2_v2, (cublasHandle_t handle, int n, const float *x, int incx,
                             float *result));
UNSUPPORTED(cublasSrot_v2, (cublasHandle_t handle, int n, float *x, int incx, float *y, int incy,
                            const float *c, const float *s));
UNSUPPORTED(cublasSrotg_v2, (cublasHandle_t handle, float *a, float *b, float *c, float *s));
UNSUPPORTED(cublasSrotm_v2, (cublasHandle_t handle, int n, float *x, int incx, float *y, int incy,
                             const float *param));
UNSUPPORTED(cublasSrotmg_v2, (cublasHandle_t handle, float *d1, float *d2, float *x1,
                              const float *y1, float *param));
UNSUPPORTED(cublasSscal_v2, (cublasHandle_t handle, int n, const float *alpha, float *x, int incx));
UNSUPPORTED(cublasSswap_v2, (cublasHandle_t handle, int n, float *x, int incx, float *y, int incy));
UNSUPPORTED(cublasSsymm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const float *alpha, const float *A, int lda,
                             const float *B, int ldb, const float *beta, float *C, int ldc));
UNSUPPORTED(cublasSsymv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const float *alpha, const float *A, int lda, const float *x, int incx,
                             const float *beta, float *y, int incy));
UNSUPPORTED(cublasSsyr2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const float *alpha, const float *x, int incx, const float *y, int incy,
                             float *A, int lda));
UNSUPPORTED(cublasSsyr2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const float *alpha, const float *A, int lda,
                              const float *B, int ldb, const float *beta, float *C, int ldc));
UNSUPPORTED(cublasSsyr_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n, const float *alpha,
                            const float *x, int incx, float *A, int lda));
UNSUPPORTED(cublasSsyrk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const float *alpha, const float *A, int lda,
                             const float *beta, float *C, int ldc));
UNSUPPORTED(cublasStrmm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const float *alpha, const float *A, int lda, const float *B, int ldb,
                             float *C, int ldc));
UNSUPPORTED(cublasStrmv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const float *A, int lda, float *x,
                             int incx));
UNSUPPORTED(cublasStrsv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const float *A, int lda, float *x,
                             int incx));
UNSUPPORTED(cublasZaxpy_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *alpha,
                             const cuDoubleComplex *x, int incx, cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZcopy_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *x, int incx,
                             cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZdrot_v2, (cublasHandle_t handle, int n, cuDoubleComplex *x, int incx,
                             cuDoubleComplex *y, int incy, const double *c, const double *s));
UNSUPPORTED(cublasZdscal_v2, (cublasHandle_t handle, int n, const double *alpha, cuDoubleComplex *x,
                              int incx));
UNSUPPORTED(cublasZgemmBatched, (cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int m, int n, int k,
                                 const cuDoubleComplex *alpha,
                                 const cuDoubleComplex *const Aarray[], int lda,
                                 const cuDoubleComplex *const Barray[], int ldb,
                                 const cuDoubleComplex *beta, cuDoubleComplex *const Carray[],
                                 int ldc, int batchCount));
UNSUPPORTED(cublasZgerc_v2, (cublasHandle_t handle, int m, int n, const cuDoubleComplex *alpha,
                             const cuDoubleComplex *x, int incx, const cuDoubleComplex *y, int incy,
                             cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZgeru_v2, (cublasHandle_t handle, int m, int n, const cuDoubleComplex *alpha,
                             const cuDoubleComplex *x, int incx, const cuDoubleComplex *y, int incy,
                             cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZhemm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                             int lda, const cuDoubleComplex *B, int ldb,
                             const cuDoubleComplex *beta, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZhemv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             const cuDoubleComplex *x, int incx, const cuDoubleComplex *beta,
                             cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZher2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *x, int incx,
                             const cuDoubleComplex *y, int incy, cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZher2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                              int lda, const cuDoubleComplex *B, int ldb, const double *beta,
                              cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZher_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                            const double *alpha, const cuDoubleComplex *x, int incx,
                            cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZherk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const double *alpha, const cuDoubleComplex *A, int lda,
                             const double *beta, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZrot_v2, (cublasHandle_t handle, int n, cuDoubleComplex *x, int incx,
                            cuDoubleComplex *y, int incy, const double *c,
                            const cuDoubleComplex *s));
UNSUPPORTED(cublasZrotg_v2, (cublasHandle_t handle, cuDoubleComplex *a, cuDoubleComplex *b,
                             double *c, cuDoubleComplex *s));
UNSUPPORTED(cublasZscal_v2, (cublasHandle_t handle, int n, const cuDoubleComplex *alpha,
                             cuDoubleComplex *x, int incx));
UNSUPPORTED(cublasZswap_v2, (cublasHandle_t handle, int n, cuDoubleComplex *x, int incx,
                             cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZsymm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             int m, int n, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                             int lda, const cuDoubleComplex *B, int ldb,
                             const cuDoubleComplex *beta, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZsymv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             const cuDoubleComplex *x, int incx, const cuDoubleComplex *beta,
                             cuDoubleComplex *y, int incy));
UNSUPPORTED(cublasZsyr2_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *x, int incx,
                             const cuDoubleComplex *y, int incy, cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZsyr2k_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                              int n, int k, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                              int lda, const cuDoubleComplex *B, int ldb,
                              const cuDoubleComplex *beta, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZsyr_v2, (cublasHandle_t handle, cublasFillMode_t uplo, int n,
                            const cuDoubleComplex *alpha, const cuDoubleComplex *x, int incx,
                            cuDoubleComplex *A, int lda));
UNSUPPORTED(cublasZsyrk_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             int n, int k, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                             int lda, const cuDoubleComplex *beta, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZtrmm_v2, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                             cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
                             const cuDoubleComplex *B, int ldb, cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZtrmv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const cuDoubleComplex *A, int lda,
                             cuDoubleComplex *x, int incx));
UNSUPPORTED(cublasZtrsv_v2, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                             cublasDiagType_t diag, int n, const cuDoubleComplex *A, int lda,
                             cuDoubleComplex *x, int incx));

/* Needed by libcusolver.so.11, which libtorch_cuda_linalg.so links: the 64-bit-index (_64)
 * variants, geam, dgmm, syrkx. */
UNSUPPORTED(cublasCcopy_v2_64, (cublasHandle_t handle, int64_t n, const cuComplex *x, int64_t incx,
                                cuComplex *y, int64_t incy));
UNSUPPORTED(cublasCdgmm, (cublasHandle_t handle, cublasSideMode_t mode, int m, int n,
                          const cuComplex *A, int lda, const cuComplex *x, int incx, cuComplex *C,
                          int ldc));
UNSUPPORTED(cublasCgeam_64, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int64_t m, int64_t n, const cuComplex *alpha,
                             const cuComplex *A, int64_t lda, const cuComplex *beta,
                             const cuComplex *B, int64_t ldb, cuComplex *C, int64_t ldc));
UNSUPPORTED(cublasCgemmStridedBatched_64, (cublasHandle_t handle, cublasOperation_t transa,
                                           cublasOperation_t transb, int64_t m, int64_t n,
                                           int64_t k, const cuComplex *alpha, const cuComplex *A,
                                           int64_t lda, long long int strideA, const cuComplex *B,
                                           int64_t ldb, long long int strideB,
                                           const cuComplex *beta, cuComplex *C, int64_t ldc,
                                           long long int strideC, int64_t batchCount));
UNSUPPORTED(cublasCgemm_v2_64, (cublasHandle_t handle, cublasOperation_t transa,
                                cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                const cuComplex *B, int64_t ldb, const cuComplex *beta,
                                cuComplex *C, int64_t ldc));
UNSUPPORTED(cublasCgemvStridedBatched_64, (cublasHandle_t handle, cublasOperation_t trans,
                                           int64_t m, int64_t n, const cuComplex *alpha,
                                           const cuComplex *A, int64_t lda, long long int strideA,
                                           const cuComplex *x, int64_t incx, long long int stridex,
                                           const cuComplex *beta, cuComplex *y, int64_t incy,
                                           long long int stridey, int64_t batchCount));
UNSUPPORTED(cublasCgemv_v2_64, (cublasHandle_t handle, cublasOperation_t trans, int64_t m,
                                int64_t n, const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                const cuComplex *x, int64_t incx, const cuComplex *beta,
                                cuComplex *y, int64_t incy));
UNSUPPORTED(cublasCgerc_v2_64, (cublasHandle_t handle, int64_t m, int64_t n, const cuComplex *alpha,
                                const cuComplex *x, int64_t incx, const cuComplex *y, int64_t incy,
                                cuComplex *A, int64_t lda));
UNSUPPORTED(cublasCgeru_v2_64, (cublasHandle_t handle, int64_t m, int64_t n, const cuComplex *alpha,
                                const cuComplex *x, int64_t incx, const cuComplex *y, int64_t incy,
                                cuComplex *A, int64_t lda));
UNSUPPORTED(cublasChemm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                int64_t m, int64_t n, const cuComplex *alpha, const cuComplex *A,
                                int64_t lda, const cuComplex *B, int64_t ldb, const cuComplex *beta,
                                cuComplex *C, int64_t ldc));
UNSUPPORTED(cublasChemv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo, int64_t n,
                                const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                const cuComplex *x, int64_t incx, const cuComplex *beta,
                                cuComplex *y, int64_t incy));
UNSUPPORTED(cublasCher2k_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                 cublasOperation_t trans, int64_t n, int64_t k,
                                 const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                 const cuComplex *B, int64_t ldb, const float *beta, cuComplex *C,
                                 int64_t ldc));
UNSUPPORTED(cublasCscal_v2_64, (cublasHandle_t handle, int64_t n, const cuComplex *alpha,
                                cuComplex *x, int64_t incx));
UNSUPPORTED(cublasCsrot_v2_64, (cublasHandle_t handle, int64_t n, cuComplex *x, int64_t incx,
                                cuComplex *y, int64_t incy, const float *c, const float *s));
UNSUPPORTED(cublasCsscal_v2_64, (cublasHandle_t handle, int64_t n, const float *alpha, cuComplex *x,
                                 int64_t incx));
UNSUPPORTED(cublasCswap_v2_64, (cublasHandle_t handle, int64_t n, cuComplex *x, int64_t incx,
                                cuComplex *y, int64_t incy));
UNSUPPORTED(cublasCsyrkx, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                           int n, int k, const cuComplex *alpha, const cuComplex *A, int lda,
                           const cuComplex *B, int ldb, const cuComplex *beta, cuComplex *C,
                           int ldc));
UNSUPPORTED(cublasCtrmm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                const cuComplex *B, int64_t ldb, cuComplex *C, int64_t ldc));
UNSUPPORTED(cublasCtrmv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t n,
                                const cuComplex *A, int64_t lda, cuComplex *x, int64_t incx));
UNSUPPORTED(cublasCtrsm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const cuComplex *alpha, const cuComplex *A, int64_t lda,
                                cuComplex *B, int64_t ldb));
UNSUPPORTED(cublasDcopy_v2_64, (cublasHandle_t handle, int64_t n, const double *x, int64_t incx,
                                double *y, int64_t incy));
UNSUPPORTED(cublasDdgmm, (cublasHandle_t handle, cublasSideMode_t mode, int m, int n,
                          const double *A, int lda, const double *x, int incx, double *C, int ldc));
UNSUPPORTED(cublasDgeam_64, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int64_t m, int64_t n, const double *alpha,
                             const double *A, int64_t lda, const double *beta, const double *B,
                             int64_t ldb, double *C, int64_t ldc));
UNSUPPORTED(cublasDgemmStridedBatched_64, (cublasHandle_t handle, cublasOperation_t transa,
                                           cublasOperation_t transb, int64_t m, int64_t n,
                                           int64_t k, const double *alpha, const double *A,
                                           int64_t lda, long long int strideA, const double *B,
                                           int64_t ldb, long long int strideB, const double *beta,
                                           double *C, int64_t ldc, long long int strideC,
                                           int64_t batchCount));
UNSUPPORTED(cublasDgemm_v2_64, (cublasHandle_t handle, cublasOperation_t transa,
                                cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                const double *alpha, const double *A, int64_t lda, const double *B,
                                int64_t ldb, const double *beta, double *C, int64_t ldc));
UNSUPPORTED(cublasDgemvStridedBatched_64, (cublasHandle_t handle, cublasOperation_t trans,
                                           int64_t m, int64_t n, const double *alpha,
                                           const double *A, int64_t lda, long long int strideA,
                                           const double *x, int64_t incx, long long int stridex,
                                           const double *beta, double *y, int64_t incy,
                                           long long int stridey, int64_t batchCount));
UNSUPPORTED(cublasDgemv_v2_64, (cublasHandle_t handle, cublasOperation_t trans, int64_t m,
                                int64_t n, const double *alpha, const double *A, int64_t lda,
                                const double *x, int64_t incx, const double *beta, double *y,
                                int64_t incy));
UNSUPPORTED(cublasDger_v2_64, (cublasHandle_t handle, int64_t m, int64_t n, const double *alpha,
                               const double *x, int64_t incx, const double *y, int64_t incy,
                               double *A, int64_t lda));
UNSUPPORTED(cublasDrot_v2_64, (cublasHandle_t handle, int64_t n, double *x, int64_t incx, double *y,
                               int64_t incy, const double *c, const double *s));
UNSUPPORTED(cublasDscal_v2_64, (cublasHandle_t handle, int64_t n, const double *alpha, double *x,
                                int64_t incx));
UNSUPPORTED(cublasDswap_v2_64, (cublasHandle_t handle, int64_t n, double *x, int64_t incx,
                                double *y, int64_t incy));
UNSUPPORTED(cublasDsymm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                int64_t m, int64_t n, const double *alpha, const double *A,
                                int64_t lda, const double *B, int64_t ldb, const double *beta,
                                double *C, int64_t ldc));
UNSUPPORTED(cublasDsymv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo, int64_t n,
                                const double *alpha, const double *A, int64_t lda, const double *x,
                                int64_t incx, const double *beta, double *y, int64_t incy));
UNSUPPORTED(cublasDsyr2k_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                 cublasOperation_t trans, int64_t n, int64_t k, const double *alpha,
                                 const double *A, int64_t lda, const double *B, int64_t ldb,
                                 const double *beta, double *C, int64_t ldc));
UNSUPPORTED(cublasDsyrkx, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                           int n, int k, const double *alpha, const double *A, int lda,
                           const double *B, int ldb, const double *beta, double *C, int ldc));
UNSUPPORTED(cublasDtrmm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const double *alpha, const double *A, int64_t lda,
                                const double *B, int64_t ldb, double *C, int64_t ldc));
UNSUPPORTED(cublasDtrmv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t n,
                                const double *A, int64_t lda, double *x, int64_t incx));
UNSUPPORTED(cublasDtrsm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const double *alpha, const double *A, int64_t lda,
                                double *B, int64_t ldb));
UNSUPPORTED(cublasScopy_v2_64, (cublasHandle_t handle, int64_t n, const float *x, int64_t incx,
                                float *y, int64_t incy));
UNSUPPORTED(cublasSdgmm, (cublasHandle_t handle, cublasSideMode_t mode, int m, int n,
                          const float *A, int lda, const float *x, int incx, float *C, int ldc));
UNSUPPORTED(cublasSgeam_64, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int64_t m, int64_t n, const float *alpha,
                             const float *A, int64_t lda, const float *beta, const float *B,
                             int64_t ldb, float *C, int64_t ldc));
UNSUPPORTED(cublasSgemmStridedBatched_64, (cublasHandle_t handle, cublasOperation_t transa,
                                           cublasOperation_t transb, int64_t m, int64_t n,
                                           int64_t k, const float *alpha, const float *A,
                                           int64_t lda, long long int strideA, const float *B,
                                           int64_t ldb, long long int strideB, const float *beta,
                                           float *C, int64_t ldc, long long int strideC,
                                           int64_t batchCount));
UNSUPPORTED(cublasSgemm_v2_64, (cublasHandle_t handle, cublasOperation_t transa,
                                cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                const float *alpha, const float *A, int64_t lda, const float *B,
                                int64_t ldb, const float *beta, float *C, int64_t ldc));
UNSUPPORTED(cublasSgemvStridedBatched_64, (cublasHandle_t handle, cublasOperation_t trans,
                                           int64_t m, int64_t n, const float *alpha, const float *A,
                                           int64_t lda, long long int strideA, const float *x,
                                           int64_t incx, long long int stridex, const float *beta,
                                           float *y, int64_t incy, long long int stridey,
                                           int64_t batchCount));
UNSUPPORTED(cublasSgemv_v2_64, (cublasHandle_t handle, cublasOperation_t trans, int64_t m,
                                int64_t n, const float *alpha, const float *A, int64_t lda,
                                const float *x, int64_t incx, const float *beta, float *y,
                                int64_t incy));
UNSUPPORTED(cublasSger_v2_64, (cublasHandle_t handle, int64_t m, int64_t n, const float *alpha,
                               const float *x, int64_t incx, const float *y, int64_t incy, float *A,
                               int64_t lda));
UNSUPPORTED(cublasSrot_v2_64, (cublasHandle_t handle, int64_t n, float *x, int64_t incx, float *y,
                               int64_t incy, const float *c, const float *s));
UNSUPPORTED(cublasSscal_v2_64, (cublasHandle_t handle, int64_t n, const float *alpha, float *x,
                                int64_t incx));
UNSUPPORTED(cublasSswap_v2_64, (cublasHandle_t handle, int64_t n, float *x, int64_t incx, float *y,
                                int64_t incy));
UNSUPPORTED(cublasSsymm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                int64_t m, int64_t n, const float *alpha, const float *A,
                                int64_t lda, const float *B, int64_t ldb, const float *beta,
                                float *C, int64_t ldc));
UNSUPPORTED(cublasSsymv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo, int64_t n,
                                const float *alpha, const float *A, int64_t lda, const float *x,
                                int64_t incx, const float *beta, float *y, int64_t incy));
UNSUPPORTED(cublasSsyr2k_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                 cublasOperation_t trans, int64_t n, int64_t k, const float *alpha,
                                 const float *A, int64_t lda, const float *B, int64_t ldb,
                                 const float *beta, float *C, int64_t ldc));
UNSUPPORTED(cublasSsyrkx, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc));
UNSUPPORTED(cublasStrmm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const float *alpha, const float *A, int64_t lda,
                                const float *B, int64_t ldb, float *C, int64_t ldc));
UNSUPPORTED(cublasStrmv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t n,
                                const float *A, int64_t lda, float *x, int64_t incx));
UNSUPPORTED(cublasStrsm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const float *alpha, const float *A, int64_t lda,
                                float *B, int64_t ldb));
UNSUPPORTED(cublasZcopy_v2_64, (cublasHandle_t handle, int64_t n, const cuDoubleComplex *x,
                                int64_t incx, cuDoubleComplex *y, int64_t incy));
UNSUPPORTED(cublasZdgmm, (cublasHandle_t handle, cublasSideMode_t mode, int m, int n,
                          const cuDoubleComplex *A, int lda, const cuDoubleComplex *x, int incx,
                          cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZdrot_v2_64, (cublasHandle_t handle, int64_t n, cuDoubleComplex *x, int64_t incx,
                                cuDoubleComplex *y, int64_t incy, const double *c,
                                const double *s));
UNSUPPORTED(cublasZdscal_v2_64, (cublasHandle_t handle, int64_t n, const double *alpha,
                                 cuDoubleComplex *x, int64_t incx));
UNSUPPORTED(cublasZgeam_64, (cublasHandle_t handle, cublasOperation_t transa,
                             cublasOperation_t transb, int64_t m, int64_t n,
                             const cuDoubleComplex *alpha, const cuDoubleComplex *A, int64_t lda,
                             const cuDoubleComplex *beta, const cuDoubleComplex *B, int64_t ldb,
                             cuDoubleComplex *C, int64_t ldc));
UNSUPPORTED(cublasZgemmStridedBatched_64, (cublasHandle_t handle, cublasOperation_t transa,
                                           cublasOperation_t transb, int64_t m, int64_t n,
                                           int64_t k, const cuDoubleComplex *alpha,
                                           const cuDoubleComplex *A, int64_t lda,
                                           long long int strideA, const cuDoubleComplex *B,
                                           int64_t ldb, long long int strideB,
                                           const cuDoubleComplex *beta, cuDoubleComplex *C,
                                           int64_t ldc, long long int strideC, int64_t batchCount));
UNSUPPORTED(cublasZgemm_v2_64, (cublasHandle_t handle, cublasOperation_t transa,
                                cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                const cuDoubleComplex *alpha, const cuDoubleComplex *A, int64_t lda,
                                const cuDoubleComplex *B, int64_t ldb, const cuDoubleComplex *beta,
                                cuDoubleComplex *C, int64_t ldc));
UNSUPPORTED(cublasZgemvStridedBatched_64, (cublasHandle_t handle, cublasOperation_t trans,
                                           int64_t m, int64_t n, const cuDoubleComplex *alpha,
                                           const cuDoubleComplex *A, int64_t lda,
                                           long long int strideA, const cuDoubleComplex *x,
                                           int64_t incx, long long int stridex,
                                           const cuDoubleComplex *beta, cuDoubleComplex *y,
                                           int64_t incy, long long int stridey,
                                           int64_t batchCount));
UNSUPPORTED(cublasZgemv_v2_64, (cublasHandle_t handle, cublasOperation_t trans, int64_t m,
                                int64_t n, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                                int64_t lda, const cuDoubleComplex *x, int64_t incx,
                                const cuDoubleComplex *beta, cuDoubleComplex *y, int64_t incy));
UNSUPPORTED(cublasZgerc_v2_64, (cublasHandle_t handle, int64_t m, int64_t n,
                                const cuDoubleComplex *alpha, const cuDoubleComplex *x,
                                int64_t incx, const cuDoubleComplex *y, int64_t incy,
                                cuDoubleComplex *A, int64_t lda));
UNSUPPORTED(cublasZgeru_v2_64, (cublasHandle_t handle, int64_t m, int64_t n,
                                const cuDoubleComplex *alpha, const cuDoubleComplex *x,
                                int64_t incx, const cuDoubleComplex *y, int64_t incy,
                                cuDoubleComplex *A, int64_t lda));
UNSUPPORTED(cublasZhemm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                int64_t m, int64_t n, const cuDoubleComplex *alpha,
                                const cuDoubleComplex *A, int64_t lda, const cuDoubleComplex *B,
                                int64_t ldb, const cuDoubleComplex *beta, cuDoubleComplex *C,
                                int64_t ldc));
UNSUPPORTED(cublasZhemv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo, int64_t n,
                                const cuDoubleComplex *alpha, const cuDoubleComplex *A, int64_t lda,
                                const cuDoubleComplex *x, int64_t incx, const cuDoubleComplex *beta,
                                cuDoubleComplex *y, int64_t incy));
UNSUPPORTED(cublasZher2k_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                 cublasOperation_t trans, int64_t n, int64_t k,
                                 const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                                 int64_t lda, const cuDoubleComplex *B, int64_t ldb,
                                 const double *beta, cuDoubleComplex *C, int64_t ldc));
UNSUPPORTED(cublasZscal_v2_64, (cublasHandle_t handle, int64_t n, const cuDoubleComplex *alpha,
                                cuDoubleComplex *x, int64_t incx));
UNSUPPORTED(cublasZswap_v2_64, (cublasHandle_t handle, int64_t n, cuDoubleComplex *x, int64_t incx,
                                cuDoubleComplex *y, int64_t incy));
UNSUPPORTED(cublasZsyrkx, (cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                           int n, int k, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                           int lda, const cuDoubleComplex *B, int ldb, const cuDoubleComplex *beta,
                           cuDoubleComplex *C, int ldc));
UNSUPPORTED(cublasZtrmm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                                int64_t lda, const cuDoubleComplex *B, int64_t ldb,
                                cuDoubleComplex *C, int64_t ldc));
UNSUPPORTED(cublasZtrmv_v2_64, (cublasHandle_t handle, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t n,
                                const cuDoubleComplex *A, int64_t lda, cuDoubleComplex *x,
                                int64_t incx));
UNSUPPORTED(cublasZtrsm_v2_64, (cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                cublasOperation_t trans, cublasDiagType_t diag, int64_t m,
                                int64_t n, const cuDoubleComplex *alpha, const cuDoubleComplex *A,
                                int64_t lda, cuDoubleComplex *B, int64_t ldb));

/* Host <-> device copies without a handle (MAGMA's). Their arguments are checked as cuBLAS
 * documents (sizes < 0, element size, leading dimensions or increments <= 0:
 * CUBLAS_STATUS_INVALID_VALUE); nothing is copied. */
static cublasStatus_t matrix_copy_check(int rows, int cols, int elemSize, int lda, int ldb)
{
    if (rows < 0 || cols < 0 || elemSize <= 0 || lda <= 0 || ldb <= 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

static cublasStatus_t vector_copy_check(int n, int elemSize, int incx, int incy)
{
    if (n < 0 || elemSize <= 0 || incx <= 0 || incy <= 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

static cublasStatus_t fb_cublasSetMatrixAsync(int rows, int cols, int elemSize, const void *A,
                                              int lda, void *B, int ldb, cudaStream_t stream)
{
    return matrix_copy_check(rows, cols, elemSize, lda, ldb);
}
FAKE_EXPORT(cublasSetMatrixAsync);

static cublasStatus_t fb_cublasGetMatrixAsync(int rows, int cols, int elemSize, const void *A,
                                              int lda, void *B, int ldb, cudaStream_t stream)
{
    return matrix_copy_check(rows, cols, elemSize, lda, ldb);
}
FAKE_EXPORT(cublasGetMatrixAsync);

static cublasStatus_t fb_cublasSetVectorAsync(int n, int elemSize, const void *hostPtr, int incx,
                                              void *devicePtr, int incy, cudaStream_t stream)
{
    return vector_copy_check(n, elemSize, incx, incy);
}
FAKE_EXPORT(cublasSetVectorAsync);

static cublasStatus_t fb_cublasGetVectorAsync(int n, int elemSize, const void *devicePtr,
                                              int incx, void *hostPtr, int incy,
                                              cudaStream_t stream)
{
    return vector_copy_check(n, elemSize, incx, incy);
}
FAKE_EXPORT(cublasGetVectorAsync);
