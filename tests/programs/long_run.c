/*
 * long_run STEPS PAIRS LEAK: a server-like run of many events. Each step (marked with
 * gpuleak_mark_iteration, found with dlsym so that it runs without gpuleak) makes PAIRS
 * cudaMalloc/cudaFree pairs of 4 KiB to 64 KiB in `scratch` (freed at once) and keeps LEAK bytes
 * in `leak_step`, never freed. Model weights of 16 MiB are allocated first (`load_weights`) and
 * kept. Prints `summary <steps> <events> <live bytes>`; live at exit: 16 MiB + STEPS x LEAK.
 */
#define _GNU_SOURCE
#include "fake_cuda_runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long events;

__attribute__((noinline)) static void *load_weights(void)
{
    void *p = NULL;
    if (cudaMalloc(&p, 16 << 20) != cudaSuccess)
        exit(1);
    events++;
    return p;
}

__attribute__((noinline)) static void scratch(size_t size)
{
    void *p = NULL;
    if (cudaMalloc(&p, size) != cudaSuccess || cudaFree(p) != cudaSuccess)
        exit(1);
    events += 2;
}

__attribute__((noinline)) static void leak_step(size_t size)
{
    void *p = NULL;
    if (cudaMalloc(&p, size) != cudaSuccess)
        exit(1);
    events++;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: long_run STEPS PAIRS LEAK\n");
        return 2;
    }
    long steps = atol(argv[1]), pairs = atol(argv[2]);
    size_t leak = (size_t)atol(argv[3]);
    void (*mark)(const char *) = NULL;
    *(void **)&mark = dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");
    load_weights();
    for (long s = 0; s < steps; s++) {
        if (mark)
            mark("step");
        for (long i = 0; i < pairs; i++)
            scratch(4096 << (i % 5));
        leak_step(leak);
    }
    printf("summary %ld %llu %llu\n", steps, events,
           (unsigned long long)(16 << 20) + (unsigned long long)steps * leak);
    return 0;
}
