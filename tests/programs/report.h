/*
 * Output convention shared by the test programs: one line per CUDA call,
 *     <api> <return code> <pointer or 0x0> <size>
 * so a test can compare what a program saw with and without the hook. Sizes are the requested
 * byte counts (0 for frees and other calls without one).
 */
#ifndef GPULEAK_TEST_REPORT_H
#define GPULEAK_TEST_REPORT_H

#include <stdint.h>
#include <stdio.h>

#define PTR(p) ((unsigned long long)(uintptr_t)(p))

/* Line-buffered stdout even into a pipe: nothing is lost on abort(), SIGKILL after a line, or
 * duplicated by fork(). */
__attribute__((constructor)) static void report_line_buffered(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void report(const char *api, int rc, unsigned long long ptr, size_t size)
{
    printf("%s %d 0x%llx %zu\n", api, rc, ptr, size);
}

#endif
