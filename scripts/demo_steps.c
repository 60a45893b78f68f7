/* The demo workload until the diffusion sampler lands: a "sampler" that loads weights once,
 * then runs denoising steps that each take scratch memory and give it back, except for a
 * 1 MiB buffer per step that is never freed (the per-step leak gpuleak should point at).
 *
 * It talks to the driver the way cudarc does (dlopen libcuda.so.1 + dlsym), so it runs on a real
 * GPU and on gpuleak's fake driver alike, and marks steps with gpuleak_mark_iteration when the
 * hook is present.  Build: cc -g -O0 -o demo_steps demo_steps.c -ldl
 * Usage: demo_steps [STEPS] [LEAK_BYTES_PER_STEP]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*fn_init)(unsigned);
typedef int (*fn_retain)(void **, int);
typedef int (*fn_set)(void *);
typedef int (*fn_alloc)(unsigned long long *, size_t);
typedef int (*fn_free)(unsigned long long);
typedef void (*fn_mark)(const char *);

static fn_alloc mem_alloc;
static fn_free mem_free;

static void *need(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "demo_steps: %s not found in libcuda.so.1\n", name);
        exit(1);
    }
    return p;
}

static unsigned long long alloc_or_die(size_t n, const char *what) {
    unsigned long long p = 0;
    int r = mem_alloc(&p, n);
    if (r != 0) {
        fprintf(stderr, "demo_steps: cuMemAlloc(%zu) for %s failed with %d\n", n, what, r);
        exit(1);
    }
    return p;
}

__attribute__((noinline)) static unsigned long long load_weights(void) {
    return alloc_or_die(64u << 20, "weights");
}

__attribute__((noinline)) static void denoise_step(size_t leak) {
    unsigned long long scratch = alloc_or_die(8u << 20, "scratch");
    unsigned long long attn = alloc_or_die(4u << 20, "attention");
    if (leak)
        (void)alloc_or_die(leak, "cached noise"); /* the leak: never freed */
    mem_free(attn);
    mem_free(scratch);
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 50;
    size_t leak = argc > 2 ? (size_t)atoll(argv[2]) : (1u << 20);
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
    if (!cuda) {
        fprintf(stderr, "demo_steps: cannot load libcuda.so.1: %s\n", dlerror());
        return 1;
    }
    fn_init init = (fn_init)need(cuda, "cuInit");
    fn_retain retain = (fn_retain)need(cuda, "cuDevicePrimaryCtxRetain");
    fn_set set = (fn_set)need(cuda, "cuCtxSetCurrent");
    mem_alloc = (fn_alloc)need(cuda, "cuMemAlloc_v2");
    mem_free = (fn_free)need(cuda, "cuMemFree_v2");
    fn_mark mark = (fn_mark)dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");
    void *ctx = NULL;
    if (init(0) != 0 || retain(&ctx, 0) != 0 || set(ctx) != 0) {
        fprintf(stderr, "demo_steps: no CUDA device\n");
        return 1;
    }
    unsigned long long weights = load_weights();
    for (int i = 0; i < steps; i++) {
        if (mark)
            mark("step");
        denoise_step(leak);
        usleep(20000);
    }
    mem_free(weights);
    printf("demo_steps: %d steps, %zu bytes leaked per step\n", steps, leak);
    return 0;
}
