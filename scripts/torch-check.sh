#!/usr/bin/env bash
# Real PyTorch under gpuleak, with no GPU: the ground every PyTorch claim of gpuleak stands on.
#
#   scripts/torch-check.sh [--bin-dir DIR] [--fake-cuda DIR] [--env DIR] [--keep | --reuse DIR]
#                          [--only CASE]... [--list] [--env-only]
#
# --env-only stops after step 1: .ci/run makes the environment before the tests, so that the
# tests that open gpuleak's exports with real PyTorch find it.
#
# 1. Creates, or reuses, a Python environment with PyTorch 2.9.1 (the CUDA 12.8 wheel from the
#    package index, which links libcudart.so.12) and diffusers, pinned by
#    tests/torch/requirements.txt. It lives outside the checkout, in --env DIR (default
#    $GPULEAK_TORCH_ENV, else ${XDG_CACHE_HOME:-~/.cache}/gpuleak/torch-2.9.1-cu128): about 4 GB
#    of wheels, downloaded once per machine.
# 2. Builds gpuleak, its hook and the fake CUDA stack (tests/fake-cuda: libcuda.so.1,
#    libcudart.so.12, libcublas.so.12, libcublasLt.so.12, libnvidia-ml.so.1, test doubles) with
#    `cargo build --workspace`, unless --bin-dir names binaries built already (DIR holds
#    gpuleak, libgpuleak_hook.so and build/gpuleak-tests-*/out/fake-cuda). An installed wheel's
#    command: --bin-dir is the environment's bin (gpuleak finds its hook in its Python package)
#    and --fake-cuda the fake stack's directory (the wheel's gpuleak/demo/fake-cuda).
# 3. Runs tests/torch/sampler.py (a small diffusers UNet and DDIM loop) under `gpuleak run
#    --no-tui` with the fakes preloaded in place of NVIDIA's libraries, in each allocator mode
#    (the default caching allocator, expandable_segments:True, --torch-tensors), and compares
#    gpuleak's JSON report with PyTorch's own figures (tests/torch/check.py holds the cases).
#
# Prints `PASS case`, `FAIL case: what differed`, or `XFAIL case: what differed (issue N)` for a
# case that asserts what a later issue builds; exits 1 on any FAIL, 2 when it cannot set up.
# The traces and logs are kept (path printed) when a case fails, or always with --keep;
# --reuse DIR reads the runs kept in DIR again and only reports on them anew (seconds, not
# minutes: for work on the analysis; the closing lines of `gpuleak run` are the kept ones);
# --list lists the cases.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
env_dir="${GPULEAK_TORCH_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuleak/torch-2.9.1-cu128}"
bin=""
fake=""
keep=0
env_only=0
reuse=""
check_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin="$(cd "${2:?--bin-dir needs a directory}" && pwd)" || exit 2; shift ;;
        --fake-cuda) fake="$(cd "${2:?--fake-cuda needs a directory}" && pwd)" || exit 2; shift ;;
        --env) env_dir="${2:?--env needs a directory}"; shift ;;
        --keep) keep=1 ;;
        --env-only) env_only=1 ;;
        --reuse) reuse="$(cd "${2:?--reuse needs a directory}" && pwd)" || exit 2; shift ;;
        --only) check_args+=(--only "${2:?--only needs a case name}"); shift ;;
        --list) exec python3 "$root/tests/torch/check.py" --list ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "torch-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "torch-check: $*"; }
die() { echo "torch-check: $*" >&2; exit 2; }
started=$SECONDS

# --- 1. the environment ----------------------------------------------------------------------
reqs="$root/tests/torch/requirements.txt"
stamp="$env_dir/.gpuleak-requirements"
ready() {
    [ -x "$env_dir/bin/python" ] && cmp -s "$reqs" "$stamp" &&
        "$env_dir/bin/python" -c 'import torch, diffusers' >/dev/null 2>&1
}
if ready; then
    say "reusing the PyTorch environment in $env_dir"
else
    python="$(command -v python3)" || die "python3 is needed to create the PyTorch environment"
    say "creating the PyTorch environment in $env_dir (pip, about 4 GB; once per machine)"
    mkdir -p "$(dirname "$env_dir")" || die "cannot create $(dirname "$env_dir")"
    tmp="$env_dir.partial.$$"
    rm -rf "$tmp"
    t0=$SECONDS
    "$python" -m venv "$tmp" || die "\`$python -m venv $tmp\` failed"
    if ! "$tmp/bin/python" -m pip install --disable-pip-version-check --no-input --no-cache-dir -q \
        -r "$reqs" >"$tmp.log" 2>&1; then
        tail -n 20 "$tmp.log" >&2
        rm -rf "$tmp"
        die "pip could not install tests/torch/requirements.txt (log above, in $tmp.log)"
    fi
    rm -f "$tmp.log"
    cp "$reqs" "$tmp/.gpuleak-requirements"
    rm -rf "$env_dir" && mv "$tmp" "$env_dir" || die "cannot move $tmp to $env_dir"
    say "environment ready in $((SECONDS - t0)) s"
fi
py="$env_dir/bin/python"
[ "$env_only" = 1 ] && exit 0

# --- 2. gpuleak and the fake CUDA stack ------------------------------------------------------
if [ -z "$bin" ]; then
    say "building gpuleak, its hook and the fake CUDA stack (cargo build --workspace)"
    (cd "$root" && cargo build --workspace --quiet) || die "cargo build failed"
    bin="$root/target/debug"
fi
[ -e "$bin/gpuleak" ] || die "$bin/gpuleak is missing (build with cargo build --workspace)"
# The hook gpuleak itself would preload (beside it, or in an installed wheel's package).
"$bin/gpuleak" --version | grep -q '^hook: /' ||
    die "gpuleak finds no hook: $("$bin/gpuleak" --version | grep '^hook:')"
if [ -z "$fake" ]; then
    # The newest build of the fakes: an older build directory may hold fakes from before a change.
    fake="$(ls -t "$bin"/build/gpuleak-tests-*/out/fake-cuda/libcudart.so.12 2>/dev/null | head -n 1)"
    fake="${fake%/libcudart.so.12}"
fi
[ -n "$fake" ] || die "the fake CUDA stack is not built under $bin/build (cargo build --workspace)"
for f in libcuda.so.1 libcudart.so.12 libcublas.so.12 libcublasLt.so.12 libnvidia-ml.so.1; do
    [ -e "$fake/$f" ] || die "$fake/$f is missing (cargo build --workspace)"
done

# --- 3. the cases ----------------------------------------------------------------------------
if [ -n "$reuse" ]; then
    work="$reuse"
    keep=1
    check_args+=(--reuse)
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/gpuleak-torch-check.XXXXXX")" || die "cannot make a work directory"
    trap 'rm -rf "$work"; exit 130' INT TERM
fi
say "PyTorch $("$py" -c 'import torch; print(torch.__version__)'), fake CUDA stack from $fake"
"$py" "$root/tests/torch/check.py" --gpuleak "$bin/gpuleak" --fake-cuda "$fake" --python "$py" \
    --work "$work" ${check_args[@]+"${check_args[@]}"}
rc=$?
if [ "$rc" = 0 ] && [ "$keep" = 0 ]; then
    rm -rf "$work"
else
    say "traces and logs kept in $work"
fi
say "done in $((SECONDS - started)) s"
exit "$rc"
