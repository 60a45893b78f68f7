/*
 * graph_steps: a sampler whose every step is one CUDA graph launch, as under torch.compile's
 * "reduce-overhead" mode or with a captured UNet, with no iteration markers. Linked with
 * -lcudart.
 *
 *     graph_steps driver|driver-ptsz|runtime|runtime-ptsz [STEPS]
 *
 * Builds one (empty) graph and instantiates it, then runs STEPS steps (default 12, at most
 * 1000). Each step launches that graph first, then allocates 4 MiB of scratch (`step_scratch`,
 * freed at the end of the step) and 1 MiB that nothing frees (`leak_step`: the leak). After the
 * steps it launches a NULL executable graph, which fails with CUDA_ERROR_INVALID_VALUE /
 * cudaErrorInvalidValue (1), as it must, then destroys the graph.
 *   driver       cuda.h only: cuInit, the primary context, cuGraph*, cuMemAlloc_v2 and
 *                cuMemFree_v2, every function taken with dlsym from libcuda.so.1 (cudarc's way);
 *   driver-ptsz  the same, but the graph is launched through what
 *                cudaGetDriverEntryPoint("cuGraphLaunch", per-thread default stream) returned
 *                (cuGraphLaunch_ptsz, reached through cuGetProcAddress);
 *   runtime      cudaGraphCreate, cudaGraphInstantiate, cudaGraphLaunch (which reaches
 *                cuGraphLaunch inside the runtime), cudaMalloc / cudaFree; one cudaLaunchKernel
 *                before the first step (an eager warm-up run);
 *   runtime-ptsz the same with cudaGraphLaunch_ptsz.
 * Output: one report.h line per call (a graph launch prints the executable graph as its
 * pointer; the warm-up kernel launch is not printed), and in driver-ptsz first
 * `entry cuGraphLaunch <code> <status> <symbol>`. Exits 0 when every call returned what it
 * should, 1 otherwise, 2 on a usage error. Live at exit: STEPS MiB.
 */
#define _GNU_SOURCE
#include "fake_cuda.h"
#include "fake_cuda_runtime.h"
#include "expect.h"

#include <dlfcn.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define MIB ((size_t)1 << 20)

enum mode { DRIVER, DRIVER_PTSZ, RUNTIME, RUNTIME_PTSZ };
static enum mode g_mode;

/* The driver's functions, as the program took them. */
static struct {
    __typeof(cuInit) *init;
    __typeof(cuDevicePrimaryCtxRetain) *primaryCtxRetain;
    __typeof(cuCtxSetCurrent) *ctxSetCurrent;
    __typeof(cuGraphCreate) *graphCreate;
    __typeof(cuGraphInstantiateWithFlags) *graphInstantiate;
    __typeof(cuGraphLaunch) *graphLaunch;
    __typeof(cuGraphExecDestroy) *graphExecDestroy;
    __typeof(cuGraphDestroy) *graphDestroy;
    __typeof(cuMemAlloc_v2) *memAlloc;
    __typeof(cuMemFree_v2) *memFree;
} drv;

static int is_driver(void) { return g_mode == DRIVER || g_mode == DRIVER_PTSZ; }

static const char *launch_name(void)
{
    switch (g_mode) {
    case DRIVER: return "cuGraphLaunch";
    case DRIVER_PTSZ: return "cuGraphLaunch_ptsz";
    case RUNTIME: return "cudaGraphLaunch";
    case RUNTIME_PTSZ: return "cudaGraphLaunch_ptsz";
    }
    return "?";
}

/* Launches the step's graph; `want` is the code it should return. */
static void launch(void *exec, int want)
{
    int rc;
    switch (g_mode) {
    case DRIVER:
    case DRIVER_PTSZ: rc = drv.graphLaunch((CUgraphExec)exec, NULL); break;
    case RUNTIME: rc = cudaGraphLaunch((cudaGraphExec_t)exec, NULL); break;
    default: rc = cudaGraphLaunch_ptsz((cudaGraphExec_t)exec, NULL); break;
    }
    expect_rc(launch_name(), rc, want, PTR(exec), 0);
}

/* Allocates `size` bytes of device memory; a macro, so that the function using it makes the
 * call itself and is the innermost frame of its site. */
#define DEVICE_ALLOC(size)                                                                      \
    __extension__({                                                                             \
        void *p_ = NULL;                                                                        \
        if (is_driver()) {                                                                      \
            CUdeviceptr d_ = 0;                                                                 \
            EXPECT("cuMemAlloc_v2", drv.memAlloc(&d_, size), CUDA_SUCCESS, d_, size);           \
            p_ = (void *)(uintptr_t)d_;                                                         \
        } else {                                                                                \
            EXPECT("cudaMalloc", cudaMalloc(&p_, size), cudaSuccess, p_, size);                 \
        }                                                                                       \
        p_;                                                                                     \
    })

static void device_free(void *p)
{
    if (is_driver()) {
        EXPECT("cuMemFree_v2", drv.memFree((CUdeviceptr)(uintptr_t)p), CUDA_SUCCESS, p, 0);
    } else {
        EXPECT("cudaFree", cudaFree(p), cudaSuccess, p, 0);
    }
}

NOINLINE void *step_scratch(void) { return DEVICE_ALLOC(4 * MIB); }

