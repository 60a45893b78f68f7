/*
 * ipc: memory shared between processes, used within one. Linked with -lcuda.
 * cuMemAlloc_v2 1 MiB; cuIpcGetMemHandle of it; cuIpcOpenMemHandle_v2 of that handle (the fake
 * maps it at a new alias address; the size printed is what cuMemGetAddressRange_v2 says of the
 * alias); cuIpcCloseMemHandle; cuMemFree_v2. Then the VMM way: cuMemCreate 2 MiB with POSIX
 * file descriptors requested, cuMemExportToShareableHandle (the fd printed as the pointer),
 * cuMemImportFromShareableHandle of that fd (a new handle of the same memory: the device's free
 * memory does not change; size printed 0), cuMemRelease of the imported handle, then of the
 * original. Nothing live at exit.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    if (driver_setup() != 0)
        return 2;
    CUdeviceptr d = 0, alias = 0, base = 0;
    size_t size = 0;
    CUipcMemHandle h;
    memset(&h, 0, sizeof h);
    EXPECT("cuMemAlloc_v2", cuMemAlloc_v2(&d, 1048576), CUDA_SUCCESS, d, 1048576);
    EXPECT("cuIpcGetMemHandle", cuIpcGetMemHandle(&h, d), CUDA_SUCCESS, d, 0);
    CUresult rc = cuIpcOpenMemHandle_v2(&alias, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
    if (rc == CUDA_SUCCESS && cuMemGetAddressRange_v2(&base, &size, alias + 100) != CUDA_SUCCESS)
        g_failures++;
    expect_rc("cuIpcOpenMemHandle_v2", rc, CUDA_SUCCESS, alias, size);
    check("ipc-alias-is-new-address", alias != 0 && alias != d && base == alias);
    EXPECT("cuIpcCloseMemHandle", cuIpcCloseMemHandle(alias), CUDA_SUCCESS, alias, 0);
    EXPECT("cuMemFree_v2", cuMemFree_v2(d), CUDA_SUCCESS, d, 0);

    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    CUmemGenericAllocationHandle mine = 0, imported = 0;
    int fd = -1;
    EXPECT("cuMemCreate", cuMemCreate(&mine, 2097152, &prop, 0), CUDA_SUCCESS, mine, 2097152);
    report_free();
    EXPECT("cuMemExportToShareableHandle",
           cuMemExportToShareableHandle(&fd, mine, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
           CUDA_SUCCESS, (unsigned)fd, 0);
    EXPECT("cuMemImportFromShareableHandle",
           cuMemImportFromShareableHandle(&imported, (void *)(intptr_t)fd,
                                          CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR),
           CUDA_SUCCESS, imported, 0);
    close(fd);
    check("imported-handle-is-new", imported != 0 && imported != mine);
    report_free();
    EXPECT("cuMemRelease", cuMemRelease(imported), CUDA_SUCCESS, imported, 0);
    report_free(); /* the original still holds the memory */
    EXPECT("cuMemRelease", cuMemRelease(mine), CUDA_SUCCESS, mine, 0);
    report_free();
    return g_failures == 0 ? 0 : 1;
}
