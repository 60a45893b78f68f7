/*
 * The one parser of FAKE_CUDA_CAPACITY, shared by the fakes that report the device's size (the
 * driver and NVML), so they cannot disagree about it.
 */
#ifndef GPULEAK_FAKE_SIZE_H
#define GPULEAK_FAKE_SIZE_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Parses "1073741824", "64M", "2G", "512K", "1T" (also "64MB", "64MiB"). Returns 0 on error. */
static inline int fake_parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift != 0 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != '\0' || (shift != 0 && v > (~0ull >> shift)))
        return 0;
    *out = (size_t)(v << shift);
    return 1;
}

#endif
