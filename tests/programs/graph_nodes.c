/*
 * graph_nodes: CUDA graph memory nodes. Linked with -lcuda. A graph with an alloc node of
 * 1 MiB (its dptr and bytesize printed), a free node of that address, and an alloc node of
 * 2 MiB with no free node (a leak); instantiates and launches it (the device's graph pool then
 * holds 3 MiB: cuMemGetInfo_v2), then cuDeviceGraphMemTrim (back). Live graph memory at exit:
 * 2097152.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

#include <string.h>

static CUDA_MEM_ALLOC_NODE_PARAMS params(size_t bytes)
{
    CUDA_MEM_ALLOC_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    p.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    p.poolProps.location.id = 0;
    p.bytesize = bytes;
    return p;
}

int main(void)
{
    if (driver_setup() != 0)
        return 2;
    CUgraph g = NULL;
    EXPECT("cuGraphCreate", cuGraphCreate(&g, 0), CUDA_SUCCESS, g, 0);
    CUgraphNode a = NULL, f = NULL, b = NULL;
    CUDA_MEM_ALLOC_NODE_PARAMS pa = params(1048576);
    EXPECT("cuGraphAddMemAllocNode", cuGraphAddMemAllocNode(&a, g, NULL, 0, &pa), CUDA_SUCCESS,
           pa.dptr, pa.bytesize);
    EXPECT("cuGraphAddMemFreeNode", cuGraphAddMemFreeNode(&f, g, &a, 1, pa.dptr), CUDA_SUCCESS,
           pa.dptr, 0);
    CUDA_MEM_ALLOC_NODE_PARAMS pb = params(2097152);
    EXPECT("cuGraphAddMemAllocNode", cuGraphAddMemAllocNode(&b, g, &f, 1, &pb), CUDA_SUCCESS,
           pb.dptr, pb.bytesize);
    report_free();
    CUgraphExec exec = NULL;
    EXPECT("cuGraphInstantiateWithFlags", cuGraphInstantiateWithFlags(&exec, g, 0), CUDA_SUCCESS,
           exec, 0);
    EXPECT("cuGraphLaunch", cuGraphLaunch(exec, NULL), CUDA_SUCCESS, exec, 0);
    EXPECT("cuStreamSynchronize", cuStreamSynchronize(NULL), CUDA_SUCCESS, 0, 0);
    report_free();
    EXPECT("cuDeviceGraphMemTrim", cuDeviceGraphMemTrim(0), CUDA_SUCCESS, 0, 0);
    report_free();
    EXPECT("cuGraphExecDestroy", cuGraphExecDestroy(exec), CUDA_SUCCESS, exec, 0);
    return g_failures == 0 ? 0 : 1;
}
