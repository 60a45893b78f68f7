/*
 * runtime_dlopen: not linked to CUDA. Opens libcudart.so.12 with dlopen and takes cudaMalloc and
 * cudaFree with dlsym. Three allocations (4096, 8192, 16384 bytes); the 8192 one is freed, the
 * other two stay live at exit.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <dlfcn.h>

int main(void)
{
    void *h = dlopen("libcudart.so.12", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "runtime_dlopen: %s\n", dlerror());
        return 2;
    }
    __typeof(cudaMalloc) *malloc_fn = (__typeof(cudaMalloc) *)dlsym(h, "cudaMalloc");
    __typeof(cudaFree) *free_fn = (__typeof(cudaFree) *)dlsym(h, "cudaFree");
    if (malloc_fn == NULL || free_fn == NULL) {
        fprintf(stderr, "runtime_dlopen: cudaMalloc/cudaFree missing\n");
        return 2;
    }
    static const size_t sizes[] = {4096, 8192, 16384};
    void *p[3] = {NULL, NULL, NULL};
    int failures = 0;
    for (int i = 0; i < 3; i++) {
        cudaError_t rc = malloc_fn(&p[i], sizes[i]);
        report("cudaMalloc", rc, PTR(p[i]), sizes[i]);
        failures += rc != cudaSuccess;
    }
    cudaError_t rc = free_fn(p[1]);
    report("cudaFree", rc, PTR(p[1]), 0);
    failures += rc != cudaSuccess;
    return failures == 0 ? 0 : 1;
}
