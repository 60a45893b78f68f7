/*
 * exit_now N [_exit|_Exit|kill]: N cudaMalloc of 4096 bytes, then leaves at once with _exit(0)
 * (or _Exit(0)): no atexit handler, no library destructor, as a forked worker ending with
 * os._exit does; `kill`: SIGKILL to itself, as the out-of-memory killer or `kill -9` would end
 * it, right after the last allocation returned. Prints `allocated N`. Live at exit: N × 4096.
 */
#include "fake_cuda_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    int big = argc > 2 && strcmp(argv[2], "_Exit") == 0;
    for (int i = 0; i < n; i++) {
        void *p = NULL;
        if (cudaMalloc(&p, 4096) != cudaSuccess)
            return 1;
    }
    printf("allocated %d\n", n);
    fflush(stdout);
    if (argc > 2 && strcmp(argv[2], "kill") == 0)
        raise(SIGKILL);
    if (big)
        _Exit(0);
    _exit(0);
}
