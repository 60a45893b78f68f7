/*
 * two_runtimes RUNTIME1 RUNTIME2: two copies of the CUDA runtime in one process (two files,
 * each opened RTLD_LOCAL, as two Python extensions that bundle their own libcudart do). Through
 * each copy's own cudaMalloc/cudaFree: 1 MiB and 3 MiB through the first, 2 MiB and 4 MiB
 * through the second, one free each, then a request too large to succeed through the second and
 * each copy's cudaGetLastError: the error is the second copy's alone (each copy keeps its own),
 * so a call taken to the wrong copy shows. Prints a line per call (report.h) and
 * `distinct 1` when the loader gave two copies. Live at exit: 3 MiB + 4 MiB.
 */
#define _GNU_SOURCE
#include "report.h"

#include <dlfcn.h>
#include <stdlib.h>

typedef int (*malloc_t)(void **, size_t);
typedef int (*free_t)(void *);
typedef int (*last_t)(void);

struct copy {
    malloc_t malloc;
    free_t free;
    last_t last_error;
};

static int open_copy(const char *path, struct copy *c, void **handle)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "two_runtimes: %s\n", dlerror());
        return 0;
    }
    *handle = h;
    c->malloc = (malloc_t)dlsym(h, "cudaMalloc");
    c->free = (free_t)dlsym(h, "cudaFree");
    c->last_error = (last_t)dlsym(h, "cudaGetLastError");
    return c->malloc && c->free && c->last_error;
}

static int round_through(struct copy *c, size_t keep, size_t drop)
{
    void *p = NULL, *q = NULL;
    int r1 = c->malloc(&p, drop);
    report("cudaMalloc", r1, PTR(p), drop);
    int r2 = c->malloc(&q, keep);
    report("cudaMalloc", r2, PTR(q), keep);
    int r3 = c->free(p);
    report("cudaFree", r3, PTR(p), 0);
    return r1 == 0 && r2 == 0 && r3 == 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: two_runtimes RUNTIME1 RUNTIME2\n");
        return 2;
    }
    struct copy a, b;
    void *ha = NULL, *hb = NULL;
    if (!open_copy(argv[1], &a, &ha) || !open_copy(argv[2], &b, &hb))
        return 2;
    printf("distinct %d\n", ha != hb && (void *)a.malloc != (void *)b.malloc);
    int ok = round_through(&a, 3 << 20, 1 << 20) && round_through(&b, 4 << 20, 2 << 20);
    void *huge = NULL;
    int big = b.malloc(&huge, (size_t)1 << 50);
    report("cudaMalloc", big, PTR(huge), (size_t)1 << 50);
    printf("last_error first %d second %d\n", a.last_error(), b.last_error());
    return ok && big != 0 ? 0 : 1;
}
