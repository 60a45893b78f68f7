/*
 * unbound_user DRIVER [DRIVER2]: loads DRIVER (unbound_driver.c built as libcuda.so.1)
 * RTLD_LOCAL, takes cuMemAlloc and cuMemFree through its cuGetProcAddress_v2, allocates 1 MiB and
 * 2 MiB and frees the first. With DRIVER2 (a second copy, elsewhere), then closes DRIVER
 * (`unloaded 1` when it is gone) and does the same through DRIVER2: a pointer kept into the
 * first would now call unmapped code. Prints a line per call (report.h); exits 0 when every
 * call succeeded. Live at exit: 2 MiB per driver.
 */
#define _GNU_SOURCE
#include "report.h"

#include <dlfcn.h>

typedef int (*proc_t)(const char *, void **, int, unsigned long long, int *);
typedef int (*alloc_t)(unsigned long long *, size_t);
typedef int (*free_t)(unsigned long long);

static int round_through(const char *path, void **handle)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "unbound_user: %s\n", dlerror());
        return 2;
    }
    *handle = h;
    int (*init)(unsigned) = (int (*)(unsigned))dlsym(h, "cuInit");
    proc_t proc = (proc_t)dlsym(h, "cuGetProcAddress_v2");
    if (init == NULL || proc == NULL || init(0) != 0)
        return 2;
    void *a = NULL, *f = NULL;
    int st = 0;
    report("cuGetProcAddress_v2", proc("cuMemAlloc", &a, 12000, 0, &st), 0, 0);
    report("cuGetProcAddress_v2", proc("cuMemFree", &f, 12000, 0, &st), 0, 0);
    if (a == NULL || f == NULL)
        return 1;
    unsigned long long p = 0, q = 0;
    int r1 = ((alloc_t)a)(&p, 1 << 20);
    report("cuMemAlloc_v2", r1, p, 1 << 20);
    int r2 = ((alloc_t)a)(&q, 2 << 20);
    report("cuMemAlloc_v2", r2, q, 2 << 20);
    int r3 = ((free_t)f)(p);
    report("cuMemFree_v2", r3, p, 0);
    return r1 == 0 && r2 == 0 && r3 == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: unbound_user DRIVER [DRIVER2]\n");
        return 2;
    }
    void *h = NULL;
    int rc = round_through(argv[1], &h);
    if (rc != 0 || argc == 2)
        return rc;
    dlclose(h);
    printf("unloaded %d\n", dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD) == NULL);
    void *h2 = NULL;
    return round_through(argv[2], &h2);
}
