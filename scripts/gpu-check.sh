#!/usr/bin/env bash
# gpuleak's validation on a real GPU (docs/gpu-validation.md says how to carry it there).
#
#   scripts/gpu-check.sh [--dry-run] [--bin-dir DIR] [--keep] [--budget SECONDS]
#
# On a machine with an NVIDIA GPU, nvcc, PyTorch, CuPy and JAX (no network, no Rust toolchain:
# gpuleak, libgpuleak_hook.so and gpuleak-sampler are built elsewhere and carried in DIR,
# default target/release), runs under `gpuleak run --no-tui` and reads `gpuleak report --format
# json` for:
#   - gpuleak-sampler (kernels/: DDIM on cudarc, NVRTC kernels) in each --leak mode, and none;
#     and the sampler timed with and without the hook;
#   - a PyTorch sampling loop (gpu-check/torch_sampler.py) under the default caching allocator,
#     backend:cudaMallocAsync and expandable_segments:True, each with and without a leak;
#   - a CUDA C program built by nvcc with its default static runtime (gpu-check/leaky_static.cu);
#   - CuPy and JAX allocations, when they import.
# Then prints one table: the verdict expected and found, gpuleak's live/peak device memory, the
# driver's own figure (cuMemGetInfo, PyTorch's memory_reserved, CuPy's pool), the times. Every
# part has a timeout; a failing part is a FAIL row and the rest still runs. Exit 1 if any failed.
# --budget (default 420 s) bounds the whole check, since GPU time is lent in short slices: a
# part that would start after it is a SKIP row.
#
# --dry-run (any machine, no GPU needed; CI runs it): says what it would run, checks that the
# carried files exist and that the scripts parse, runs the sampler parts on gpuleak's fake CUDA
# driver (a test double; found under DIR/build/gpuleak-tests-*/out/fake-cuda) as a smoke test
# of this script, and skips the rest.
set -uo pipefail
# The Python parts import modules from this repository: no bytecode left beside them.
export PYTHONDONTWRITEBYTECODE=1

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
parts="$here/gpu-check"
bin="$root/target/release"
dry=0
keep=0
budget=420
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1 ;;
        --bin-dir) bin="$(cd "${2:?--bin-dir needs a directory}" && pwd)" || exit 2; shift ;;
        --keep) keep=1 ;;
        --budget) budget="${2:?--budget needs seconds}"; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

work="$(mktemp -d "${TMPDIR:-/tmp}/gpuleak-gpu-check.XXXXXX")"
if [ "$keep" = 1 ]; then
    echo "gpu-check: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
rows="$work/rows.tsv"
: >"$rows"
say() { echo "gpu-check: $*"; }

# --- the carried files, and the scripts ------------------------------------------------------
missing=0
for f in gpuleak libgpuleak_hook.so gpuleak-sampler; do
    if [ -f "$bin/$f" ]; then
        say "found $bin/$f"
    else
        say "MISSING $bin/$f (build it with: cargo build --release, then carry target/release/$f)"
        missing=1
    fi
