/*
 * runtime_basic: every allocation API of the (fake) runtime, each from its own named function so
 * allocation sites are distinguishable in stacks. Live at exit, by design:
 *     alloc_weights   cudaMalloc        1048576
 *     alloc_managed   cudaMallocManaged  524288
 *     alloc_pitched   cudaMallocPitch     10240 (1000 x 10, pitch 1024)
 * Also one failing call: cudaFree of a bogus pointer (code 1). Exits 0 when every call returned
 * what the real runtime would, 1 otherwise.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <string.h>

#define NOINLINE __attribute__((noinline))

static int failures;

static void expect(const char *api, cudaError_t rc, cudaError_t want, unsigned long long ptr,
                   size_t size)
{
    report(api, rc, ptr, size);
    if (rc != want) {
        fprintf(stderr, "runtime_basic: %s returned %d (%s), expected %d\n", api, rc,
                cudaGetErrorString(rc), want);
        failures++;
    }
}

/* Makes the call first, then reports: ptr and size are read after the call has set them. */
#define CHECK(api, call, want, ptr, size)                                                       \
    do {                                                                                        \
        int rc_ = (call);                                                                       \
        expect(api, rc_, want, PTR(ptr), size);                                                 \
    } while (0)

static NOINLINE void *alloc_weights(void)
{
    void *p = NULL;
    CHECK("cudaMalloc", cudaMalloc(&p, 1048576), cudaSuccess, p, 1048576);
    return p;
}

static NOINLINE void *alloc_scratch(void)
{
    void *p = NULL;
    CHECK("cudaMalloc", cudaMalloc(&p, 262144), cudaSuccess, p, 262144);
    return p;
}

static NOINLINE void *alloc_temp(void)
{
    void *p = NULL;
    CHECK("cudaMalloc", cudaMalloc(&p, 65536), cudaSuccess, p, 65536);
    return p;
}

static NOINLINE void release(void *p)
{
    CHECK("cudaFree", cudaFree(p), cudaSuccess, p, 0);
}

/* A stand-in for a __global__ function: the fake only counts launches. */
static NOINLINE void fake_kernel(void) {}

static NOINLINE void use_weights(void *weights)
{
    static unsigned char in[4096], out[4096];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)i;
    CHECK("cudaMemset", cudaMemset(weights, 0, 1048576), cudaSuccess, weights, 1048576);
    CHECK("cudaMemcpy", cudaMemcpy(weights, in, sizeof in, cudaMemcpyHostToDevice), cudaSuccess,
          weights, sizeof in);
    CHECK("cudaMemcpy", cudaMemcpy(out, weights, sizeof out, cudaMemcpyDeviceToHost),
          cudaSuccess, weights, sizeof out);
    if (memcmp(in, out, sizeof in) != 0) {
        fprintf(stderr, "runtime_basic: memcpy round trip differs\n");
        failures++;
    }
    dim3 grid = {1, 1, 1}, block = {128, 1, 1};
    void *args[] = {&weights};
    CHECK("cudaLaunchKernel",
          cudaLaunchKernel((const void *)fake_kernel, grid, block, args, 0, NULL), cudaSuccess,
          (const void *)fake_kernel, 0);
}

static NOINLINE void async_roundtrip(void)
{
    cudaStream_t s = NULL;
    CHECK("cudaStreamCreate", cudaStreamCreate(&s), cudaSuccess, s, 0);
    void *p = NULL;
    CHECK("cudaMallocAsync", cudaMallocAsync(&p, 131072, s), cudaSuccess, p, 131072);
    CHECK("cudaFreeAsync", cudaFreeAsync(p, s), cudaSuccess, p, 0);
    CHECK("cudaStreamSynchronize", cudaStreamSynchronize(s), cudaSuccess, s, 0);
    CHECK("cudaStreamDestroy", cudaStreamDestroy(s), cudaSuccess, s, 0);
}

static NOINLINE void *alloc_managed(void)
{
    void *p = NULL;
    CHECK("cudaMallocManaged", cudaMallocManaged(&p, 524288, cudaMemAttachGlobal), cudaSuccess,
          p, 524288);
    return p;
}

static NOINLINE void *alloc_pitched(void)
{
    void *p = NULL;
    size_t pitch = 0;
    cudaError_t rc = cudaMallocPitch(&p, &pitch, 1000, 10);
    expect("cudaMallocPitch", rc, cudaSuccess, PTR(p), pitch * 10);
    if (pitch != 1024) {
        fprintf(stderr, "runtime_basic: pitch %zu, expected 1024\n", pitch);
        failures++;
    }
    return p;
}

static NOINLINE void pinned_roundtrip(void)
{
    void *h = NULL;
    CHECK("cudaMallocHost", cudaMallocHost(&h, 4096), cudaSuccess, h, 4096);
    CHECK("cudaFreeHost", cudaFreeHost(h), cudaSuccess, h, 0);
    h = NULL;
    CHECK("cudaHostAlloc", cudaHostAlloc(&h, 8192, cudaHostAllocPortable), cudaSuccess, h, 8192);
    CHECK("cudaFreeHost", cudaFreeHost(h), cudaSuccess, h, 0);
}

static NOINLINE void bad_frees(void)
{
    CHECK("cudaFree", cudaFree(NULL), cudaSuccess, NULL, 0);
    void *bogus = (void *)(uintptr_t)0x1000;
    CHECK("cudaFree", cudaFree(bogus), cudaErrorInvalidValue, bogus, 0);
    CHECK("cudaGetLastError", cudaGetLastError(), cudaErrorInvalidValue, NULL, 0);
}

int main(void)
{
    void *weights = alloc_weights();
    void *scratch = alloc_scratch();
    void *temp = alloc_temp();
    use_weights(weights);
    release(scratch);
    release(temp);
    async_roundtrip();
    alloc_managed();
    alloc_pitched();
    pinned_roundtrip();
    bad_frees();
    size_t free_bytes = 0, total = 0;
    cudaError_t rc = cudaMemGetInfo(&free_bytes, &total);
    expect("cudaMemGetInfo", rc, cudaSuccess, 0, free_bytes);
    return failures == 0 ? 0 : 1;
}
