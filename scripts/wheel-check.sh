#!/usr/bin/env bash
# The wheel as a user gets it: built from this checkout, installed into a fresh venv outside it,
# and run from there with no access to the checkout's target/ directory.
#
#   scripts/wheel-check.sh [--profile release|dev] [--wheel FILE] [--keep]
#
# 1. Builds the wheel (`pip wheel .`: maturin through python/build_backend, manylinux tag),
#    unless --wheel names one built already; prints its size and build time.
# 2. Checks its tags (manylinux, x86_64) and its hook library: no libstdc++, nothing needed
#    beyond glibc, glibc symbol versions no newer than OLDEST_GLIBC (docs/install.md), and
#    auditwheel's verdict on the whole wheel when auditwheel can be installed.
# 3. Installs it into a new venv under /tmp and, from a directory outside the checkout:
#    `gpuleak --version` (the hook found in the venv), `gpuleak demo --no-tui` (the wheel's fake
#    driver), a Python program marking its steps with gpuleak.iteration() under `gpuleak run`
#    (its marks seen in the JSON report), `python -m gpuleak --version` (the same text).
# 4. One case of scripts/torch-check.sh with the installed command (real PyTorch on the fake
#    CUDA stack the wheel ships), when the PyTorch environment exists (.ci/run makes it; with
#    GPULEAK_REQUIRE_TOOLS=1 its absence fails the check).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

root="$(cd "$(dirname "$0")/.." && pwd)"
# The oldest glibc the hook may need: the wheel built on Debian 12 (glibc 2.36) links the
# symbols of glibc 2.34 (its tag: manylinux_2_34); docs/install.md states it.
OLDEST_GLIBC=2.34
profile=release
wheel=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a cargo profile}"; shift ;;
        --wheel) wheel="$(realpath "${2:?--wheel needs a file}")"; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "wheel-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "wheel-check: $*"; }
fail() { echo "wheel-check: FAIL: $*" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/gpuleak-wheel-check.XXXXXX")"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; else say "kept $work"; fi; }
trap cleanup EXIT

# --- 1. the wheel ----------------------------------------------------------------------------
if [ -z "$wheel" ]; then
    say "building the wheel (cargo profile $profile)"
    t0=$SECONDS
    # `pypi`: the lowest manylinux tag the command's symbols allow (pip's own builds say `linux`).
    python3 -m pip wheel --disable-pip-version-check -q --no-deps -w "$work/dist" "$root" \
        -C maturin.build-args="--profile $profile --compatibility pypi"
    wheel="$(ls "$work"/dist/gpuleak-*.whl)"
    say "built $(basename "$wheel") in $((SECONDS - t0)) s, $(du -k "$wheel" | cut -f1) KiB"
fi

# --- 2. tags and the hook's needs ------------------------------------------------------------
name="$(basename "$wheel")"
case "$name" in
    *-py3-none-manylinux_*x86_64.whl) say "tags: ${name#*-py3-none-}" ;;
    *) fail "the wheel $name is not tagged py3-none-manylinux_*_x86_64" ;;
esac
python3 -m zipfile -e "$wheel" "$work/unpacked"
hook="$(ls "$work"/unpacked/gpuleak/libgpuleak_hook.so)" || fail "no hook in the wheel"
[ -f "$work/unpacked/gpuleak/__init__.py" ] || fail "no Python module in the wheel"
[ -f "$(ls "$work"/unpacked/gpuleak-*.data/scripts/gpuleak)" ] || fail "no gpuleak command in the wheel"
needed="$(readelf -d "$hook" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
say "the hook needs: $needed"
for lib in $needed; do
    case "$lib" in
        libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|libgcc_s.so.1|ld-linux-x86-64.so.2) ;;
        *) fail "the hook needs $lib (only glibc and libgcc_s may be needed: anything else could clash with the profiled program)" ;;
    esac
done
newest="$(readelf -V -W "$hook" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -u -V | tail -n 1)"
say "the hook's newest glibc symbol version: $newest (allowed: $OLDEST_GLIBC)"
[ "$(printf '%s\n%s\n' "$newest" "$OLDEST_GLIBC" | sort -V | tail -n 1)" = "$OLDEST_GLIBC" ] ||
    fail "the hook needs glibc $newest, newer than $OLDEST_GLIBC"
if readelf -d "$hook" | grep -q 'STATIC_TLS'; then
    fail "the hook uses the static TLS model: dlopen (NVTX injection) could fail to load it"
fi
if python3 -m venv "$work/audit" && "$work/audit/bin/pip" install -q --disable-pip-version-check auditwheel >/dev/null 2>&1; then
    say "auditwheel: $("$work/audit/bin/auditwheel" show "$wheel" 2>&1 | tr '\n' ' ' | sed 's/  */ /g' | cut -c1-400)"
