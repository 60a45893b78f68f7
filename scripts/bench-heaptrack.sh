#!/usr/bin/env bash
# Issue 25's hook benchmark: what gpuleak's hook costs per event on a plain single-thread
# allocation+free loop, against what heaptrack costs per event on the same loop over malloc.
# Goals: native stacks <= 0.3x heaptrack's cost per event, stacks off <= 0.1x.
#
#   scripts/bench-heaptrack.sh [--rounds N] [--pairs N] [--bin-dir DIR]
#
# One C program (written and compiled under target/bench/heaptrack/, -O2 -g) runs the loop four
# C frames deep: `cuda` mode calls cuMemAlloc_v2(256)/cuMemFree_v2 on the project's fake driver
# (linked, so that the calls reach the hook's exports as a program linked with -lcuda does),
# `malloc` mode calls malloc(256)/free. It times blocks of --pairs pairs (default 200000) after a
# warm-up, in the process, and prints the median block's ns per pair: the start, the tool's own
# set-up and its work after exit are not in it. Each tool's cost per event is its loop's time
# less the same loop's time alone, over two events per pair: the cost the program's thread sees.
# What a tool does on another thread or process (gpuleak's trace writer, heaptrack_interpret)
# counts only as far as it takes the CPU from the loop.
#
# One round runs: the cuda loop alone, under `gpuleak run --no-tui` with GPULEAK_STACKS=native
# and off, the malloc loop alone and under heaptrack; --rounds rounds (default 5). The ratios
# are taken within a round, so a drift in the machine's speed cancels; printed are their median
# (min–max). Needs heaptrack on the PATH (it is not installed by this script).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
rounds=5
pairs=200000
bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
        --pairs) pairs="${2:?--pairs needs a number}"; shift ;;
        --bin-dir) bin="$(cd "${2:?--bin-dir needs a directory}" && pwd)"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-heaptrack: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "bench-heaptrack: $*"; }
die() { echo "bench-heaptrack: $*" >&2; exit 2; }

command -v heaptrack >/dev/null || die "heaptrack is not installed (Debian/Ubuntu: apt-get install heaptrack)"
cc="${CC:-cc}"
command -v "$cc" >/dev/null || die "a C compiler is needed ($cc not found; set CC)"
if [ -z "$bin" ]; then
    say "building the release gpuleak, hook and fake driver"
    (cd "$root" && cargo build --release --quiet -p gpuleak -p gpuleak-hook -p gpuleak-tests) ||
        die "cargo build failed"
    bin="$root/target/release"
fi
"$bin/gpuleak" --version | grep -q '^hook: /' ||
    die "gpuleak finds no hook: $("$bin/gpuleak" --version | grep '^hook:')"
# The newest build of the fakes: an older build directory may hold fakes from before a change.
fake="$(ls -t "$bin"/build/gpuleak-tests-*/out/fake-cuda/libcuda.so.1 2>/dev/null | head -n 1)"
fake="${fake%/libcuda.so.1}"
[ -n "$fake" ] || die "the fake driver is not built under $bin/build"

