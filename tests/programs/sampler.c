/*
 * sampler: a fake diffusion sampler on the (fake) runtime, for the leak-pattern tests. No GPU.
 *
 *     sampler [--pattern P]... [--images N] [--steps N] [--mark|--no-mark] [--oom] [-q]
 *
 * Runs N images (default 4) of N steps (default 10). Every step allocates an 8 MiB scratch
 * buffer and frees it before the next step (`step_scratch`: steady). Patterns, combinable, each
 * allocating from its own noinline function so that every pattern is its own site:
 *     per-step-leak  `denoise_step` keeps 3 MiB of scratch per step, never freed (a leak);
 *     keep-latents   `keep_latents` keeps each image's final latents, 2 MiB, after its last step
 *                    (a leak of 2 MiB per image, 2 MiB / steps per iteration);
 *     sawtooth       `build_graph` keeps an "autograd graph" node of 1 MiB per step, all freed at
 *                    the end of the image (`release_graph`);
 *     model-switch   `load_model` loads a 64 MiB model at start; `switch_model` loads a second
 *                    one at the start of image N/2 without freeing the first;
 *     plateau        `grow_cache` adds 4 MiB to a cache at each of the first 5 steps of the run,
 *                    then never again; kept to exit;
 *     weights        `load_weights` allocates 64 MiB at start, kept to exit;
 *     none           nothing more (the default).
 * --mark (default) calls gpuleak_mark_iteration("step") (found with dlsym(RTLD_DEFAULT), so the
 * program runs without gpuleak) at the start of each step, before its allocations; --no-mark
 * does not. So a run marks images x steps iterations.
 * Every step launches four kernels with cudaLaunchKernel (the fake runtime only counts them), each
 * its own host stub: `unet_down` first, before the step's allocations, then `unet_mid`, `unet_up`
 * and `scheduler_step`; so a run with --no-mark still repeats one launch sequence per step, which
 * the report's automatic iterations find. Launches are not printed.
 * --oom keeps stepping past --images (bounded at 100000 steps) until an allocation fails (run it
 * with a small FAKE_CUDA_CAPACITY), then prints `oom <image> <steps run, the failing one
 * included> <function> <rc> <size>` and exits 0 if that was cudaErrorMemoryAllocation.
 *
 * Output: one line per CUDA call (report.h), then `summary <images> <steps> <allocs> <frees>
 * <live bytes>` where images/steps are what ran. -q prints only the summary (and the oom line).
 * Exits 0 when every call returned cudaSuccess (apart from the expected --oom failure), 1
 * otherwise, 2 on a usage error. Live at exit, by design (N images, S steps):
 *     per-step-leak 3 MiB x N x S; keep-latents 2 MiB x N; model-switch 128 MiB (64 MiB when N/2
 *     is 0); plateau 4 MiB x min(5, N x S); weights 64 MiB.
 */
#define _GNU_SOURCE
#include "fake_cuda_runtime.h"
#include "report.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define MIB ((size_t)1 << 20)
#define MAX_OOM_STEPS 100000
#define MAX_GRAPH 4096

enum {
    P_PER_STEP_LEAK = 1 << 0,
    P_KEEP_LATENTS = 1 << 1,
    P_SAWTOOTH = 1 << 2,
    P_MODEL_SWITCH = 1 << 3,
    P_PLATEAU = 1 << 4,
    P_WEIGHTS = 1 << 5,
};

static const struct {
    const char *name;
    int bit;
} PATTERNS[] = {
    {"per-step-leak", P_PER_STEP_LEAK}, {"keep-latents", P_KEEP_LATENTS},
    {"sawtooth", P_SAWTOOTH},           {"model-switch", P_MODEL_SWITCH},
    {"plateau", P_PLATEAU},             {"weights", P_WEIGHTS},
    {"none", 0},
};

static int quiet;
static int oom_mode;
static int failures;
static unsigned long long allocs, frees, live;
/* Set when an allocation failed in --oom mode: where, and with what. */
static int oom_rc;
static const char *oom_where;
static size_t oom_size;

