/*
 * unbound_driver.c: a driver stub built the way some shims and stub drivers are, without
 * -Bsymbolic: its cuGetProcAddress_v2 hands out the address the global scope gives for its own
 * names, which with gpuleak preloaded is gpuleak's export. Built at test time as
 * `libcuda.so.1` (soname too) into a directory of its own and loaded RTLD_LOCAL by
 * `unbound_user`, so the global scope has no other definition: gpuleak's export must find the
 * real one in the loaded library itself. Memory is malloc'd; only what the test calls exists.
 */
#include <stdlib.h>
#include <string.h>

typedef unsigned long long CUdeviceptr;

int cuInit(unsigned flags)
{
    (void)flags;
    return 0;
}

int cuMemAlloc_v2(CUdeviceptr *p, size_t size)
{
    if (p == NULL || size == 0)
        return 1;
    void *m = malloc(size);
    if (m == NULL)
        return 2;
    *p = (CUdeviceptr)m;
    return 0;
}

int cuMemFree_v2(CUdeviceptr p)
{
    free((void *)p);
    return 0;
}

/* The address of an exported function, taken in a -fPIC object without -Bsymbolic, goes
 * through the GOT: whatever the global scope binds the name to. */
int cuGetProcAddress_v2(const char *symbol, void **pfn, int version, unsigned long long flags,
                        int *status)
{
    (void)version;
    (void)flags;
    if (status != NULL)
        *status = 0;
    if (strcmp(symbol, "cuMemAlloc") == 0)
        *pfn = (void *)&cuMemAlloc_v2;
    else if (strcmp(symbol, "cuMemFree") == 0)
        *pfn = (void *)&cuMemFree_v2;
    else {
        *pfn = NULL;
        if (status != NULL)
            *status = 1;
        return 500;
    }
    return 0;
}
