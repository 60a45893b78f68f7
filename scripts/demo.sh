#!/usr/bin/env bash
# The main job: builds gpuleak and runs a leaking "sampler" under it, on the real GPU when this
# machine has one, otherwise on gpuleak's fake CUDA driver (a test double), and says which.
# Then prints the report of the trace it saved.
#   scripts/demo.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-50}"

cargo build --release --workspace
mkdir -p target/demo
cc -g -O0 -o target/demo/demo_steps scripts/demo_steps.c -ldl

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
    && ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    echo "demo: running on the real GPU: $(nvidia-smi -L | head -n 1)"
    lib_path="${LD_LIBRARY_PATH:-}"
else
    fake=$(ls -t target/release/build/gpuleak-tests-*/out/fake-cuda/libcuda.so.1 2>/dev/null | head -n 1)
    if [ -z "$fake" ]; then
        echo "demo: the fake CUDA driver was not built (target/release/build/gpuleak-tests-*/out/fake-cuda)" >&2
        exit 1
    fi
    echo "demo: no GPU here; running on gpuleak's fake CUDA driver ($(dirname "$fake"))"
    lib_path="$(cd "$(dirname "$fake")" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

trace=target/demo/demo.trace
LD_LIBRARY_PATH="$lib_path" ./target/release/gpuleak run --no-tui -o "$trace" -- \
    ./target/demo/demo_steps "$steps"
./target/release/gpuleak report "$trace"
