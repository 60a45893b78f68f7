/*
 * arrays: CUDA arrays. Linked with -lcuda. Creates, printing the handle as the pointer and the
 * bytes the descriptor describes as the size:
 *     cuArrayCreate_v2        1024 x 768, FLOAT x 4        12582912
 *     cuArray3DCreate_v2      64 x 64 x 32, UNSIGNED_INT8     131072
 *     cuMipmappedArrayCreate  256 x 256, HALF x 2, 9 levels  349524 (4 x (256^2 + ... + 1^2))
 *     cuArrayCreate_v2        4096 (1D), UNSIGNED_INT16        8192
 * then destroys all but the last. Live at exit: 8192. cuMemGetInfo_v2 lines show the charge.
 */
#define _GNU_SOURCE /* dladdr, memfd (expect.h) */
#include "fake_cuda.h"
#include "expect.h"

int main(void)
{
    if (driver_setup() != 0)
        return 2;
    CUarray a2 = NULL, a3 = NULL, a1 = NULL;
    CUmipmappedArray m = NULL;
    CUDA_ARRAY_DESCRIPTOR d2 = {1024, 768, CU_AD_FORMAT_FLOAT, 4};
    CUDA_ARRAY3D_DESCRIPTOR d3 = {64, 64, 32, CU_AD_FORMAT_UNSIGNED_INT8, 1, 0};
    CUDA_ARRAY3D_DESCRIPTOR dm = {256, 256, 0, CU_AD_FORMAT_HALF, 2, 0};
    CUDA_ARRAY_DESCRIPTOR d1 = {4096, 0, CU_AD_FORMAT_UNSIGNED_INT16, 1};
    EXPECT("cuArrayCreate_v2", cuArrayCreate_v2(&a2, &d2), CUDA_SUCCESS, a2, 12582912);
    EXPECT("cuArray3DCreate_v2", cuArray3DCreate_v2(&a3, &d3), CUDA_SUCCESS, a3, 131072);
    EXPECT("cuMipmappedArrayCreate", cuMipmappedArrayCreate(&m, &dm, 9), CUDA_SUCCESS, m, 349524);
    EXPECT("cuArrayCreate_v2", cuArrayCreate_v2(&a1, &d1), CUDA_SUCCESS, a1, 8192);
    report_free();
    EXPECT("cuArrayDestroy", cuArrayDestroy(a2), CUDA_SUCCESS, a2, 0);
    EXPECT("cuArrayDestroy", cuArrayDestroy(a3), CUDA_SUCCESS, a3, 0);
    EXPECT("cuMipmappedArrayDestroy", cuMipmappedArrayDestroy(m), CUDA_SUCCESS, m, 0);
    report_free();
    return g_failures == 0 ? 0 : 1;
}