/* Records the outcome of a cudaMalloc made by `where`. Returns 0 on success. */
static int after_malloc(const char *where, cudaError_t rc, void *p, size_t size)
{
    if (!quiet)
        report("cudaMalloc", rc, rc == cudaSuccess ? PTR(p) : 0, size);
    if (rc == cudaSuccess) {
        allocs++;
        live += size;
        return 0;
    }
    if (oom_mode) {
        oom_rc = rc;
        oom_where = where;
        oom_size = size;
    } else {
        fprintf(stderr, "sampler: %s: cudaMalloc(%zu) returned %d (%s)\n", where, size, rc,
                cudaGetErrorString(rc));
        failures++;
    }
    return -1;
}

/* Frees p (allocated with `size` bytes); a NULL p is skipped. */
static void release(const char *where, void *p, size_t size)
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
        fprintf(stderr, "sampler: %s: cudaFree returned %d (%s)\n", where, rc,
                cudaGetErrorString(rc));
        failures++;
    }
}

/* Each allocating function calls cudaMalloc itself, so it is the innermost frame of its site. */
#define ALLOC(where, slot, size)                                                                \
    __extension__({                                                                             \
        cudaError_t rc_ = cudaMalloc(&(slot), size); /* before slot is read */                  \
        after_malloc(where, rc_, slot, size);                                                   \
    })

NOINLINE int load_weights(void **out)
{
    *out = NULL;
    return ALLOC("load_weights", *out, 64 * MIB);
}

NOINLINE int load_model(void **out)
{
    *out = NULL;
    return ALLOC("load_model", *out, 64 * MIB);
}

NOINLINE int switch_model(void **out)
{
    *out = NULL;
    return ALLOC("switch_model", *out, 64 * MIB);
}

NOINLINE int step_scratch(void **out)
{
    *out = NULL;
    return ALLOC("step_scratch", *out, 8 * MIB);
}

/* The leak: 3 MiB of scratch per step that nothing frees. */
NOINLINE int denoise_step(void **out)
{
    *out = NULL;
    return ALLOC("denoise_step", *out, 3 * MIB);
}

NOINLINE int build_graph(void **out)
{
    *out = NULL;
    return ALLOC("build_graph", *out, 1 * MIB);
}

NOINLINE void release_graph(void **graph, int *n)
{
    for (int i = 0; i < *n; i++) {
        release("release_graph", graph[i], 1 * MIB);
        graph[i] = NULL;
    }
    *n = 0;
}

NOINLINE int grow_cache(void **out)
{
    *out = NULL;
    return ALLOC("grow_cache", *out, 4 * MIB);
}

NOINLINE int keep_latents(void **out)
{
    *out = NULL;
    return ALLOC("keep_latents", *out, 2 * MIB);
}

/* Host stubs standing for the kernels of a step: only their addresses matter. */
NOINLINE void unet_down(void) { __asm__ volatile(""); }
NOINLINE void unet_mid(void) { __asm__ volatile(""); }
NOINLINE void unet_up(void) { __asm__ volatile(""); }
NOINLINE void scheduler_step(void) { __asm__ volatile(""); }

/* Launches the kernel whose host stub is `stub`; a failure counts as one. */
static void launch(const char *name, void (*stub)(void))
{
    dim3 grid = {1, 1, 1}, block = {1, 1, 1};
    cudaError_t rc = cudaLaunchKernel((const void *)stub, grid, block, NULL, 0, NULL);
    if (rc != cudaSuccess) {
        fprintf(stderr, "sampler: cudaLaunchKernel(%s) returned %d (%s)\n", name, rc,
                cudaGetErrorString(rc));
        failures++;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: sampler [--pattern P]... [--images N] [--steps N] [--mark|--no-mark] "
                    "[--oom] [-q]\npatterns:");
    for (size_t i = 0; i < sizeof PATTERNS / sizeof PATTERNS[0]; i++)
        fprintf(stderr, " %s", PATTERNS[i].name);
    fputc('\n', stderr);
}

