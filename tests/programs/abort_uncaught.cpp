/*
 * abort_uncaught (C++): three cudaMalloc of 1 MiB (one line each, kept live), then throws an
 * exception nobody catches: std::terminate -> abort(), the process dies of SIGABRT.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <stdexcept>

static __attribute__((noinline)) void load_model()
{
    for (int i = 0; i < 3; i++) {
        void *p = nullptr;
        cudaError_t rc = cudaMalloc(&p, 1048576);
        report("cudaMalloc", rc, PTR(p), 1048576);
    }
}

static __attribute__((noinline)) void fail()
{
    throw std::runtime_error("gpuleak test: an exception nobody catches");
}

int main()
{
    load_model();
    fail();
    return 0;
}