else
    say "auditwheel could not be installed; readelf's checks above stand"
fi

# --- 3. installed, away from the checkout ----------------------------------------------------
venv="$work/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-index "$wheel"
run="$work/run"
mkdir -p "$run"
cd "$run"
unset GPULEAK_HOOK LD_LIBRARY_PATH PYTHONPATH
pkg="$("$venv/bin/python" -c 'import gpuleak, os; print(os.path.dirname(gpuleak.__file__))')"
case "$pkg" in "$venv"/*) ;; *) fail "import gpuleak found $pkg, not the venv's" ;; esac

version="$("$venv/bin/gpuleak" --version)"
echo "$version" | sed 's/^/  /'
echo "$version" | grep -q "^hook: $pkg/libgpuleak_hook.so (in the installed gpuleak Python package), version " ||
    fail "gpuleak --version does not name the venv's hook"
echo "$version" | grep -q "^trace format: version " || fail "gpuleak --version names no trace format"
[ "$("$venv/bin/python" -m gpuleak --version)" = "$version" ] || fail "python -m gpuleak --version differs"
say "PASS gpuleak --version, python -m gpuleak --version"

# The installed command refuses, in one line and with exit code 2, a hook that is missing and one
# of another version (a copy of the venv's with its version marker changed), before any program
# runs.
refused() {  # refused WHAT HOOK
    if GPULEAK_HOOK="$2" "$venv/bin/gpuleak" run --no-tui -o refused.trace -- true >refused.out 2>refused.err; then
        fail "gpuleak run ran with $1"
    else
        rc=$?
    fi
    [ "$rc" = 2 ] || fail "gpuleak run with $1 exited $rc, not 2"
    [ "$(wc -l <refused.err)" = 1 ] || { cat refused.err; fail "gpuleak run with $1 said more than one line"; }
    [ ! -e refused.trace ] || fail "gpuleak run with $1 wrote a trace"
    say "PASS refused $1: $(cat refused.err)"
}
refused "a missing hook" "$run/no-such-hook.so"
"$venv/bin/python" - "$pkg/libgpuleak_hook.so" "$run/other-version.so" <<'PY' || fail "cannot make a hook of another version"
import sys
data = open(sys.argv[1], "rb").read()
marker = b"GPULEAK_HOOK_VERSION="
at = data.index(marker) + len(marker)
end = data.index(b"\0", at)
other = b"9" * (end - at)
assert other != data[at:end]
open(sys.argv[2], "wb").write(data[:at] + other + data[end:])
PY
refused "a hook of another version" "$run/other-version.so"

"$venv/bin/gpuleak" demo --no-tui --fake-cuda -o demo.trace >demo.out 2>demo.err ||
    { cat demo.err; fail "gpuleak demo --no-tui failed"; }
grep -q "fake CUDA driver.*$pkg/demo/fake-cuda" demo.err || { cat demo.err; fail "the demo did not use the wheel's fake driver"; }
grep -qi "leak" demo.out || { cat demo.out; fail "the demo's report names no leak"; }
say "PASS gpuleak demo --no-tui"

cp "$root/scripts/wheel/marks_app.py" .
LD_LIBRARY_PATH="$pkg/demo/fake-cuda" "$venv/bin/gpuleak" run --no-tui -o marks.trace -- \
    "$venv/bin/python" marks_app.py >marks.out 2>&1 || { cat marks.out; fail "gpuleak run of a marked Python program failed"; }
"$venv/bin/gpuleak" report --format json marks.trace >marks.json
"$venv/bin/python" - <<'PY' || fail "the report does not show the program's marks"
import json
it = json.load(open("marks.json"))["iterations"]
assert (it["source"], it["count"], it["marker_label"]) == ("marker", 6, "step"), it
assert it["device_bytes_per_iteration"] == 1 << 20, it
PY
say "PASS gpuleak.iteration() under gpuleak run: 6 marked steps in the report"

# --- 4. real PyTorch with the installed command ----------------------------------------------
cd "$root"
torch_env="${GPULEAK_TORCH_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuleak/torch-2.9.1-cu128}"
if [ -x "$torch_env/bin/python" ]; then
    scripts/torch-check.sh --bin-dir "$venv/bin" --fake-cuda "$pkg/demo/fake-cuda" \
        --only native-leak-verdict || fail "torch-check with the installed command"
elif [ "${GPULEAK_REQUIRE_TOOLS:-0}" = 1 ]; then
    fail "no PyTorch environment in $torch_env (scripts/torch-check.sh --env-only makes it)"
else
    say "SKIP torch-check: no PyTorch environment in $torch_env"
fi
say "all passed"