static int parse_count(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    int patterns = 0;
    int mark_on = 1;
    long images = 4, steps = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--pattern") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            size_t k = 0, n = sizeof PATTERNS / sizeof PATTERNS[0];
            while (k < n && strcmp(PATTERNS[k].name, p) != 0)
                k++;
            if (k == n) {
                fprintf(stderr, "sampler: unknown pattern %s\n", p);
                usage();
                return 2;
            }
            patterns |= PATTERNS[k].bit;
        } else if (strcmp(a, "--images") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], &images) != 0) {
                usage();
                return 2;
            }
        } else if (strcmp(a, "--steps") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], &steps) != 0) {
                usage();
                return 2;
            }
        } else if (strcmp(a, "--mark") == 0) {
            mark_on = 1;
        } else if (strcmp(a, "--no-mark") == 0) {
            mark_on = 0;
        } else if (strcmp(a, "--oom") == 0) {
            oom_mode = 1;
        } else if (strcmp(a, "-q") == 0) {
            quiet = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (steps > MAX_GRAPH) {
        fprintf(stderr, "sampler: at most %d steps\n", MAX_GRAPH);
        return 2;
    }

    void (*mark)(const char *) = NULL;
    if (mark_on)
        *(void **)&mark = dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");

    void *weights = NULL, *model = NULL, *model2 = NULL;
    void **graph = calloc(MAX_GRAPH, sizeof *graph);
    int graph_n = 0;
    long plateau_steps = 0, total_steps = 0, image = 0;
    int stop = 0;

    if ((patterns & P_WEIGHTS) && load_weights(&weights) != 0)
        stop = 1;
    if (!stop && (patterns & P_MODEL_SWITCH) && load_model(&model) != 0)
        stop = 1;

    for (image = 0; !stop && (oom_mode ? total_steps < MAX_OOM_STEPS : image < images); image++) {
        if ((patterns & P_MODEL_SWITCH) && image == images / 2 && model2 == NULL &&
            switch_model(&model2) != 0)
            break;
        for (long step = 0; step < steps && !stop; step++) {
            if (mark)
                mark("step");
            total_steps++;
            launch("unet_down", unet_down);
            void *scratch, *leaked;
            if (step_scratch(&scratch) != 0) {
                stop = 1;
                break;
            }
            if ((patterns & P_PER_STEP_LEAK) && denoise_step(&leaked) != 0)
                stop = 1;
            if (!stop && (patterns & P_SAWTOOTH)) {
                if (build_graph(&graph[graph_n]) != 0)
                    stop = 1;
                else
                    graph_n++;
            }
            if (!stop && (patterns & P_PLATEAU) && plateau_steps < 5) {
                void *entry; /* kept in the "cache" for good */
                if (grow_cache(&entry) != 0)
                    stop = 1;
                else
                    plateau_steps++;
            }
            if (!stop) {
                launch("unet_mid", unet_mid);
                launch("unet_up", unet_up);
                launch("scheduler_step", scheduler_step);
            }
            release("step_scratch", scratch, 8 * MIB);
        }
        if (stop)
            break;
        if (patterns & P_SAWTOOTH)
            release_graph(graph, &graph_n);
        void *latents; /* kept, like a list of finished images */
        if ((patterns & P_KEEP_LATENTS) && keep_latents(&latents) != 0)
            break;
    }

    if (oom_mode) {
        if (oom_where == NULL) {
            fprintf(stderr, "sampler: no allocation failed in %d steps\n", MAX_OOM_STEPS);
            failures++;
        } else {
            printf("oom %ld %ld %s %d %zu\n", image, total_steps, oom_where, oom_rc, oom_size);
            if (oom_rc != cudaErrorMemoryAllocation)
                failures++;
        }
    }
    printf("summary %ld %ld %llu %llu %llu\n", image, total_steps, allocs, frees, live);
    free(graph);
    (void)weights;
    (void)model;
    return failures ? 1 : 0;
}
