/*
 * procaddress [NAME VERSION FLAGS]...: dlopens libcuda.so.1 and asks cuGetProcAddress_v2 for
 * each (base name, CUDA version, flags) triple (a built-in list when none is given). Prints
 *     proc <name> <version> <flags> <rc> <status> <symbol>
 * where <symbol> is the exported name at the returned address (dladdr), or `null`. The built-in
 * list ends with one query through the old cuGetProcAddress (tag `proc-v1`, status -1). Checks that
 * the address equals dlsym(handle, <symbol>), printing `MISMATCH` and exiting 1 if not.
 * An empty name is printed as "".
 */
#define _GNU_SOURCE
#include "fake_cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef CUresult (*getproc_v2_t)(const char *, void **, int, cuuint64_t,
                                 CUdriverProcAddressQueryResult *);

static const struct {
    const char *name;
    int version;
    int flags;
} k_default[] = {
    {"cuMemAlloc", 12000, 0},
    {"cuMemAlloc", 3000, 0},
    {"cuMemFree", 12000, 0},
    {"cuMemAllocPitch", 12000, 0},
    {"cuMemGetInfo", 12000, 0},
    {"cuMemAllocHost", 12000, 0},
    {"cuMemHostAlloc", 12000, 0},
    {"cuMemAllocManaged", 12000, 0},
    {"cuMemAllocAsync", 12000, 0},
    {"cuMemAllocAsync", 12000, 2},
    {"cuMemFreeAsync", 12000, 0},
    {"cuMemFreeAsync", 12000, 2},
    {"cuMemFreeAsync", 11020, 1},
    {"cuStreamDestroy", 12000, 0},
    {"cuDevicePrimaryCtxRelease", 12000, 0},
    {"cuDevicePrimaryCtxRelease", 10000, 0},
    {"cuGetProcAddress", 12000, 0},
    {"cuGetProcAddress", 11030, 0},
    {"", 0, 0},
    {"cuNoSuchFunction", 12000, 0},
};

/* Prints the line for one answer; returns 1 if the address is not the named export. */
static int print_answer(void *h, const char *tag, const char *name, int version, int flags,
                        CUresult rc, int status, void *fn)
{
    const char *sym = NULL;
    Dl_info info;
    if (fn != NULL && dladdr(fn, &info) != 0)
        sym = info.dli_sname;
    printf("%s %s %d %d %d %d %s\n", tag, *name ? name : "\"\"", version, flags, rc, status,
           fn == NULL ? "null" : sym != NULL ? sym : "unnamed");
    if (fn != NULL && (sym == NULL || dlsym(h, sym) != fn)) {
        printf("MISMATCH %s\n", sym != NULL ? sym : "unnamed");
        return 1;
    }
    return 0;
}

static int query(void *h, getproc_v2_t get, const char *name, int version, int flags)
{
    void *fn = (void *)0x1; /* must be overwritten, NULL on failure */
    CUdriverProcAddressQueryResult status = -1;
    CUresult rc = get(name, &fn, version, (cuuint64_t)flags, &status);
    return print_answer(h, "proc", name, version, flags, rc, status, fn);
}

int main(int argc, char **argv)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "procaddress: %s\n", dlerror());
        return 2;
    }
    getproc_v2_t get = (getproc_v2_t)dlsym(h, "cuGetProcAddress_v2");
    if (get == NULL) {
        fprintf(stderr, "procaddress: no cuGetProcAddress_v2\n");
        return 2;
    }
    int bad = 0;
    if (argc > 1) {
        for (int i = 1; i + 2 < argc; i += 3)
            bad |= query(h, get, argv[i], atoi(argv[i + 1]), atoi(argv[i + 2]));
    } else {
        for (size_t i = 0; i < sizeof k_default / sizeof k_default[0]; i++)
            bad |= query(h, get, k_default[i].name, k_default[i].version, k_default[i].flags);
        /* The CUDA 11.3 signature (no status argument). */
        typedef CUresult (*getproc_t)(const char *, void **, int, cuuint64_t);
        getproc_t old = (getproc_t)dlsym(h, "cuGetProcAddress");
        void *fn = NULL;
        CUresult rc = old != NULL ? old("cuMemAllocAsync", &fn, 12000, 2) : -1;
        bad |= print_answer(h, "proc-v1", "cuMemAllocAsync", 12000, 2, rc, -1, fn);
    }
    return bad;
}