work="$root/target/bench/heaptrack"
mkdir -p "$work"
cat >"$work/alloc_loop.c" <<'EOF'
/* alloc_loop cuda|malloc PAIRS: ns per allocation+free pair, the median of five timed blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
CUresult cuInit(unsigned flags);
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev);
CUresult cuCtxSetCurrent(void *ctx);
CUresult cuMemAlloc_v2(unsigned long long *ptr, size_t size);
CUresult cuMemFree_v2(unsigned long long ptr);

static int use_cuda;

static __attribute__((noinline)) void pair(void)
{
    if (use_cuda) {
        unsigned long long p = 0;
        if (cuMemAlloc_v2(&p, 256) != 0 || cuMemFree_v2(p) != 0) {
            fprintf(stderr, "alloc_loop: the fake driver failed\n");
            exit(1);
        }
    } else {
        void *volatile p = malloc(256);
        free(p);
    }
}

static __attribute__((noinline)) void level4(long n) { for (long i = 0; i < n; i++) pair(); }
static __attribute__((noinline)) void level3(long n) { level4(n); __asm__ volatile(""); }
static __attribute__((noinline)) void level2(long n) { level3(n); __asm__ volatile(""); }
static __attribute__((noinline)) void level1(long n) { level2(n); __asm__ volatile(""); }

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: alloc_loop cuda|malloc PAIRS\n");
        return 2;
    }
    use_cuda = strcmp(argv[1], "cuda") == 0;
    long n = atol(argv[2]);
    if (use_cuda) {
        void *ctx = 0;
        if (cuInit(0) || cuDevicePrimaryCtxRetain(&ctx, 0) || cuCtxSetCurrent(ctx)) {
            fprintf(stderr, "alloc_loop: no context on the fake driver\n");
            return 1;
        }
    }
    level1(n / 5);
    double blocks[5];
    for (int b = 0; b < 5; b++) {
        double t0 = now_ns();
        level1(n);
        blocks[b] = (now_ns() - t0) / n;
    }
    qsort(blocks, 5, sizeof blocks[0], cmp);
    printf("alloc_loop_ns %.2f\n", blocks[2]);
    return 0;
}
EOF
"$cc" -O2 -g -o "$work/alloc_loop" "$work/alloc_loop.c" "$fake/libcuda.so.1" \
    -Wl,-rpath,"$fake" || die "compiling alloc_loop failed"
loop="$work/alloc_loop"

modes=(cuda native off malloc heaptrack)
one() {
    local mode="$1" out
    case "$mode" in
        cuda) out="$("$loop" cuda "$pairs" 2>&1)" ;;
        malloc) out="$("$loop" malloc "$pairs" 2>&1)" ;;
        native | off)
            # gpuleak never replaces a trace: one left by an interrupted run would stop this one.
            rm -f "$work/$mode.trace"*
            out="$(GPULEAK_STACKS="$mode" "$bin/gpuleak" run --no-tui -o "$work/$mode.trace" \
                -- "$loop" cuda "$pairs" 2>&1)"
            rm -f "$work/$mode.trace"* ;;
        heaptrack)
            out="$(heaptrack -o "$work/heaptrack.out" "$loop" malloc "$pairs" 2>&1)"
            rm -f "$work/heaptrack.out"* ;;
    esac
    local ns
    ns="$(sed -n 's/^alloc_loop_ns //p' <<<"$out")"
    [ -n "$ns" ] || { echo "$out" | tail -n 20 >&2; die "the $mode run printed no time"; }
    echo "$ns"
}

say "$rounds rounds of: ${modes[*]}; $pairs pairs per block; $(heaptrack --version 2>&1 | head -n 1)"
results="$work/results.txt"
: >"$results"
for r in $(seq 1 "$rounds"); do
    line="$r"
    for m in "${modes[@]}"; do
        line="$line $(one "$m")"
    done
    say "round $line ns per pair (${modes[*]})"
    echo "$line" >>"$results"
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [list(map(float, line.split()[1:])) for line in open(sys.argv[1])]
cuda, native, off, malloc, heap = zip(*rows)
med = statistics.median
per_event = lambda tool, base: [(t - b) / 2 for t, b in zip(tool, base)]
ht = per_event(heap, malloc)
print(f"bench-heaptrack: loop alone: cuMemAlloc+cuMemFree {med(cuda):.0f} ns, malloc+free {med(malloc):.0f} ns per pair")
print(f"bench-heaptrack: heaptrack: {med(ht):.0f} ns per event")
for name, tool, goal in (("native", native, 0.3), ("off", off, 0.1)):
    ev = per_event(tool, cuda)
    ratios = sorted(e / h for e, h in zip(ev, ht))
    r = med(ratios)
    print(f"bench-heaptrack: gpuleak GPULEAK_STACKS={name}: {med(ev):.0f} ns per event, "
          f"{r:.2f}x heaptrack's (min {ratios[0]:.2f}, max {ratios[-1]:.2f}); "
          f"goal <= {goal}x: {'met' if r <= goal else 'not met'}")
EOF