done
bash -n "$0" || { say "this script does not parse"; missing=1; }
for py in "$parts"/*.py; do
    # The bytecode goes to the scratch directory, not beside the sources.
    if PYTHONPYCACHEPREFIX="$work/pycache" python3 -m py_compile "$py"; then
        say "parses: ${py#"$root"/}"
    else
        say "does not parse: ${py#"$root"/}"
        missing=1
    fi
done
if [ "$missing" = 1 ]; then
    say "stopping: the files above are missing or broken"
    exit 1
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# part NAME EXPECT TIMEOUT [VAR=VALUE...] -- CMD...: CMD under gpuleak with the environment
# given, its report, and a row. Prints what it runs.
part() {
    local name="$1" expect="$2" limit="$3"
    shift 3
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local trace="$work/$name.trace" out="$work/$name.out" json="$work/$name.json"
    if [ "$SECONDS" -ge "$budget" ]; then
        say "skip [$name]: the ${budget}s budget is spent"
        skip_row "$name" "$expect" "budget of ${budget}s spent"
        return
    fi
    say "run [$name, ${limit}s]: ${envs[*]} gpuleak run --no-tui -o $trace -- $*"
    local t0 t1 rc
    t0="$(now)"
    env "${envs[@]}" timeout -k 5 "$limit" "$bin/gpuleak" run --no-tui -o "$trace" -- "$@" \
        >"$out" 2>&1
    rc=$?
    t1="$(now)"
    if [ -f "$trace" ]; then
        "$bin/gpuleak" report --format json "$trace" >"$json" 2>>"$out"
    fi
    python3 "$parts/check.py" row "$name" "$expect" "$json" "$out" "$rc" "$(elapsed "$t0" "$t1")" \
        "-" >>"$rows"
    if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
        say "[$name] exit $rc; last lines:"
        tail -n 5 "$out" | sed 's/^/    /'
    fi
}

# A row for a part that cannot run here.
skip_row() {
    printf '%s\t%s\t%s\t-\t-\t-\tSKIP\n' "$1" "$2" "$3" >>"$rows"
}

# --- where CUDA is -----------------------------------------------------------------------------
gpu=0
if [ "$dry" = 0 ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        gpu=1
        say "GPU: $(nvidia-smi -L | head -n 1); driver $(nvidia-smi \
            --query-gpu=driver_version --format=csv,noheader | head -n 1)"
    else
        say "no GPU here (nvidia-smi sees none): run with --dry-run on a machine without one"
        exit 2
    fi
fi

sampler_env=()
if [ "$gpu" = 1 ]; then
    # NVRTC for the sampler's kernels: the toolkit's, or the one PyTorch's wheels bring.
    libs=()
    if command -v nvcc >/dev/null 2>&1; then
        libs+=("$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)/lib64")
    fi
    torch_nvrtc="$(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(list(nvidia.cuda_nvrtc.__path__)[0], "lib"))' 2>/dev/null || true)"
    [ -n "$torch_nvrtc" ] && libs+=("$torch_nvrtc")
    # cudarc looks for libnvrtc.so and libnvrtc.so.{12,11,...}; a toolkit of another major
    # version ships only its own soname, so a link named libnvrtc.so points at the first found.
    for d in "${libs[@]}" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        found="$(ls "$d"/libnvrtc.so.[0-9]* 2>/dev/null | grep -v builtins | head -n 1)"
        if [ -n "$found" ]; then
            mkdir -p "$work/nvrtc"
            ln -sf "$found" "$work/nvrtc/libnvrtc.so"
            # The real directory too, for the libnvrtc-builtins it loads beside itself.
            libs=("$work/nvrtc" "$(dirname "$found")" "${libs[@]}")
            say "NVRTC: $found"
            break
        fi
    done
    lp="$(IFS=:; echo "${libs[*]}")"
    sampler_env=("LD_LIBRARY_PATH=${lp}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
else
    # The newest build of it: an older build directory may hold a fake from before a change.
    fake="$(ls -t "$bin"/build/gpuleak-tests-*/out/fake-cuda/libcuda.so.1 2>/dev/null | head -n 1)"
    fake="${fake%/libcuda.so.1}"
    if [ -z "$fake" ]; then
        say "dry run: gpuleak's fake CUDA driver is not built under $bin/build (cargo build" \
            "builds it with the workspace)"
        exit 1
    fi
    say "dry run: the sampler parts run on gpuleak's fake CUDA driver (a test double: kernels" \
        "are not executed) from $fake; parts that need the GPU are skipped"
    sampler_env=("LD_LIBRARY_PATH=$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi

# --- the sampler ------------------------------------------------------------------------------
sampler="$bin/gpuleak-sampler"
part sampler-none none 120 "${sampler_env[@]}" -- "$sampler" --leak none
part sampler-per-step leak:per_step_scratch 120 "${sampler_env[@]}" -- "$sampler" --leak per-step
part sampler-per-step-mark leak:per_step_scratch 120 "${sampler_env[@]}" -- \
    "$sampler" --leak per-step --mark
part sampler-keep-latents leak:keep_latents 120 "${sampler_env[@]}" -- \
    "$sampler" --leak keep-latents
part sampler-sawtooth sawtooth:keep_for_image 120 "${sampler_env[@]}" -- \
    "$sampler" --leak sawtooth
part sampler-model-switch leak:switch_model 120 "${sampler_env[@]}" -- \
    "$sampler" --leak model-switch

# The hook's cost on a longer run: the same sampler with and without it.
timing_args=(--leak none --images 4 --steps 50 --height 64 --width 64 --hidden 64)
say "run [sampler timing, 120s each]: gpuleak-sampler ${timing_args[*]}, bare then under gpuleak"
t0="$(now)"
env "${sampler_env[@]}" timeout -k 5 120 "$sampler" "${timing_args[@]}" >"$work/timing-bare.out" 2>&1
bare_rc=$?
t1="$(now)"
bare="$(elapsed "$t0" "$t1")"
part sampler-timing none 120 "${sampler_env[@]}" -- "$sampler" "${timing_args[@]}"
if [ "$bare_rc" = 0 ]; then
    # The row's time is with the hook; the bare time goes beside it.
    awk -F'\t' -v OFS='\t' -v bare="$bare" \
        '$1 == "sampler-timing" { split($6, t, "/"); $6 = t[1] "/" bare } { print }' \
        "$rows" >"$rows.new" && mv "$rows.new" "$rows"
else
    printf 'sampler-timing-bare\t-\tbare run exit %s\t-\t-\t-\tFAIL\n' "$bare_rc" >>"$rows"
fi

# --- PyTorch, the CUDA C program, CuPy, JAX ----------------------------------------------------
if [ "$gpu" = 1 ]; then
    for alloc in default cudaMallocAsync expandable; do
        case "$alloc" in
            default) conf=() ;;
            cudaMallocAsync) conf=("PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync") ;;
            expandable) conf=("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True") ;;
        esac
        part "torch-$alloc" none 180 "${conf[@]}" -- python3 "$parts/torch_sampler.py"
        part "torch-$alloc-leak" leak 180 "${conf[@]}" -- python3 "$parts/torch_sampler.py" --leak
    done

    if command -v nvcc >/dev/null 2>&1; then
        say "build: nvcc -g -O0 -o $work/leaky_static $parts/leaky_static.cu -ldl"
        if timeout -k 5 180 nvcc -g -O0 -o "$work/leaky_static" "$parts/leaky_static.cu" -ldl \
            >"$work/nvcc.out" 2>&1; then
            part nvcc-static none 60 -- "$work/leaky_static"
            part nvcc-static-leak leak:leak_buffer 60 -- "$work/leaky_static" --leak
        else
            printf 'nvcc-static\t-\tnvcc failed: %s\t-\t-\t-\tFAIL\n' \
                "$(tail -n 1 "$work/nvcc.out" | cut -c1-40)" >>"$rows"
        fi
    else
        skip_row nvcc-static "leak@leak_buffer" "no nvcc"
    fi

    part cupy none 120 -- python3 "$parts/cupy_alloc.py"
    part cupy-leak leak 120 -- python3 "$parts/cupy_alloc.py" --leak
    jax_env=(XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_ALLOCATOR=platform)
    part jax none 180 "${jax_env[@]}" -- python3 "$parts/jax_alloc.py"
    part jax-leak leak 180 "${jax_env[@]}" -- python3 "$parts/jax_alloc.py" --leak
else
    for alloc in default cudaMallocAsync expandable; do
        say "would run: gpuleak run --no-tui -- python3 $parts/torch_sampler.py [--leak]" \
            "(allocator: $alloc)"
        skip_row "torch-$alloc(-leak)" "no leak / leak" "dry run: needs the GPU"
    done
    say "would run: nvcc -g -O0 -o leaky_static $parts/leaky_static.cu -ldl, then it under gpuleak"
    skip_row nvcc-static "no leak / leak@leak_buffer" "dry run: needs the GPU"
    say "would run: python3 $parts/cupy_alloc.py [--leak] and $parts/jax_alloc.py [--leak]"
    skip_row "cupy(-leak)" "no leak / leak" "dry run: needs the GPU"
    skip_row "jax(-leak)" "no leak / leak" "dry run: needs the GPU"
fi

# --- the table ---------------------------------------------------------------------------------
echo
if [ "$gpu" = 1 ]; then
    echo "gpuleak GPU check, $(date -u +%Y-%m-%dT%H:%MZ), $(nvidia-smi -L | head -n 1)"
else
    echo "gpuleak GPU check, dry run on the fake CUDA driver, $(date -u +%Y-%m-%dT%H:%MZ)"
fi
python3 "$parts/check.py" table "$rows"
