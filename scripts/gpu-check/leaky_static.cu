// A CUDA C program for scripts/gpu-check.sh, built by nvcc with its default (static) CUDA
// runtime, so that gpuleak must catch the runtime's driver calls through cuGetProcAddress:
//     nvcc -g -O0 -o leaky_static leaky_static.cu -ldl
//     leaky_static [--leak] [STEPS]
// Each step marks itself (gpuleak_mark_iteration, looked up with dlsym), allocates an 8 MiB
// scratch buffer, launches a kernel on it and frees it; with --leak, `leak_buffer` also
// allocates 4 MiB that nothing frees. At the end prints {"gpu_check": {...}} with
// cudaMemGetInfo's used bytes.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

__global__ void fill(float *p, size_t n, float v)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v * (float)i;
}

static int check(cudaError_t rc, const char *what)
{
    if (rc != cudaSuccess) {
        fprintf(stderr, "leaky_static: %s: %s\n", what, cudaGetErrorString(rc));
        return 1;
    }
    return 0;
}

__attribute__((noinline)) static float *leak_buffer(void)
{
    float *p = NULL;
    if (check(cudaMalloc((void **)&p, 4 * MIB), "cudaMalloc (leak)"))
        return NULL;
    return p;
}

__attribute__((noinline)) static int step_scratch(int step)
{
    float *p = NULL;
    size_t n = 8 * MIB / sizeof(float);
    if (check(cudaMalloc((void **)&p, 8 * MIB), "cudaMalloc (scratch)"))
        return 1;
    fill<<<(unsigned)((n + 255) / 256), 256>>>(p, n, (float)step);
    if (check(cudaGetLastError(), "launch"))
        return 1;
    return check(cudaFree(p), "cudaFree");
}

int main(int argc, char **argv)
{
    int leak = 0, steps = 40;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--leak") == 0)
            leak = 1;
        else
            steps = atoi(argv[i]);
    }
    void (*mark)(const char *) = (void (*)(const char *))dlsym(RTLD_DEFAULT,
                                                                "gpuleak_mark_iteration");
    for (int s = 0; s < steps; s++) {
        if (mark)
            mark("step");
        if (step_scratch(s))
            return 1;
        if (leak && leak_buffer() == NULL)
            return 1;
    }
    if (check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"))
        return 1;
    size_t free_b = 0, total = 0;
    if (check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo"))
        return 1;
    printf("{\"gpu_check\": {\"driver_used\": %zu, \"total\": %zu, \"steps\": %d, \"leak\": %d}}\n",
           total - free_b, total, steps, leak);
    return 0;
}
