/*
 * exit_thread [main|thread] (default main): starts 4 threads that cudaMalloc/cudaFree 4096 bytes
 * in a loop (each also keeps one 65536-byte block live), waits until every one has done at least
 * 1000 pairs, prints `exiting`, and calls exit(0) while they still run: from the main thread, or
 * with `thread` from a fifth thread while main is blocked in pthread_join. Prints
 * `started 4` first. alarm(10) turns a hang at exit into a SIGALRM death.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS 4

static atomic_long done[WORKERS];

static void *worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    void *keep = NULL;
    if (cudaMalloc(&keep, 65536) != cudaSuccess)
        abort();
    for (;;) {
        void *p = NULL;
        if (cudaMalloc(&p, 4096) == cudaSuccess)
            cudaFree(p);
        atomic_fetch_add(&done[id], 1);
    }
    return NULL;
}

static void wait_for_workers(void)
{
    for (;;) {
        int ready = 1;
        for (int i = 0; i < WORKERS; i++)
            ready &= atomic_load(&done[i]) >= 1000;
        if (ready)
            return;
        usleep(1000);
    }
}

static void *exiter(void *arg)
{
    (void)arg;
    wait_for_workers();
    printf("exiting\n");
    exit(0);
}

int main(int argc, char **argv)
{
    int from_thread = argc > 1 && strcmp(argv[1], "thread") == 0;
    alarm(10);
    pthread_t t[WORKERS + 1];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    printf("started %d\n", WORKERS);
    if (from_thread) {
        pthread_create(&t[WORKERS], NULL, exiter, NULL);
        pthread_join(t[WORKERS], NULL); /* never returns: the exiter ends the process */
        return 1;
    }
    exiter(NULL);
    return 1;
}
