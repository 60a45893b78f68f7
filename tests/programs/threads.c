/*
 * threads THREADS PAIRS SIZE (defaults 8 50000 256): each thread makes PAIRS cudaMalloc/cudaFree
 * pairs of SIZE bytes. Prints only the summary line
 *     total <successful allocs> <successful frees>
 * and exits 0 when both equal THREADS * PAIRS.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static long pairs = 50000;
static size_t size = 256;
static atomic_long allocs, frees;

static void *worker(void *arg)
{
    (void)arg;
    long a = 0, f = 0;
    for (long i = 0; i < pairs; i++) {
        void *p = NULL;
        if (cudaMalloc(&p, size) == cudaSuccess)
            a++;
        if (cudaFree(p) == cudaSuccess && p != NULL)
            f++;
    }
    atomic_fetch_add(&allocs, a);
    atomic_fetch_add(&frees, f);
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = argc > 1 ? atol(argv[1]) : 8;
    if (argc > 2)
        pairs = atol(argv[2]);
    if (argc > 3)
        size = (size_t)atol(argv[3]);
    if (nthreads <= 0 || nthreads > 1024 || pairs < 0 || size == 0) {
        fprintf(stderr, "usage: threads THREADS PAIRS SIZE\n");
        return 2;
    }
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 2;
        }
    for (long i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    long a = atomic_load(&allocs), f = atomic_load(&frees);
    printf("total %ld %ld\n", a, f);
    return a == nthreads * pairs && f == a ? 0 : 1;
}
