/*
 * torch_runtime: the runtime calls real PyTorch makes besides allocation, the way nvcc's
 * generated host code and PyTorch's start-up make them (linked against libcudart.so.12).
 *
 * Registers a "fat binary" with two kernels before main (as nvcc's constructors do), launches
 * them with `<<<>>>`'s push/pop protocol and cudaLaunchKernel, queries function attributes,
 * device properties, pointer attributes, stream priorities, events and capture status, probes an
 * optional driver function through cudaGetDriverEntryPoint, then unregisters the binary.
 * Prints `check <what> ok|FAILED` lines and one report line per launch; exits 1 on a failure.
 */
#define _GNU_SOURCE
#include "expect.h"
#include "fake_cuda_runtime.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host stubs nvcc generates: their addresses are the kernels' identities. */
static void denoise_stub(void) {}
static void add_noise_stub(void) {}
static void never_registered(void) {}

static void **g_fatbin;

__attribute__((constructor)) static void register_kernels(void)
{
    static char image[] = "placeholder fat binary";
    g_fatbin = __cudaRegisterFatBinary(image);
    __cudaRegisterFunction(g_fatbin, (const char *)denoise_stub, (char *)"_Z7denoisePfi",
                           "_Z7denoisePfi", -1, NULL, NULL, NULL, NULL, NULL);
    __cudaRegisterFunction(g_fatbin, (const char *)add_noise_stub, (char *)"_Z9add_noisePf",
                           "_Z9add_noisePf", -1, NULL, NULL, NULL, NULL, NULL);
    __cudaRegisterFatBinaryEnd(g_fatbin);
}

/* What `kernel<<<grid, block, 0, stream>>>(args)` compiles to. */
static cudaError_t launch(void (*stub)(void), dim3 grid, dim3 block, cudaStream_t stream)
{
    if (__cudaPushCallConfiguration(grid, block, 0, stream) != 0)
        return cudaErrorInvalidConfiguration;
    dim3 g, b;
    size_t shmem;
    cudaStream_t s;
    cudaError_t e = __cudaPopCallConfiguration(&g, &b, &shmem, &s);
    if (e != cudaSuccess)
        return e;
    int n = 7;
    void *args[] = {&n};
    return cudaLaunchKernel((const void *)stub, g, b, args, shmem, s);
}

