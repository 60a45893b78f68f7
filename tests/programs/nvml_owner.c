/*
 * nvml_owner: a program that uses NVML itself, as PyTorch does, around an out-of-memory
 * failure. It initialises NVML (dlopen "libnvidia-ml.so.1", nvmlInit_v2), allocates 1 MiB
 * blocks with cudaMalloc until one fails, then prints what NVML says of the device's processes
 * through the unversioned nvmlDeviceGetComputeRunningProcesses (16-byte v1 entries, as PyTorch's
 * out-of-memory message reads them; the self entry first marked "self"):
 *     process <pid|self> <used bytes>
 * then whether NVML is still initialised before its own nvmlShutdown and after it:
 *     nvml before shutdown <return of nvmlDeviceGetCount_v2>    (0: still initialised)
 *     nvml after shutdown <return of nvmlDeviceGetCount_v2>     (1: NVML_ERROR_UNINITIALIZED)
 * and finally `allocated <n>`. Exits 0 when the failure was cudaErrorMemoryAllocation.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#define BLOCK 1048576
#define MAX_BLOCKS 65536

struct process_v1 {
    unsigned int pid;
    unsigned long long used;
};

int main(void)
{
    void *nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (nvml == NULL) {
        printf("no nvml\n");
        return 2;
    }
    int (*init)(void) = (int (*)(void))dlsym(nvml, "nvmlInit_v2");
    int (*shutdown)(void) = (int (*)(void))dlsym(nvml, "nvmlShutdown");
    int (*count)(unsigned *) = (int (*)(unsigned *))dlsym(nvml, "nvmlDeviceGetCount_v2");
    int (*by_bus)(const char *, void **) =
        (int (*)(const char *, void **))dlsym(nvml, "nvmlDeviceGetHandleByPciBusId_v2");
    int (*running)(void *, unsigned *, struct process_v1 *) =
        (int (*)(void *, unsigned *, struct process_v1 *))dlsym(
            nvml, "nvmlDeviceGetComputeRunningProcesses");
    if (init() != 0)
        return 3;

    void **blocks = calloc(MAX_BLOCKS, sizeof *blocks);
    int n = 0;
    cudaError_t rc = cudaSuccess;
    while (n < MAX_BLOCKS && (rc = cudaMalloc(&blocks[n], BLOCK)) == cudaSuccess)
        n++;
    report("cudaMalloc", rc, 0, BLOCK);

    void *dev = NULL;
    struct process_v1 procs[8];
    unsigned found = 8;
    if (by_bus("0000:01:00.0", &dev) == 0 && running(dev, &found, procs) == 0)
        for (unsigned i = 0; i < found; i++) {
            if (procs[i].pid == (unsigned)getpid())
                printf("process self %llu\n", procs[i].used);
            else
                printf("process %u %llu\n", procs[i].pid, procs[i].used);
        }
    unsigned devices = 0;
    printf("nvml before shutdown %d\n", count(&devices));
    shutdown();
    printf("nvml after shutdown %d\n", count(&devices));

    for (int i = 0; i < n; i++)
        cudaFree(blocks[i]);
    printf("allocated %d\n", n);
    free(blocks);
    return rc == cudaErrorMemoryAllocation ? 0 : 1;
}
