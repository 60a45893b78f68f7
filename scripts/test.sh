#!/usr/bin/env bash
# Builds the workspace (the hook, the gpuleak binary, the fake CUDA) and runs every test.
# Integration tests run programs under the built hook and gpuleak, so those must exist first:
# `cargo test` alone does not build a cdylib or another package's binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --all-targets
cargo test --workspace "$@"