int main(void)
{
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    unsigned long long (*driver_launches)(void) =
        drv ? (unsigned long long (*)(void))dlsym(drv, "fakeCudaLaunchCount") : NULL;

    dim3 grid = {4, 1, 1}, block = {256, 1, 1};
    EXPECT("cudaLaunchKernel", launch(denoise_stub, grid, block, NULL), cudaSuccess, 0, 0);
    EXPECT("cudaLaunchKernel", launch(denoise_stub, grid, block, NULL), cudaSuccess, 0, 0);
    EXPECT("cudaLaunchKernel", launch(add_noise_stub, grid, block, NULL), cudaSuccess, 0, 0);
    dim3 too_big = {1024, 2, 1};
    EXPECT("cudaLaunchKernel", launch(add_noise_stub, grid, too_big, NULL),
           cudaErrorInvalidConfiguration, 0, 0);
    check("launches counted by the runtime", fakeCudartLaunchCount() == 3);
    /* The driver is loaded by the runtime itself (dlopen after the first call). */
    if (driver_launches == NULL) {
        drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        driver_launches = drv ? (unsigned long long (*)(void))dlsym(drv, "fakeCudaLaunchCount")
                              : NULL;
    }
    check("launches reach the driver", driver_launches != NULL && driver_launches() == 3);
    dim3 got_g, got_b;
    size_t got_shmem;
    cudaStream_t got_s;
    check("popping an empty configuration fails",
          __cudaPopCallConfiguration(&got_g, &got_b, &got_shmem, &got_s) ==
              cudaErrorInvalidConfiguration);
    cudaGetLastError();

    struct cudaFuncAttributes fa;
    check("attributes of a registered kernel",
          cudaFuncGetAttributes(&fa, (const void *)denoise_stub) == cudaSuccess &&
              fa.maxThreadsPerBlock == 1024);
    check("attributes of an unregistered function",
          cudaFuncGetAttributes(&fa, (const void *)never_registered) ==
              cudaErrorInvalidDeviceFunction);
    check("shared memory opt-in",
          cudaFuncSetAttribute((const void *)denoise_stub, 8, 65536) == cudaSuccess);
    int blocks = 0;
    check("occupancy",
          cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(
              &blocks, (const void *)denoise_stub, 256, 0, 0) == cudaSuccess &&
              blocks == 8);
    cudaGetLastError();

    struct cudaDeviceProp prop;
    memset(&prop, 0xff, sizeof prop);
    size_t free_b = 0, total_b = 0;
    check("device properties",
          cudaGetDeviceProperties_v2(&prop, 0) == cudaSuccess &&
              strcmp(prop.name, "gpuleak fake GPU") == 0 && prop.major == 8 &&
              prop.minor == 6 && prop.multiProcessorCount == 84 && prop.warpSize == 32 &&
              cudaMemGetInfo(&free_b, &total_b) == cudaSuccess &&
              prop.totalGlobalMem == total_b && prop.reserved[62] == 0);
    check("no second device", cudaGetDeviceProperties_v2(&prop, 1) == cudaErrorInvalidDevice);
    cudaGetLastError();

    /* An optional driver function the driver lacks: success, NULL, and no lingering error. */
    void *fn = (void *)1;
    cudaDriverEntryPointQueryResult status = -1;
    check("a missing driver function is a success with NULL",
          cudaGetDriverEntryPoint("cuMulticastCreate", &fn, 0, &status) == cudaSuccess &&
              fn == NULL && status == 1 && cudaGetLastError() == cudaSuccess);
    check("a present one is found",
          cudaGetDriverEntryPointByVersion("cuMemCreate", &fn, 12000, 0, &status) ==
                  cudaSuccess &&
              fn != NULL && status == 0);

    void *dev = NULL, *pinned = NULL;
    char on_stack[16];
    struct cudaPointerAttributes pa;
    EXPECT("cudaMalloc", cudaMalloc(&dev, 1 << 20), cudaSuccess, dev, 1 << 20);
    EXPECT("cudaMallocHost", cudaMallocHost(&pinned, 4096), cudaSuccess, pinned, 4096);
    check("device memory, even inside",
          cudaPointerGetAttributes(&pa, (char *)dev + 100) == cudaSuccess &&
              pa.type == cudaMemoryTypeDevice && pa.device == 0);
    check("pinned memory",
          cudaPointerGetAttributes(&pa, pinned) == cudaSuccess && pa.type == cudaMemoryTypeHost);
    check("memory CUDA does not know",
          cudaPointerGetAttributes(&pa, on_stack) == cudaSuccess &&
              pa.type == cudaMemoryTypeUnregistered);

    int least = 1, greatest = 1, prio = 1;
    cudaStream_t s = NULL;
    check("stream priorities",
          cudaDeviceGetStreamPriorityRange(&least, &greatest) == cudaSuccess && least == 0 &&
              greatest == -5 && cudaStreamCreateWithPriority(&s, 1, -3) == cudaSuccess &&
              cudaStreamGetPriority(s, &prio) == cudaSuccess && prio == -3 &&
              cudaStreamQuery(s) == cudaSuccess);
    EXPECT("cudaMemcpyAsync", cudaMemcpyAsync(dev, on_stack, sizeof on_stack,
                                              cudaMemcpyHostToDevice, s),
           cudaSuccess, 0, sizeof on_stack);
    EXPECT("cudaMemsetAsync", cudaMemsetAsync(dev, 0, 1 << 20, s), cudaSuccess, 0, 1 << 20);

    cudaEvent_t a = NULL, b = NULL, untimed = NULL;
    float ms = -1;
    check("events",
          cudaEventCreate(&a) == cudaSuccess && cudaEventCreateWithFlags(&b, 0) == cudaSuccess &&
              cudaEventCreateWithFlags(&untimed, 2) == cudaSuccess &&
              cudaEventRecord(a, s) == cudaSuccess && cudaEventRecord(b, s) == cudaSuccess &&
              cudaEventRecord(untimed, s) == cudaSuccess &&
              cudaEventElapsedTime(&ms, a, b) == cudaSuccess && ms >= 0 &&
              cudaEventElapsedTime(&ms, a, untimed) == cudaErrorInvalidResourceHandle &&
              cudaStreamWaitEvent(s, b, 0) == cudaSuccess && cudaEventQuery(b) == cudaSuccess);
    cudaGetLastError();

    enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusActive;
    check("nothing is captured", cudaStreamIsCapturing(s, &cs) == cudaSuccess &&
                                     cs == cudaStreamCaptureStatusNone);
    check("capture is refused",
          cudaStreamBeginCapture(s, 0) == cudaErrorStreamCaptureUnsupported);
    cudaGetLastError();

    int can = 1;
    check("no peer", cudaDeviceCanAccessPeer(&can, 0, 0) == cudaSuccess && can == 0);

    EXPECT("cudaFree", cudaFree(dev), cudaSuccess, dev, 0);
    EXPECT("cudaFreeHost", cudaFreeHost(pinned), cudaSuccess, pinned, 0);

    __cudaUnregisterFatBinary(g_fatbin);
    check("an unregistered binary's kernels are unknown",
          cudaFuncGetAttributes(&fa, (const void *)denoise_stub) ==
              cudaErrorInvalidDeviceFunction);
    return g_failures ? 1 : 0;
}
