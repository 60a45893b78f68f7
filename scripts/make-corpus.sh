#!/usr/bin/env bash
# Writes the fuzz corpus (analysis/tests/corpus/*.trace): traces the hook records for the test
# programs on the fake CUDA stack, small enough to keep in the repository. Run after
# `cargo build --workspace --all-targets` when the trace format gains something worth fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(ls -d target/debug/build/gpuleak-tests-*/out | head -1)
progs=$out/programs
dest=analysis/tests/corpus
hook=$PWD/target/debug/libgpuleak_hook.so
mkdir -p "$dest"
record() { # NAME [ENV=VALUE...] -- PROGRAM ARGS...
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    rm -f "$dest/$name.trace"
    # In a subshell, so that a program killed on purpose is not reported here.
    (env LD_LIBRARY_PATH="$out/fake-cuda" LD_PRELOAD="$hook" GPULEAK_OUTPUT="$dest/$name.trace" \
        "${envs[@]}" "$@") >/dev/null 2>&1 || true
    printf '%-16s %7d bytes\n' "$name" "$(stat -c %s "$dest/$name.trace")"
}
record sampler -- "$progs/sampler" --images 2 --steps 4
record runtime -- "$progs/runtime_basic"
record vmm -- "$progs/vmm"
record caching-vmm -- "$progs/caching" --vmm --steps 8 --leak 65536
record caching-oom FAKE_CUDA_CAPACITY=256M -- "$progs/caching" --oom
record multi-gpu FAKE_CUDA_DEVICES=2 FAKE_CUDA_CAPACITY=1G,256M -- "$progs/multi_gpu" --steps 6
record pool -- "$progs/pool"
record graphs -- "$progs/graph_steps" driver 6
record arrays -- "$progs/arrays"
record nvtx -- "$progs/nvtx_sampler"
record python GPULEAK_STACKS=all -- python3 tests/programs/python_sampler.py --steps 6
record python-gc GPULEAK_STACKS=all -- python3 tests/programs/python_sampler.py --steps 4 --gc --dll cdll
record ipc -- "$progs/ipc"
# A killed process: its reserved space (zeros) after the last record, cut to 1 KiB of it.
record killed -- "$progs/exit_now" 40 kill 2>/dev/null
end=$(cargo run -q -p gpuleak-trace --example dump -- "$dest/killed.trace" 2>&1 | sed -n 's/.*unwritten from byte \([0-9]*\).*/\1/p')
if [ -n "$end" ]; then truncate -s $((end + 1024)) "$dest/killed.trace"; fi
printf '%-16s %7d bytes (cut)\n' killed "$(stat -c %s "$dest/killed.trace")"
