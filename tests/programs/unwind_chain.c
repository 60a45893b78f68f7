/*
 * unwind_chain: cudaMalloc (4096 bytes each, all freed) at the end of known call chains, so that
 * two unwinders can be compared frame by frame. In order, on the main thread unless said:
 *     chain_top -> chain_mid -> chain_leaf                        (3 named frames)
 *     descend x 40 -> chain_leaf                                  (a 40-frame recursive chain)
 *     sized_frame (optimised, no frame pointer) -> chain_leaf     (CFA from rsp, not rbp)
 *     dynamic_frame (alloca) -> chain_leaf                        (a variable-size frame)
 *     thread: worker -> descend x 5 -> chain_leaf                 (another thread's stack)
 *     SIGUSR1 handler (raised from signal_site) -> chain_leaf     (through a signal frame)
 * Exits 0 when every call succeeded.
 */
#include "fake_cuda_runtime.h"
#include "report.h"

#include <alloca.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static int failures;

static NOINLINE void chain_leaf(void)
{
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, 4096);
    report("cudaMalloc", rc, PTR(p), 4096);
    failures += rc != cudaSuccess;
    rc = cudaFree(p);
    report("cudaFree", rc, PTR(p), 0);
    failures += rc != cudaSuccess;
}

static NOINLINE void chain_mid(void)
{
    chain_leaf();
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static NOINLINE void chain_top(void)
{
    chain_mid();
    __asm__ volatile("" ::: "memory");
}

static NOINLINE void descend(int n)
{
    if (n > 1)
        descend(n - 1);
    else
        chain_leaf();
    __asm__ volatile("" ::: "memory");
}

/* The programs are built with -O0 and frame pointers; this one is not, so its caller's frame is
 * found from the CFI alone. */
__attribute__((optimize("O2", "omit-frame-pointer"))) NOINLINE void sized_frame(int n)
{
    volatile char buf[200];
    memset((char *)buf, n, sizeof buf);
    chain_leaf();
    __asm__ volatile("" ::"r"(buf) : "memory");
}

static NOINLINE void dynamic_frame(int n)
{
    char *buf = alloca((size_t)n);
    memset(buf, 1, (size_t)n);
    chain_leaf();
    __asm__ volatile("" ::"r"(buf) : "memory");
}

static void *worker(void *arg)
{
    (void)arg;
    descend(5);
    return NULL;
}

static void on_usr1(int sig)
{
    (void)sig;
    chain_leaf();
}

static NOINLINE void signal_site(void)
{
    raise(SIGUSR1);
    __asm__ volatile("" ::: "memory");
}

int main(void)
{
    chain_top();
    descend(40);
    sized_frame(7);
    dynamic_frame(333);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
        failures++;
    signal(SIGUSR1, on_usr1);
    signal_site();
    return failures != 0;
}
