/*
 * forker [exit|_exit] (default exit): cudaMalloc 4096 in the parent, fork(); the child makes a
 * cudaMalloc/cudaFree of 8192 and leaves with exit(0) or _exit(0); the parent waits for it, then
 * frees its block. Child lines are prefixed with "child ". alarm(10): a hang (a lock inherited
 * across fork) becomes a SIGALRM death. Exits 0 when every call succeeded and the child exited 0.
 *
 * Unlike the real driver, the fake lets a forked child use CUDA after the parent initialised it.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int use_underscore_exit = argc > 1 && strcmp(argv[1], "_exit") == 0;
    alarm(10);
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, 4096);
    report("cudaMalloc", rc, PTR(p), 4096);
    if (rc != cudaSuccess)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        void *q = NULL;
        cudaError_t a = cudaMalloc(&q, 8192);
        printf("child ");
        report("cudaMalloc", a, PTR(q), 8192);
        cudaError_t f = cudaFree(q);
        printf("child ");
        report("cudaFree", f, PTR(q), 0);
        fflush(stdout);
        int code = a == cudaSuccess && f == cudaSuccess ? 0 : 1;
        if (use_underscore_exit)
            _exit(code);
        exit(code);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return 1;
    printf("child-status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    rc = cudaFree(p);
    report("cudaFree", rc, PTR(p), 0);
    return rc == cudaSuccess && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
