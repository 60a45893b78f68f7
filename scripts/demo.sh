#!/usr/bin/env bash
# The main job, the README's first command: builds gpuleak (with its demo sampler and, for
# machines without a GPU, its fake CUDA driver), then runs `gpuleak demo`: a diffusion sampler
# with a per-step leak under gpuleak, on the real GPU when there is one, otherwise on the fake
# driver (a test double), saying which.
#   scripts/demo.sh [gpuleak demo options: --no-tui, --leak MODE, --steps N, --images N, --mark]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
exec target/release/gpuleak demo "$@"
