/*
 * sleeper N (default 10): makes N cudaMalloc of 4096 bytes (kept live, one line each), prints
 * `ready`, then sleeps until killed (a test sends SIGKILL). A 300 s alarm ends it if a test
 * forgets to.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    alarm(300);
    for (int i = 0; i < n; i++) {
        void *p = NULL;
        cudaError_t rc = cudaMalloc(&p, 4096);
        report("cudaMalloc", rc, PTR(p), 4096);
        if (rc != cudaSuccess)
            return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
