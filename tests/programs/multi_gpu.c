/*
 * multi_gpu [--steps N]: a process on two devices (run it with FAKE_CUDA_DEVICES=2 and, say,
 * FAKE_CUDA_CAPACITY=1G,256M). `load_weights` puts 64 MiB on device 0 with cudaSetDevice(0);
 * each step (marked with gpuleak_mark_iteration("step"), found with dlsym) `leak_on_second`
 * keeps 2 MiB on device 1 and `step_scratch` takes and frees 8 MiB on device 0. 30 steps by
 * default. Prints a line per call (report.h), then `summary <steps> <device count>`. Live at
 * exit: the weights on device 0, 2 MiB × steps on device 1.
 */
#define _GNU_SOURCE
#include "fake_cuda_runtime.h"
#include "report.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ull << 20)

static int on(int device)
{
    cudaError_t rc = cudaSetDevice(device);
    report("cudaSetDevice", rc, 0, 0);
    return rc == cudaSuccess;
}

static __attribute__((noinline)) int alloc(void **p, size_t size)
{
    cudaError_t rc = cudaMalloc(p, size);
    report("cudaMalloc", rc, rc == cudaSuccess ? PTR(*p) : 0, size);
    return rc == cudaSuccess;
}

static __attribute__((noinline)) int load_weights(void **p)
{
    return on(0) && alloc(p, 64 * MiB);
}

static __attribute__((noinline)) int leak_on_second(void **p)
{
    return on(1) && alloc(p, 2 * MiB);
}

static __attribute__((noinline)) int step_scratch(void)
{
    void *p = NULL;
    if (!on(0) || !alloc(&p, 8 * MiB))
        return 0;
    cudaError_t rc = cudaFree(p);
    report("cudaFree", rc, PTR(p), 0);
    return rc == cudaSuccess;
}

int main(int argc, char **argv)
{
    int steps = 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else {
            fprintf(stderr, "multi_gpu: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count < 2) {
        fprintf(stderr, "multi_gpu: %d device(s) (rc %d); set FAKE_CUDA_DEVICES=2\n", count, rc);
        return 2;
    }
    void (*mark)(const char *) = NULL;
    *(void **)&mark = dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");
    void *weights = NULL;
    if (!load_weights(&weights))
        return 1;
    for (int step = 0; step < steps; step++) {
        if (mark)
            mark("step");
        void *kept = NULL;
        if (!leak_on_second(&kept) || !step_scratch())
            return 1;
    }
    printf("summary %d %d\n", steps, count);
    return 0;
}
