/*
 * vmm [release-first]: the virtual memory management API the way PyTorch's expandable segments
 * use it. Linked with -lcuda. Asks the granularity; reserves 64 MiB of address space; creates
 * two 4 MiB physical allocations; maps them back to back at the start of the range; grants
 * read/write access (and checks the memory is usable through both mappings); unmaps both with
 * ONE cuMemUnmap of 8 MiB; releases both handles; frees the range. `release-first` releases the
 * first handle while it is still mapped (its memory stays until the unmap, as on the real
 * driver). Then leaks: reserves 32 MiB, creates 2 MiB, maps and enables it, and exits.
 * cuMemGetInfo_v2 lines show the device's free memory along the way. Sizes printed with
 * cuMemUnmap / cuMemAddressFree are the range lengths. Live at exit: one 2 MiB handle, mapped.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <string.h>

#define MiB (1ull << 20)

int main(int argc, char **argv)
{
    int release_first = argc > 1 && strcmp(argv[1], "release-first") == 0;
    if (driver_setup() != 0)
        return 2;
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    CUmemAccessDesc access = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};

    size_t gran = 0;
    EXPECT("cuMemGetAllocationGranularity",
           cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED),
           CUDA_SUCCESS, 0, gran);
    report_free();
    CUdeviceptr va = 0;
    EXPECT("cuMemAddressReserve", cuMemAddressReserve(&va, 64 * MiB, 0, 0, 0), CUDA_SUCCESS, va,
           64 * MiB);
    report_free();
    CUmemGenericAllocationHandle h1 = 0, h2 = 0;
    EXPECT("cuMemCreate", cuMemCreate(&h1, 4 * MiB, &prop, 0), CUDA_SUCCESS, h1, 4 * MiB);
    EXPECT("cuMemCreate", cuMemCreate(&h2, 4 * MiB, &prop, 0), CUDA_SUCCESS, h2, 4 * MiB);
    report_free();
    EXPECT("cuMemMap", cuMemMap(va, 4 * MiB, 0, h1, 0), CUDA_SUCCESS, va, 4 * MiB);
    EXPECT("cuMemMap", cuMemMap(va + 4 * MiB, 4 * MiB, 0, h2, 0), CUDA_SUCCESS, va + 4 * MiB,
           4 * MiB);
    EXPECT("cuMemSetAccess", cuMemSetAccess(va, 8 * MiB, &access, 1), CUDA_SUCCESS, va, 8 * MiB);
    /* The fake's mappings are real: both halves can be written and read back. */
    unsigned char *bytes = (unsigned char *)(uintptr_t)va;
    bytes[0] = 0x11;
    bytes[8 * MiB - 1] = 0x22;
    check("vmm-memory-usable", bytes[0] == 0x11 && bytes[8 * MiB - 1] == 0x22);
    report_free();
    if (release_first) {
        EXPECT("cuMemRelease", cuMemRelease(h1), CUDA_SUCCESS, h1, 0);
        report_free(); /* still mapped: still charged */
    }
    EXPECT("cuMemUnmap", cuMemUnmap(va, 8 * MiB), CUDA_SUCCESS, va, 8 * MiB);
    report_free();
    if (!release_first)
        EXPECT("cuMemRelease", cuMemRelease(h1), CUDA_SUCCESS, h1, 0);
    EXPECT("cuMemRelease", cuMemRelease(h2), CUDA_SUCCESS, h2, 0);
    report_free();
    EXPECT("cuMemAddressFree", cuMemAddressFree(va, 64 * MiB), CUDA_SUCCESS, va, 64 * MiB);

    /* The leak: created, mapped and never given back. */
    CUdeviceptr va2 = 0;
    CUmemGenericAllocationHandle h3 = 0;
    EXPECT("cuMemAddressReserve", cuMemAddressReserve(&va2, 32 * MiB, 0, 0, 0), CUDA_SUCCESS,
           va2, 32 * MiB);
    EXPECT("cuMemCreate", cuMemCreate(&h3, 2 * MiB, &prop, 0), CUDA_SUCCESS, h3, 2 * MiB);
    EXPECT("cuMemMap", cuMemMap(va2, 2 * MiB, 0, h3, 0), CUDA_SUCCESS, va2, 2 * MiB);
    EXPECT("cuMemSetAccess", cuMemSetAccess(va2, 2 * MiB, &access, 1), CUDA_SUCCESS, va2,
           2 * MiB);
    report_free();
    return g_failures == 0 ? 0 : 1;
}
