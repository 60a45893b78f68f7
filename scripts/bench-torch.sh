#!/usr/bin/env bash
# Issue 25's PyTorch benchmark: what `gpuleak run --torch-tensors` adds to each tensor that real
# PyTorch allocates and frees, against the goal of +0.5 µs per allocation+free with the default
# stacks.
#
#   scripts/bench-torch.sh [--rounds N] [--pairs N] [--env DIR] [--bin-dir DIR]
#
# The loop is `t = torch.empty(256, device="cuda"); del t`, run in the fourth of four nested Python
# functions, by PyTorch 2.9.1 from the environment scripts/torch-check.sh makes (--env, default
# as there; only read, never installed into) on the project's fake CUDA stack, with
# `backend:cudaMallocAsync` so that every tensor is one cudaMallocAsync and one cudaFreeAsync.
# Each process times blocks of --pairs iterations (default 100000) after a warm-up and prints
# the median block's µs per allocation+free; the time to start, import and write the report is
# not in it.
#
# Modes: PyTorch alone (the same allocator settings and fakes, no gpuleak), then under `gpuleak
# run --no-tui --torch-tensors` with GPULEAK_STACKS=all (the default), python, off and native.
# The issue's second goal is checked too: native no slower than all.
# One round runs each mode once, in turn, --rounds times (default 5): each mode's difference to
# PyTorch alone is taken within a round, so a drift in the machine's speed cancels. Prints, per
# mode, the median µs and the median (min–max) difference over the rounds.
#
# Release binaries: built here with `cargo build --release -p gpuleak -p gpuleak-hook -p
# gpuleak-tests` (the fakes), unless --bin-dir names a directory that holds them.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
env_dir="${GPULEAK_TORCH_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuleak/torch-2.9.1-cu128}"
rounds=5
pairs=100000
bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
        --pairs) pairs="${2:?--pairs needs a number}"; shift ;;
        --env) env_dir="${2:?--env needs a directory}"; shift ;;
        --bin-dir) bin="$(cd "${2:?--bin-dir needs a directory}" && pwd)"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-torch: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "bench-torch: $*"; }
die() { echo "bench-torch: $*" >&2; exit 2; }

py="$env_dir/bin/python"
"$py" -c 'import torch' 2>/dev/null ||
    die "no PyTorch environment in $env_dir: make it with scripts/torch-check.sh --env-only"
if [ -z "$bin" ]; then
    say "building the release gpuleak, hook and fake CUDA stack"
    (cd "$root" && cargo build --release --quiet -p gpuleak -p gpuleak-hook -p gpuleak-tests) ||
        die "cargo build failed"
    bin="$root/target/release"
fi
"$bin/gpuleak" --version | grep -q '^hook: /' ||
    die "gpuleak finds no hook: $("$bin/gpuleak" --version | grep '^hook:')"
# The newest build of the fakes: an older build directory may hold fakes from before a change.
fake="$(ls -t "$bin"/build/gpuleak-tests-*/out/fake-cuda/libcudart.so.12 2>/dev/null | head -n 1)"
fake="${fake%/libcudart.so.12}"
[ -n "$fake" ] || die "the fake CUDA stack is not built under $bin/build"

work="$root/target/bench/torch"
mkdir -p "$work"
loop="$work/tensor_loop.py"
cat >"$loop" <<'EOF'
import statistics, sys, time
import torch

pairs = int(sys.argv[1])
backend = torch.cuda.get_allocator_backend()
if backend != "cudaMallocAsync":
    sys.exit(f"tensor_loop: the allocator backend is {backend}, not cudaMallocAsync")


def level4(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        t = torch.empty(256, device="cuda")
        del t
    return time.perf_counter_ns() - start


def level3(n):
    return level4(n)


def level2(n):
    return level3(n)


def level1(n):
    return level2(n)


level1(pairs // 5)
blocks = [level1(pairs) / pairs / 1000 for _ in range(5)]
print(f"tensor_loop_us {statistics.median(blocks):.4f}")
EOF

export LD_LIBRARY_PATH="$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The fakes replace the real libraries by soname, as in tests/torch/check.py.
export LD_PRELOAD="$fake/libcudart.so.12 $fake/libcublas.so.12 $fake/libcublasLt.so.12 $fake/libnvidia-ml.so.1"
export PYTHONPATH="$root/python"
export FAKE_CUDA_CAPACITY=4G
# What --torch-tensors sets, so that PyTorch alone runs the same allocator.
export PYTORCH_ALLOC_CONF=backend:cudaMallocAsync
export PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync
unset GPULEAK_STACKS

modes=(torch all python off native)
one() {
    local mode="$1" out
    if [ "$mode" = torch ]; then
        out="$("$py" "$loop" "$pairs" 2>&1)"
    else
        # gpuleak never replaces a trace: one left by an interrupted run would stop this one.
        rm -f "$work/$mode.trace"*
        out="$(GPULEAK_STACKS="$mode" "$bin/gpuleak" run --no-tui --torch-tensors \
            -o "$work/$mode.trace" -- "$py" "$loop" "$pairs" 2>&1)"
        rm -f "$work/$mode.trace"*
    fi
    local us
    us="$(sed -n 's/^tensor_loop_us //p' <<<"$out")"
    [ -n "$us" ] || { echo "$out" | tail -n 20 >&2; die "the $mode run printed no time"; }
    echo "$us"
}

say "PyTorch $("$py" -c 'import torch; print(torch.__version__)'), fake CUDA stack from $fake"
say "$rounds rounds of: ${modes[*]}; $pairs allocation+free pairs per block"
results="$work/results.txt"
: >"$results"
for r in $(seq 1 "$rounds"); do
    line="$r"
    for m in "${modes[@]}"; do
        line="$line $(one "$m")"
    done
    say "round $line µs (${modes[*]})"
    echo "$line" >>"$results"
done

python3 - "$results" "${modes[@]}" <<'EOF'
import statistics, sys
modes = sys.argv[2:]
rows = [list(map(float, line.split()[1:])) for line in open(sys.argv[1])]
base = [r[0] for r in rows]
print(f"bench-torch: PyTorch alone: {statistics.median(base):.2f} µs per allocation+free")
for i, mode in enumerate(modes[1:], 1):
    us = [r[i] for r in rows]
    diffs = sorted(r[i] - r[0] for r in rows)
    d = statistics.median(diffs)
    goal = ""
    if mode == "all":
        goal = f"; goal +0.5 µs: {'met' if d <= 0.5 else f'{d - 0.5:+.2f} µs over'}"
    print(f"bench-torch: GPULEAK_STACKS={mode}: {statistics.median(us):.2f} µs, "
          f"{d:+.2f} µs (min {diffs[0]:+.2f}, max {diffs[-1]:+.2f}) over PyTorch alone"
          f" ({d / statistics.median(base):.0%}){goal}")
a, n = modes.index("all"), modes.index("native")
d = statistics.median(sorted(r[n] - r[a] for r in rows))
print(f"bench-torch: native against all: {d:+.2f} µs (goal: native no slower than all: "
      f"{'met' if d <= 0 else 'not met'})")
EOF
