/*
 * Helpers shared by the newer test programs (on top of report.h's output convention):
 * EXPECT() makes a call, prints its `<api> <code> <ptr> <size>` line and counts unexpected
 * return codes; driver_setup() initialises the driver and makes the primary context current
 * (for programs linked with -lcuda; it prints nothing); symbol_of() names the function a
 * pointer designates.
 */
#ifndef GPULEAK_TEST_EXPECT_H
#define GPULEAK_TEST_EXPECT_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any #include (expect.h uses dladdr)"
#endif

#include "report.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int g_failures;

static inline void expect_rc(const char *api, int rc, int want, unsigned long long ptr,
                             size_t size)
{
    report(api, rc, ptr, size);
    if (rc != want) {
        fprintf(stderr, "%s returned %d, expected %d\n", api, rc, want);
        g_failures++;
    }
}

/* Makes the call first, then reports: ptr and size are read after the call has set them. */
#define EXPECT(api, call, want, ptr, size)                                                      \
    do {                                                                                        \
        int rc_ = (call);                                                                       \
        expect_rc(api, rc_, want, PTR(ptr), size);                                              \
    } while (0)

/* Reports an invariant the program checks itself (`check <what> ok|FAILED`). */
static inline void check(const char *what, int ok)
{
    printf("check %s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        g_failures++;
}

/*
 * The exported name of the function `fn` points to, as the program sees it: dladdr's name when
 * it has one and `lib`'s dlsym of that name is `fn`; otherwise (an interposer's wrapper that
 * dladdr cannot name) the variant of `base` whose dlsym in `lib` is `fn` (`_ptsz`, `_ptds`,
 * `_v3`, `_v2`, the base name); "unnamed" if none is.
 */
static inline const char *symbol_of(void *lib, void *fn, const char *base)
{
    static __thread char buf[128];
    Dl_info info;
    if (fn == NULL)
        return "null";
    if (dladdr(fn, &info) != 0 && info.dli_sname != NULL && dlsym(lib, info.dli_sname) == fn)
        return info.dli_sname;
    static const char *const suffixes[] = {"_ptsz", "_ptds", "_v3", "_v2", ""};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", base, suffixes[i]);
        if (dlsym(lib, buf) == fn)
            return buf;
    }
    return "unnamed";
}

#ifdef GPULEAK_FAKE_CUDA_H
/* cuInit, then the primary context of device 0 made current. Returns 0 on success. */
static inline int driver_setup(void)
{
    CUcontext ctx = NULL;
    if (cuInit(0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS ||
        cuCtxSetCurrent(ctx) != CUDA_SUCCESS) {
        fprintf(stderr, "driver setup failed\n");
        return 1;
    }
    return 0;
}

/* Prints `cuMemGetInfo_v2 0 0x0 <free bytes>`. */
static inline void report_free(void)
{
    size_t free_bytes = 0, total = 0;
    EXPECT("cuMemGetInfo_v2", cuMemGetInfo_v2(&free_bytes, &total), CUDA_SUCCESS, 0, free_bytes);
}
#endif

#endif
