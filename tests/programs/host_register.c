/*
 * host_register: page-locking existing host memory. Linked with -lcuda. Registers a 1 MiB
 * malloc'd buffer with cuMemHostRegister_v2, registers it again (already registered: 712),
 * unregisters it, unregisters it again (not registered: 713); registers a 64 KiB buffer and
 * keeps it registered at exit. Registered memory is not device memory: cuMemGetInfo_v2 does
 * not change.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <stdlib.h>

int main(void)
{
    if (driver_setup() != 0)
        return 2;
    void *big = aligned_alloc(4096, 1048576);
    void *small = aligned_alloc(4096, 65536);
    if (big == NULL || small == NULL)
        return 2;
    report_free();
    EXPECT("cuMemHostRegister_v2", cuMemHostRegister_v2(big, 1048576, CU_MEMHOSTREGISTER_PORTABLE),
           CUDA_SUCCESS, big, 1048576);
    EXPECT("cuMemHostRegister_v2", cuMemHostRegister_v2(big, 1048576, 0),
           CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, 0, 1048576);
    EXPECT("cuMemHostUnregister", cuMemHostUnregister(big), CUDA_SUCCESS, big, 0);
    EXPECT("cuMemHostUnregister", cuMemHostUnregister(big), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED,
           big, 0);
    EXPECT("cuMemHostRegister_v2", cuMemHostRegister_v2(small, 65536, 0), CUDA_SUCCESS, small,
           65536);
    report_free();
    free(big);
    return g_failures == 0 ? 0 : 1;
}