/* The leak: 1 MiB per step that nothing frees. */
NOINLINE void *leak_step(void) { return DEVICE_ALLOC(1 * MIB); }

NOINLINE void warm_up_kernel(void) { __asm__ volatile(""); }

static int take(void *lib, void **slot, const char *name)
{
    *slot = dlsym(lib, name);
    if (*slot == NULL) {
        fprintf(stderr, "graph_steps: no %s in libcuda.so.1\n", name);
        return -1;
    }
    return 0;
}

static int driver_setup_dlsym(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "graph_steps: %s\n", dlerror());
        return -1;
    }
    if (take(lib, (void **)&drv.init, "cuInit") || take(lib, (void **)&drv.primaryCtxRetain,
                                                         "cuDevicePrimaryCtxRetain") ||
        take(lib, (void **)&drv.ctxSetCurrent, "cuCtxSetCurrent") ||
        take(lib, (void **)&drv.graphCreate, "cuGraphCreate") ||
        take(lib, (void **)&drv.graphInstantiate, "cuGraphInstantiateWithFlags") ||
        take(lib, (void **)&drv.graphLaunch, "cuGraphLaunch") ||
        take(lib, (void **)&drv.graphExecDestroy, "cuGraphExecDestroy") ||
        take(lib, (void **)&drv.graphDestroy, "cuGraphDestroy") ||
        take(lib, (void **)&drv.memAlloc, "cuMemAlloc_v2") ||
        take(lib, (void **)&drv.memFree, "cuMemFree_v2"))
        return -1;
    CUcontext ctx = NULL;
    if (drv.init(0) != CUDA_SUCCESS || drv.primaryCtxRetain(&ctx, 0) != CUDA_SUCCESS ||
        drv.ctxSetCurrent(ctx) != CUDA_SUCCESS) {
        fprintf(stderr, "graph_steps: driver setup failed\n");
        return -1;
    }
    if (g_mode == DRIVER_PTSZ) {
        void *fn = NULL;
        cudaDriverEntryPointQueryResult st = -1;
        cudaError_t rc = cudaGetDriverEntryPoint("cuGraphLaunch", &fn,
                                                 cudaEnablePerThreadDefaultStream, &st);
        printf("entry cuGraphLaunch %d %d %s\n", rc, st, symbol_of(lib, fn, "cuGraphLaunch"));
        if (rc != cudaSuccess || fn == NULL)
            return -1;
        drv.graphLaunch = (__typeof(cuGraphLaunch) *)fn;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const modes[] = {"driver", "driver-ptsz", "runtime", "runtime-ptsz"};
    int found = 0;
    for (int m = 0; argc >= 2 && m < 4; m++)
        if (strcmp(argv[1], modes[m]) == 0) {
            g_mode = (enum mode)m;
            found = 1;
        }
    long steps = argc >= 3 ? strtol(argv[2], NULL, 10) : 12;
    if (!found || argc > 3 || steps < 1 || steps > 1000) {
        fprintf(stderr, "usage: graph_steps driver|driver-ptsz|runtime|runtime-ptsz [STEPS]\n");
        return 2;
    }

    void *graph = NULL, *exec = NULL;
    if (is_driver()) {
        if (driver_setup_dlsym() != 0)
            return 2;
        EXPECT("cuGraphCreate", drv.graphCreate((CUgraph *)&graph, 0), CUDA_SUCCESS, graph, 0);
        EXPECT("cuGraphInstantiateWithFlags",
               drv.graphInstantiate((CUgraphExec *)&exec, (CUgraph)graph, 0), CUDA_SUCCESS, exec,
               0);
    } else {
        EXPECT("cudaGraphCreate", cudaGraphCreate((cudaGraph_t *)&graph, 0), cudaSuccess, graph,
               0);
        EXPECT("cudaGraphInstantiate",
               cudaGraphInstantiate((cudaGraphExec_t *)&exec, (cudaGraph_t)graph, 0), cudaSuccess,
               exec, 0);
        dim3 one = {1, 1, 1};
        cudaError_t rc = cudaLaunchKernel((const void *)warm_up_kernel, one, one, NULL, 0, NULL);
        if (rc != cudaSuccess) {
            fprintf(stderr, "graph_steps: cudaLaunchKernel returned %d\n", rc);
            g_failures++;
        }
    }

    for (long step = 0; step < steps; step++) {
        launch(exec, 0);
        void *scratch = step_scratch();
        (void)leak_step();
        device_free(scratch);
    }

    launch(NULL, 1);
    if (is_driver()) {
        EXPECT("cuGraphExecDestroy", drv.graphExecDestroy((CUgraphExec)exec), CUDA_SUCCESS, exec,
               0);
        EXPECT("cuGraphDestroy", drv.graphDestroy((CUgraph)graph), CUDA_SUCCESS, graph, 0);
    } else {
        EXPECT("cudaGraphExecDestroy", cudaGraphExecDestroy((cudaGraphExec_t)exec), cudaSuccess,
               exec, 0);
        EXPECT("cudaGraphDestroy", cudaGraphDestroy((cudaGraph_t)graph), cudaSuccess, graph, 0);
    }
    return g_failures == 0 ? 0 : 1;
}
