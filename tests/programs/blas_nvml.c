/*
 * blas_nvml: the fake cuBLAS, cuBLASLt and NVML (test doubles), through dlopen as PyTorch reaches
 * them: handles, settings, products and their argument checks, the heuristic, NVML's device
 * queries and error codes, 8 threads creating and destroying handles, and a fork after the
 * locks were used. `blas_nvml [DIR]` loads the libraries from DIR, else by soname. Prints
 * `FAIL file:line ...` for each failed check and `<n> checks, <m> failures`; exits 1 on a
 * failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static int failures, checks;
#define CHECK(cond) do { checks++; if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); checks++; if (_a != _b) { failures++; fprintf(stderr, "FAIL %s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #a, _a, _b); } } while (0)

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) { fprintf(stderr, "missing %s\n", name); exit(2); }
    return p;
}
#define S(lib, name, type) __typeof__(type) name = (type)sym(lib, #name)

typedef void *H;
typedef struct { uint64_t data[8]; } Algo;
typedef struct { Algo algo; size_t workspaceSize; int state; float wavesCount; int reserved[4]; } Heur;
typedef struct { unsigned long long total, free, used; } Mem;

static int (*g_create)(H *);
static int (*g_destroy)(H);
static int (*g_sgemm)(H, int, int, int, int, int, const float *, const float *, int, const float *, int, const float *, float *, int);
static void *thread_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        H h;
        if (g_create(&h) != 0) return (void *)1;
        float a = 1, b = 0;
        if (g_sgemm(h, 0, 0, 4, 4, 4, &a, NULL, 4, NULL, 4, &b, NULL, 4) != 0) return (void *)1;
        if (g_destroy(h) != 0) return (void *)1;
    }
    return NULL;
}

static void test_cublas(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%slibcublas.so.12", dir ? dir : "", dir ? "/" : "");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); exit(2); }
    S(lib, cublasCreate_v2, int (*)(H *));
    S(lib, cublasDestroy_v2, int (*)(H));
    S(lib, cublasSetStream_v2, int (*)(H, void *));
    S(lib, cublasGetStream_v2, int (*)(H, void **));
    S(lib, cublasSetWorkspace_v2, int (*)(H, void *, size_t));
    S(lib, cublasGetMathMode, int (*)(H, int *));
    S(lib, cublasSetMathMode, int (*)(H, int));
    S(lib, cublasGetPointerMode_v2, int (*)(H, int *));
    S(lib, cublasSetPointerMode_v2, int (*)(H, int));
    S(lib, cublasSgemm_v2, int (*)(H, int, int, int, int, int, const float *, const float *, int, const float *, int, const float *, float *, int));
    S(lib, cublasGemmEx, int (*)(H, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int, const void *, void *, int, int, int, int));
    S(lib, cublasGemmStridedBatchedEx, int (*)(H, int, int, int, int, int, const void *, const void *, int, int, long long, const void *, int, int, long long, const void *, void *, int, int, long long, int, int, int));
    S(lib, cublasDgemmStridedBatched, int (*)(H, int, int, int, int, int, const double *, const double *, int, long long, const double *, int, long long, const double *, double *, int, long long, int));
    S(lib, cublasSgemv_v2, int (*)(H, int, int, int, const float *, const float *, int, const float *, int, const float *, float *, int));
    S(lib, cublasSdot_v2, int (*)(H, int, const float *, int, const float *, int, float *));
    S(lib, cublasDotEx, int (*)(H, int, const void *, int, int, const void *, int, int, void *, int, int));
    S(lib, cublasCgemm_v2, int (*)(H, int, int, int, int, int, const void *, const void *, int, const void *, int, const void *, void *, int));
    S(lib, cublasStrsm_v2, int (*)(H, int, int, int, int, int, int, const float *, const float *, int, float *, int));
    S(lib, cublasSgetrfBatched, int (*)(H, int, float *const[], int, int *, int *, int));
    S(lib, cublasSetMatrixAsync, int (*)(int, int, int, const void *, int, void *, int, void *));
    S(lib, cublasGetVersion_v2, int (*)(H, int *));
    S(lib, cublasGetStatusName, const char *(*)(int));
    S(lib, fakeCublasCallCount, unsigned long long (*)(void));
    S(lib, cublasSetAtomicsMode, int (*)(H, int));
    S(lib, cublasGetAtomicsMode, int (*)(H, int *));
    S(lib, cublasSgemm_v2_64, int (*)(H, int, int, int64_t, int64_t, int64_t, const float *, const float *, int64_t, const float *, int64_t, const float *, float *, int64_t));

    H h = NULL, bogus = (H)&failures;
    EQ(cublasCreate_v2(NULL), 7);
    EQ(cublasCreate_v2(&h), 0);
    CHECK(h != NULL);
    int mode = -1;
    EQ(cublasGetMathMode(h, &mode), 0); EQ(mode, 0);
    EQ(cublasGetPointerMode_v2(h, &mode), 0); EQ(mode, 0);
    EQ(cublasSetMathMode(h, 3 | 16), 0);
    EQ(cublasGetMathMode(h, &mode), 0); EQ(mode, 19);
    EQ(cublasSetMathMode(h, 7), 7);
    EQ(cublasGetMathMode(h, NULL), 7);
    EQ(cublasSetPointerMode_v2(h, 1), 0);
    EQ(cublasGetPointerMode_v2(h, &mode), 0); EQ(mode, 1);
    EQ(cublasSetPointerMode_v2(h, 2), 7);
    EQ(cublasSetPointerMode_v2(h, 0), 0);
    void *ws = aligned_alloc(256, 4096);
    EQ(cublasSetWorkspace_v2(h, NULL, 16), 7);
    EQ(cublasSetWorkspace_v2(h, (char *)ws + 8, 16), 7);
    EQ(cublasSetWorkspace_v2(h, ws, 4096), 0);
    EQ(cublasSetWorkspace_v2(h, NULL, 0), 0);
    void *st = (void *)0x1234, *got = NULL;
    EQ(cublasSetStream_v2(h, st), 0);
    EQ(cublasGetStream_v2(h, &got), 0); CHECK(got == st);
    EQ(cublasGetAtomicsMode(h, &mode), 0); EQ(mode, 0);
    EQ(cublasSetAtomicsMode(h, 1), 0);
    EQ(cublasGetAtomicsMode(h, &mode), 0); EQ(mode, 1);
    EQ(cublasSetAtomicsMode(h, 2), 7);
    EQ(cublasSetAtomicsMode(bogus, 1), 1);
    int ver = 0;
    EQ(cublasGetVersion_v2(NULL, &ver), 0); EQ(ver, 120804);
    CHECK(strcmp(cublasGetStatusName(15), "CUBLAS_STATUS_NOT_SUPPORTED") == 0);

    unsigned long long c0 = fakeCublasCallCount();
    float a = 1, b = 0;
    float *buf = calloc(1024, sizeof(float));
    /* C(2x3) = A(2x4) B(4x3) */
    EQ(cublasSgemm_v2(h, 0, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 0);
    EQ(cublasSgemm_v2(h, 1, 0, 2, 3, 4, &a, buf, 4, buf, 4, &b, buf, 2), 0); /* A^T stored 4x2 */
    EQ(cublasSgemm_v2(h, 1, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 7); /* lda < k */
    EQ(cublasSgemm_v2(h, 0, 1, 2, 3, 4, &a, buf, 2, buf, 2, &b, buf, 2), 7); /* ldb < n */
    EQ(cublasSgemm_v2(h, 0, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 1), 7); /* ldc < m */
    EQ(cublasSgemm_v2(h, 0, 0, -1, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 7);
    EQ(cublasSgemm_v2(h, 5, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 7);
    EQ(cublasSgemm_v2(h, 0, 0, 0, 0, 0, &a, NULL, 0, NULL, 1, &b, NULL, 1), 7); /* lda 0 < 1 */
    EQ(cublasSgemm_v2(h, 0, 0, 0, 0, 0, &a, NULL, 1, NULL, 1, &b, NULL, 1), 0);
    EQ(cublasSgemm_v2(bogus, 0, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 1);
    EQ(cublasSgemm_v2(NULL, 0, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 1);
    EQ(cublasGemmEx(h, 1, 0, 8, 8, 8, &a, buf, 2, 8, buf, 2, 8, &b, buf, 2, 8, 68, -1), 0);
    EQ(cublasGemmStridedBatchedEx(h, 0, 0, 8, 8, 8, &a, buf, 2, 8, 64, buf, 2, 8, 64, &b, buf, 2, 8, 64, 3, 68, -1), 0);
    EQ(cublasGemmStridedBatchedEx(h, 0, 0, 8, 8, 8, &a, buf, 2, 8, 64, buf, 2, 8, 64, &b, buf, 2, 8, 64, -1, 68, -1), 7);
    double da = 1, db = 0;
    EQ(cublasDgemmStridedBatched(h, 0, 0, 8, 8, 8, &da, (double *)buf, 8, 64, (double *)buf, 8, 64, &db, (double *)buf, 7, 64, 2), 7);
    EQ(cublasSgemv_v2(h, 0, 4, 3, &a, buf, 4, buf, 1, &b, buf, 1), 0);
    EQ(cublasSgemv_v2(h, 1, 4, 3, &a, buf, 3, buf, 1, &b, buf, 1), 7);
    EQ(cublasSgemv_v2(h, 0, 4, 3, &a, buf, 4, buf, 0, &b, buf, 1), 7);
    float r = 42;
    EQ(cublasSdot_v2(h, 4, buf, 1, buf, 1, &r), 0);
    CHECK(r == 42); /* nothing computed */
    EQ(cublasSdot_v2(h, 4, buf, 1, buf, 1, NULL), 7);
    EQ(cublasDotEx(h, 4, buf, 0, 1, buf, 0, 1, &r, 0, 0), 0);
    EQ(fakeCublasCallCount() - c0, 8);
    for (int i = 0; i < 1024; i++) CHECK(buf[i] == 0);

    EQ(cublasCgemm_v2(h, 0, 0, 2, 2, 2, &a, buf, 2, buf, 2, &b, buf, 2), 15);
    EQ(cublasCgemm_v2(bogus, 0, 0, 2, 2, 2, &a, buf, 2, buf, 2, &b, buf, 2), 1);
    EQ(cublasSgemm_v2_64(h, 0, 0, 2, 2, 2, &a, buf, 2, buf, 2, &b, buf, 2), 15);
    EQ(cublasSgemm_v2_64(NULL, 0, 0, 2, 2, 2, &a, buf, 2, buf, 2, &b, buf, 2), 1);
    EQ(cublasStrsm_v2(h, 0, 0, 0, 0, 2, 2, &a, buf, 2, buf, 2), 15);
    EQ(cublasSgetrfBatched(h, 2, NULL, 2, NULL, NULL, 1), 15);
    EQ(cublasSetMatrixAsync(2, 2, 4, buf, 2, buf, 2, NULL), 15);
    EQ(cublasSetMatrixAsync(-1, 2, 4, buf, 2, buf, 2, NULL), 7);
    EQ(fakeCublasCallCount() - c0, 8);

    EQ(cublasDestroy_v2(h), 0);
    EQ(cublasDestroy_v2(h), 1);
    EQ(cublasDestroy_v2(NULL), 1);
    EQ(cublasSgemm_v2(h, 0, 0, 2, 3, 4, &a, buf, 2, buf, 4, &b, buf, 2), 1);
    EQ(cublasSetStream_v2(h, NULL), 1);
    EQ(cublasGetMathMode(h, &mode), 1);

    /* Many threads creating, using and destroying handles. */
    g_create = cublasCreate_v2; g_destroy = cublasDestroy_v2; g_sgemm = cublasSgemm_v2;
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, thread_body, NULL);
    for (int i = 0; i < 8; i++) { void *rv; pthread_join(t[i], &rv); CHECK(rv == NULL); }
    EQ(fakeCublasCallCount() - c0, 8 + 8 * 2000);
    free(buf); free(ws);
}

static void test_cublaslt(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%slibcublasLt.so.12", dir ? dir : "", dir ? "/" : "");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); exit(2); }
    S(lib, cublasLtCreate, int (*)(H *));
    S(lib, cublasLtDestroy, int (*)(H));
    S(lib, cublasLtGetVersion, size_t (*)(void));
    S(lib, cublasLtMatmulDescCreate, int (*)(H *, int, int));
    S(lib, cublasLtMatmulDescDestroy, int (*)(H));
    S(lib, cublasLtMatmulDescSetAttribute, int (*)(H, int, const void *, size_t));
    S(lib, cublasLtMatrixLayoutCreate, int (*)(H *, int, uint64_t, uint64_t, int64_t));
    S(lib, cublasLtMatrixLayoutDestroy, int (*)(H));
    S(lib, cublasLtMatrixLayoutSetAttribute, int (*)(H, int, const void *, size_t));
    S(lib, cublasLtMatmulPreferenceCreate, int (*)(H *));
    S(lib, cublasLtMatmulPreferenceDestroy, int (*)(H));
    S(lib, cublasLtMatmulPreferenceSetAttribute, int (*)(H, int, const void *, size_t));
    S(lib, cublasLtMatmulAlgoGetHeuristic, int (*)(H, H, H, H, H, H, H, int, Heur *, int *));
    S(lib, cublasLtMatmul, int (*)(H, H, const void *, const void *, H, const void *, H, const void *, const void *, H, void *, H, const Algo *, void *, size_t, void *));
    S(lib, fakeCublasLtCallCount, unsigned long long (*)(void));

    EQ(cublasLtGetVersion(), 120804);
    H lt = NULL, desc = NULL, la = NULL, lb = NULL, lc = NULL, pref = NULL;
    EQ(cublasLtCreate(NULL), 7);
    EQ(cublasLtCreate(&lt), 0);
    EQ(cublasLtMatmulDescCreate(NULL, 68, 0), 7);
    EQ(cublasLtMatmulDescCreate(&desc, 68, 0), 0);
    EQ(cublasLtMatrixLayoutCreate(&la, 0, 4, 4, 4), 0);
    EQ(cublasLtMatrixLayoutCreate(&lb, 0, 4, 4, 4), 0);
    EQ(cublasLtMatrixLayoutCreate(&lc, 0, 4, 4, 4), 0);
    EQ(cublasLtMatmulPreferenceCreate(&pref), 0);
    int trans = 1; uint64_t wsz = 1 << 20;
    EQ(cublasLtMatmulDescSetAttribute(desc, 3, &trans, sizeof trans), 0);
    EQ(cublasLtMatmulDescSetAttribute(desc, 3, NULL, sizeof trans), 7);
    EQ(cublasLtMatmulDescSetAttribute(la, 3, &trans, sizeof trans), 7); /* wrong kind */
    EQ(cublasLtMatrixLayoutSetAttribute(la, 1, &trans, sizeof trans), 0);
    EQ(cublasLtMatmulPreferenceSetAttribute(pref, 1, &wsz, sizeof wsz), 0);
    EQ(cublasLtMatmulPreferenceSetAttribute(NULL, 1, &wsz, sizeof wsz), 7);

    Heur res[4];
    memset(res, 0xab, sizeof res);
    int n = -1;
    EQ(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 0, res, &n), 7);
    EQ(cublasLtMatmulAlgoGetHeuristic(NULL, desc, la, lb, lc, lc, pref, 1, res, &n), 1);
    EQ(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, desc, lc, lc, pref, 1, res, &n), 7);
    EQ(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 4, res, &n), 0);
    EQ(n, 1);
    EQ(res[0].workspaceSize, 0); EQ(res[0].state, 0); CHECK(res[0].wavesCount == 1.0f);
    for (int i = 0; i < 8; i++) EQ(res[0].algo.data[i], 0);
    CHECK(res[1].state == (int)0xabababab); /* only one written */

    unsigned long long c0 = fakeCublasLtCallCount();
    float a = 1, b = 0, m[16] = {0};
    void *ws = malloc(64);
    H fake_cublas_handle = (H)&n; /* PyTorch passes its cublasHandle_t */
    EQ(cublasLtMatmul(fake_cublas_handle, desc, &a, m, la, m, lb, &b, m, lc, m, lc, &res[0].algo, ws, 64, NULL), 0);
    EQ(cublasLtMatmul(lt, desc, &a, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 0, NULL), 0);
    EQ(cublasLtMatmul(NULL, desc, &a, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 0, NULL), 1);
    EQ(cublasLtMatmul(lt, desc, &a, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 64, NULL), 7);
    EQ(cublasLtMatmul(lt, la, &a, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 0, NULL), 7);
    EQ(cublasLtMatmul(lt, desc, NULL, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 0, NULL), 7);
    EQ(fakeCublasLtCallCount() - c0, 2);
    for (int i = 0; i < 16; i++) CHECK(m[i] == 0);

    EQ(cublasLtMatmulPreferenceDestroy(pref), 0);
    EQ(cublasLtMatmulPreferenceDestroy(pref), 7);
    EQ(cublasLtMatmulPreferenceDestroy(NULL), 0);
    EQ(cublasLtMatrixLayoutDestroy(la), 0);
    EQ(cublasLtMatmul(lt, desc, &a, m, la, m, lb, &b, m, lc, m, lc, NULL, NULL, 0, NULL), 7); /* destroyed A layout */
    EQ(cublasLtMatrixLayoutDestroy(desc), 7); /* wrong kind */
    EQ(cublasLtMatrixLayoutDestroy(lb), 0);
    EQ(cublasLtMatrixLayoutDestroy(lc), 0);
    EQ(cublasLtMatrixLayoutDestroy(NULL), 0);
    EQ(cublasLtMatmulDescDestroy(desc), 0);
    EQ(cublasLtMatmulDescDestroy(NULL), 0);
    EQ(cublasLtDestroy(fake_cublas_handle), 1);
    EQ(cublasLtDestroy(lt), 0);
    EQ(cublasLtDestroy(lt), 1);
    EQ(cublasLtDestroy(NULL), 1);
    free(ws);
}

static void test_nvml(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%slibnvidia-ml.so.1", dir ? dir : "", dir ? "/" : "");
    /* As c10_cuda does. */
    void *lib = dlopen(path, RTLD_LAZY);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); exit(2); }
    S(lib, nvmlInit_v2, int (*)(void));
    S(lib, nvmlInit, int (*)(void));
    S(lib, nvmlShutdown, int (*)(void));
    S(lib, nvmlErrorString, const char *(*)(int));
    S(lib, nvmlDeviceGetHandleByPciBusId_v2, int (*)(const char *, H *));
    S(lib, nvmlDeviceGetNvLinkRemoteDeviceType, int (*)(H, unsigned, int *));
    S(lib, nvmlDeviceGetNvLinkRemotePciInfo_v2, int (*)(H, unsigned, void *));
    S(lib, nvmlDeviceGetComputeRunningProcesses, int (*)(H, unsigned *, void *));
    S(lib, nvmlSystemGetCudaDriverVersion_v2, int (*)(int *));
    S(lib, nvmlDeviceGetGpuFabricInfoV, int (*)(H, void *));
    S(lib, nvmlDeviceGetCount_v2, int (*)(unsigned *));
    S(lib, nvmlDeviceGetCount, int (*)(unsigned *));
    S(lib, nvmlDeviceGetHandleByIndex_v2, int (*)(unsigned, H *));
    S(lib, nvmlDeviceGetHandleByUUID, int (*)(const char *, H *));
    S(lib, nvmlDeviceGetUUID, int (*)(H, char *, unsigned));
    S(lib, nvmlDeviceGetP2PStatus, int (*)(H, H, int, int *));
    S(lib, nvmlDeviceGetName, int (*)(H, char *, unsigned));
    S(lib, nvmlDeviceGetMemoryInfo, int (*)(H, Mem *));
    S(lib, nvmlSystemGetDriverVersion, int (*)(char *, unsigned));

    H d = NULL, d2 = NULL, bogus = (H)&checks;
    unsigned cnt = 99;
    int v = 0;
    char s[128];
    CHECK(strcmp(nvmlErrorString(1), "Uninitialized") == 0);
    CHECK(strcmp(nvmlErrorString(12345), "Unknown Error") == 0);
    for (int i = 0; i <= 29; i++) CHECK(nvmlErrorString(i) != NULL && strcmp(nvmlErrorString(i), "Unknown Error") != 0);
    CHECK(strcmp(nvmlErrorString(999), "Unknown Error") == 0);
    EQ(nvmlShutdown(), 1);
    EQ(nvmlDeviceGetCount_v2(&cnt), 1);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("00000000:01:00.0", &d), 1);
    EQ(nvmlSystemGetCudaDriverVersion_v2(&v), 1);
    EQ(nvmlSystemGetDriverVersion(s, sizeof s), 1);

    EQ(nvmlInit_v2(), 0);
    EQ(nvmlInit(), 0); /* counted: two shutdowns needed */
    EQ(nvmlDeviceGetCount_v2(&cnt), 0); EQ(cnt, 1);
    EQ(nvmlDeviceGetCount(NULL), 2);
    EQ(nvmlSystemGetCudaDriverVersion_v2(&v), 0); EQ(v, 12080);
    EQ(nvmlSystemGetCudaDriverVersion_v2(NULL), 2);
    EQ(nvmlSystemGetDriverVersion(s, sizeof s), 0); CHECK(strcmp(s, "570.124.06") == 0);
    EQ(nvmlSystemGetDriverVersion(s, 10), 7);
    EQ(nvmlSystemGetDriverVersion(s, 11), 0);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("00000000:01:00.0", &d), 0); CHECK(d != NULL);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:01:00.0", &d2), 0); CHECK(d2 == d);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:01:00.0", NULL), 2);
    EQ(nvmlDeviceGetHandleByPciBusId_v2(NULL, &d2), 2);
    d2 = NULL;
    EQ(nvmlDeviceGetHandleByPciBusId_v2("01:00.0", &d2), 0); CHECK(d2 == d);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:02:00.0", &d2), 6);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:01:00.1", &d2), 6);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:01:00.0x", &d2), 6);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("", &d2), 6);
    EQ(nvmlDeviceGetHandleByPciBusId_v2("garbage", &d2), 6);
    d2 = NULL;
    EQ(nvmlDeviceGetHandleByIndex_v2(0, &d2), 0); CHECK(d2 == d);
    EQ(nvmlDeviceGetHandleByIndex_v2(1, &d2), 2);
    EQ(nvmlDeviceGetHandleByIndex_v2(0, NULL), 2);
    const char *uuid = "GPU-00000000-0000-0000-0000-000000000001";
    EQ(nvmlDeviceGetUUID(d, s, sizeof s), 0); CHECK(strcmp(s, uuid) == 0);
    EQ(nvmlDeviceGetUUID(d, s, (unsigned)strlen(uuid)), 7);
    EQ(nvmlDeviceGetUUID(d, s, (unsigned)strlen(uuid) + 1), 0);
    EQ(nvmlDeviceGetUUID(bogus, s, sizeof s), 2);
    EQ(nvmlDeviceGetUUID(NULL, s, sizeof s), 2);
    EQ(nvmlDeviceGetUUID(d, NULL, sizeof s), 2);
    d2 = NULL;
    EQ(nvmlDeviceGetHandleByUUID(uuid, &d2), 0); CHECK(d2 == d);
    EQ(nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000002", &d2), 6);
    EQ(nvmlDeviceGetHandleByUUID(NULL, &d2), 2);
    EQ(nvmlDeviceGetName(d, s, sizeof s), 0); CHECK(strcmp(s, "gpuleak fake GPU") == 0);
    EQ(nvmlDeviceGetName(d, s, 4), 7);
    Mem mem = {1, 1, 1};
    EQ(nvmlDeviceGetMemoryInfo(d, &mem), 0);
    const char *capenv = getenv("FAKE_CUDA_CAPACITY");
    unsigned long long want = capenv && strcmp(capenv, "64M") == 0 ? 64ull << 20 : 1ull << 30;
    EQ(mem.total, want); EQ(mem.free, want); EQ(mem.used, 0);
    EQ(nvmlDeviceGetMemoryInfo(d, NULL), 2);
    EQ(nvmlDeviceGetMemoryInfo(bogus, &mem), 2);
    int t = -1;
    EQ(nvmlDeviceGetNvLinkRemoteDeviceType(d, 0, &t), 3);
    EQ(nvmlDeviceGetNvLinkRemoteDeviceType(bogus, 0, &t), 2);
    char pci[128];
    EQ(nvmlDeviceGetNvLinkRemotePciInfo_v2(d, 0, pci), 3);
    char fabric[256];
    EQ(nvmlDeviceGetGpuFabricInfoV(d, fabric), 3);
    struct { unsigned pid; unsigned long long used; } procs[8];
    cnt = 8;
    EQ(nvmlDeviceGetComputeRunningProcesses(d, &cnt, procs), 0); EQ(cnt, 0);
    EQ(nvmlDeviceGetComputeRunningProcesses(d, NULL, procs), 2);
    EQ(nvmlDeviceGetComputeRunningProcesses(bogus, &cnt, procs), 2);
    int p2p = -1;
    EQ(nvmlDeviceGetP2PStatus(d, d, 0, &p2p), 0); EQ(p2p, 5);
    EQ(nvmlDeviceGetP2PStatus(d, bogus, 0, &p2p), 2);
    EQ(nvmlDeviceGetP2PStatus(d, d, 0, NULL), 2);

    EQ(nvmlShutdown(), 0);
    EQ(nvmlDeviceGetCount_v2(&cnt), 0); /* still initialised once */
    EQ(nvmlShutdown(), 0);
    EQ(nvmlDeviceGetCount_v2(&cnt), 1);
    EQ(nvmlDeviceGetUUID(d, s, sizeof s), 1);
    EQ(nvmlShutdown(), 1);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL; /* default: by soname, from LD_LIBRARY_PATH */
    test_cublas(dir);
    test_cublaslt(dir);
    test_nvml(dir);
    /* A fork after the locks were used must not deadlock. */
    pid_t pid = fork();
    if (pid == 0) {
        void *lib = dlopen("libcublas.so.12", RTLD_NOW | RTLD_NOLOAD);
        int (*create)(H *) = lib ? (int (*)(H *))dlsym(lib, "cublasCreate_v2") : NULL;
        H h;
        _exit(create && create(&h) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EQ(WIFEXITED(status) && WEXITSTATUS(status) == 0, 1);
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
