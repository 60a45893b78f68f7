#!/usr/bin/env bash
# MANUAL VALIDATION SCRIPT, NOT PART OF CI: CI and `scripts/test.sh` must not depend on it (it
# needs the network and downloads Debian/Ubuntu packages).
#
# Checks the hook's Python stacks (docs/python.md) under CPython versions other than the
# machine's own, without installing anything into the system: it downloads the interpreters'
# .deb packages from Debian (3.9 from bullseye, 3.13 from trixie, 3.14 from sid) and Ubuntu (3.10 from jammy,
# 3.12 from noble) with apt-get in a private configuration (its own sources list, package lists
# and cache; /etc/apt and the system's packages are left alone), extracts them with `dpkg -x` under
# target/python-versions/<version>/root, and runs tests/programs/python_sampler.py under each
# with the hook preloaded, over the fake CUDA driver, then checks `gpuleak report --format json`
# and the trace itself as tests/tests/python_stacks.rs does for the machine's python3. It also
# downloads each version's libpython3.X-dev and checks the hook's table of that version's
# structure offsets (hook/src/pylayout.rs) against the headers (a `layout` line per version).
#
# An interpreter whose distribution has an older glibc than this machine's runs directly
# (LD_LIBRARY_PATH into its tree). One that needs a newer glibc (3.12, 3.13) runs on its own
# distribution's glibc in two ways, each its own line: (1) a copy of the executable whose
# PT_INTERP is the tree's loader (set with patchelf, itself downloaded from bookworm), as a
# program normally starts; (2) started as `<tree>/ld-linux-x86-64.so.2 --library-path <fake
# driver>:<tree libs> python3.X`, with LD_PRELOAD (the hook) in the environment, which that loader
# honours. (2) fails as of 2026-11-27 with any Python version, 3.11 included: the hook records the
# main program under /proc/self/exe's name, the loader's (docs/python.md, "Versions checked").
#
# Usage: scripts/python-versions.sh [--no-build] [VERSION...]     (default: 3.9 3.10 3.12 3.13 3.14)
#   --no-build  use target/debug/{libgpuleak_hook.so,gpuleak} and the fake CUDA as they are
#               (default: `cargo build -p gpuleak-hook -p gpuleak -p gpuleak-tests` first)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), UBUNTU_MIRROR (default
#   http://archive.ubuntu.com/ubuntu), GPULEAK_PY_CACHE (default target/python-versions).
# Prints one line per version (and launch mode), `PASS` or `FAIL` with what failed; exits 0 when
# all passed, 1 when one failed, 2 when a mirror cannot be reached or a download fails (said clearly).
# Needs: apt-get, dpkg, curl, the machine's python3 (3.6+, for the checks), x86_64.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=1
VERSIONS=()
for a in "$@"; do
    case "$a" in
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
        3.9|3.10|3.12|3.13|3.14) VERSIONS+=("$a") ;;
        *) echo "python-versions: unknown argument or version: $a (known: 3.9 3.10 3.12 3.13 3.14)" >&2; exit 64 ;;
    esac
done
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.9 3.10 3.12 3.13 3.14)

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
UBUNTU_MIRROR=${UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
CACHE=${GPULEAK_PY_CACHE:-$ROOT/target/python-versions}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

die_net() { echo "python-versions: NETWORK: $*" >&2; echo "python-versions: no version was checked" >&2; exit 2; }

# --- what each version is made of -----------------------------------------------------------
# distro suite keyring-file packages...   (own_libc: run through the tree's own loader)
declare -A SUITE MIRROR PKGS OWN_LIBC KEYRING
SUITE[3.9]=bullseye; MIRROR[3.9]=$DEBIAN_MIRROR; OWN_LIBC[3.9]=0
PKGS[3.9]="python3.9-minimal libpython3.9-minimal libpython3.9-stdlib python3.9 libffi7 libmpdec3"
SUITE[3.13]=trixie; MIRROR[3.13]=$DEBIAN_MIRROR; OWN_LIBC[3.13]=1
PKGS[3.13]="python3.13-minimal libpython3.13-minimal libpython3.13-stdlib python3.13 libffi8 libc6 libgcc-s1 libexpat1 zlib1g"
SUITE[3.14]=sid; MIRROR[3.14]=$DEBIAN_MIRROR; OWN_LIBC[3.14]=1
PKGS[3.14]="python3.14-minimal libpython3.14-minimal libpython3.14-stdlib python3.14 libffi8 libc6 libgcc-s1 libexpat1 zlib1g libzstd1"
SUITE[3.10]=jammy; MIRROR[3.10]=$UBUNTU_MIRROR; OWN_LIBC[3.10]=0
PKGS[3.10]="python3.10-minimal libpython3.10-minimal libpython3.10-stdlib python3.10 libffi8 libmpdec3"
SUITE[3.12]=noble; MIRROR[3.12]=$UBUNTU_MIRROR; OWN_LIBC[3.12]=1
PKGS[3.12]="python3.12-minimal libpython3.12-minimal libpython3.12-stdlib python3.12 libffi8 libc6 libgcc-s1 libexpat1 zlib1g"
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
UBUNTU_KEYRING=$CACHE/ubuntu-keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg
for v in 3.9 3.13 3.14; do KEYRING[$v]=$DEBIAN_KEYRING; done
for v in 3.10 3.12; do KEYRING[$v]=$UBUNTU_KEYRING; done

# --- apt-get in a private configuration -----------------------------------------------------
# apt_in SUITE MIRROR KEYRING apt-get|apt-cache ARGS...
apt_in() {
    local suite=$1 mirror=$2 keyring=$3 tool=$4; shift 4
    local d=$CACHE/apt/$suite
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts" "$d/conf"
    [ -e "$d/status" ] || : > "$d/status"
    echo "deb [signed-by=$keyring] $mirror $suite main" > "$d/sources.list"
    "$tool" -q \
        -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts="$d/parts" \
        -o Dir::Etc::Parts="$d/conf" -o Dir::Etc::Preferences="$d/conf/none" \
        -o Dir::Etc::PreferencesParts="$d/conf" \
        -o Dir::State::Lists="$d/lists" -o Dir::State::status="$d/status" -o Dir::Cache="$d/cache" \
        -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Acquire::Languages=none \
        -o APT::Sandbox::User=root -o Acquire::Check-Valid-Until=false "$@"
}

# reachable URL: the mirror answers for this suite
reachable() { curl -s -f -I -m 20 -o /dev/null "$1/dists/$2/InRelease"; }

# fetch_debs VERSION: downloads (once) and extracts (once) into $CACHE/VERSION/root
fetch_debs() {
    local v=$1 suite=${SUITE[$1]} mirror=${MIRROR[$1]} keyring=${KEYRING[$1]}
    local debs=$CACHE/$v/debs root=$CACHE/$v/root
    if [ -e "$CACHE/$v/.extracted" ]; then return 0; fi
    if ! reachable "$mirror" "$suite"; then
        # An old suite may have moved to the archive (bullseye to archive.debian.org, an Ubuntu
        # release past its end of life to old-releases.ubuntu.com).
        local archive=http://archive.debian.org/debian
        [ "$keyring" = "$UBUNTU_KEYRING" ] && archive=http://old-releases.ubuntu.com/ubuntu
        if reachable "$archive" "$suite"; then
            mirror=$archive
        elif curl -s -f -I -m 20 -o /dev/null "$mirror/dists/"; then
            die_net "$mirror answers but has no $suite (for CPython $v), nor does $archive"
        else
            die_net "cannot reach $mirror/dists/$suite (for CPython $v); check the network, or set DEBIAN_MIRROR / UBUNTU_MIRROR"
        fi
    fi
    if [ "$keyring" = "$UBUNTU_KEYRING" ] && [ ! -e "$UBUNTU_KEYRING" ]; then
        # Ubuntu's archive key, from Debian's own ubuntu-keyring package (trixie), not installed.
        reachable "$DEBIAN_MIRROR" trixie || die_net "cannot reach $DEBIAN_MIRROR/dists/trixie (for ubuntu-keyring)"
        apt_in trixie "$DEBIAN_MIRROR" "$DEBIAN_KEYRING" apt-get update >"$CACHE/apt-trixie.log" 2>&1 \
            || die_net "apt-get update of trixie failed: see $CACHE/apt-trixie.log"
        mkdir -p "$CACHE/ubuntu-keyring/debs"
        (cd "$CACHE/ubuntu-keyring/debs" && apt_in trixie "$DEBIAN_MIRROR" "$DEBIAN_KEYRING" apt-get download ubuntu-keyring) \
            >>"$CACHE/apt-trixie.log" 2>&1 || die_net "downloading ubuntu-keyring failed: see $CACHE/apt-trixie.log"
        dpkg -x "$CACHE"/ubuntu-keyring/debs/ubuntu-keyring_*.deb "$CACHE/ubuntu-keyring"
        [ -e "$UBUNTU_KEYRING" ] || { echo "python-versions: no $UBUNTU_KEYRING in ubuntu-keyring" >&2; exit 2; }
    fi
    local log=$CACHE/$v/apt.log
    mkdir -p "$debs"
    : > "$log"
    apt_in "$suite" "$mirror" "$keyring" apt-get update >>"$log" 2>&1 \
        || die_net "apt-get update of $suite from $mirror failed: see $log"
    rm -f "$debs"/*.deb
    # shellcheck disable=SC2086
    (cd "$debs" && apt_in "$suite" "$mirror" "$keyring" apt-get download ${PKGS[$v]}) >>"$log" 2>&1 \
        || die_net "downloading ${PKGS[$v]} from $suite failed: see $log"
    rm -rf "$root"; mkdir -p "$root"
    for f in "$debs"/*.deb; do dpkg -x "$f" "$root" || { echo "python-versions: dpkg -x $f failed" >&2; exit 2; }; done
    touch "$CACHE/$v/.extracted"
}

# fetch_patchelf: patchelf from Debian bookworm (runs on this machine), into $CACHE/patchelf
PATCHELF=$CACHE/patchelf/root/usr/bin/patchelf
fetch_patchelf() {
    [ -x "$PATCHELF" ] && return 0
    reachable "$DEBIAN_MIRROR" bookworm || die_net "cannot reach $DEBIAN_MIRROR/dists/bookworm (for patchelf)"
    mkdir -p "$CACHE/patchelf/debs"
    local log=$CACHE/patchelf/apt.log
    apt_in bookworm "$DEBIAN_MIRROR" "$DEBIAN_KEYRING" apt-get update >"$log" 2>&1 \
        || die_net "apt-get update of bookworm failed: see $log"
    (cd "$CACHE/patchelf/debs" && apt_in bookworm "$DEBIAN_MIRROR" "$DEBIAN_KEYRING" apt-get download patchelf) \
        >>"$log" 2>&1 || die_net "downloading patchelf failed: see $log"
    dpkg -x "$CACHE"/patchelf/debs/patchelf_*.deb "$CACHE/patchelf/root"
}

# --- the hook, gpuleak and the fake driver --------------------------------------------------
if [ $BUILD = 1 ]; then
    cargo build -p gpuleak-hook -p gpuleak -p gpuleak-tests || { echo "python-versions: build failed" >&2; exit 1; }
fi
HOOK=$ROOT/target/debug/libgpuleak_hook.so
GPULEAK=$ROOT/target/debug/gpuleak
FAKE=$(ls -td "$ROOT"/target/debug/build/gpuleak-tests-*/out/fake-cuda 2>/dev/null | head -1)
for f in "$HOOK" "$GPULEAK" "$FAKE/libcuda.so.1"; do
    [ -e "$f" ] || { echo "python-versions: missing $f: run cargo build -p gpuleak-hook -p gpuleak -p gpuleak-tests" >&2; exit 1; }
done

# fetch_headers VERSION: the version's libpython3.X-dev (its C headers, internal ones included),
# downloaded and extracted once into $CACHE/VERSION/dev, for the layout check below.
fetch_headers() {
    local v=$1 suite=${SUITE[$1]} mirror=${MIRROR[$1]} keyring=${KEYRING[$1]} dev=$CACHE/$1/dev
    [ -e "$dev/.extracted" ] && return 0
    reachable "$mirror" "$suite" || mirror=$([ "$keyring" = "$UBUNTU_KEYRING" ] \
        && echo http://old-releases.ubuntu.com/ubuntu || echo http://archive.debian.org/debian)
    mkdir -p "$dev/debs"
    rm -f "$dev"/debs/*.deb
    (cd "$dev/debs" && apt_in "$suite" "$mirror" "$keyring" apt-get download "libpython$v-dev") \
        >"$dev/apt.log" 2>&1 || die_net "downloading libpython$v-dev from $suite failed: see $dev/apt.log"
    rm -rf "$dev/root"; mkdir -p "$dev/root"
    dpkg -x "$dev"/debs/*.deb "$dev/root" || { echo "python-versions: dpkg -x libpython$v-dev failed" >&2; exit 2; }
    touch "$dev/.extracted"
}

# --- download everything first: a network failure stops before any check -------------------
for v in "${VERSIONS[@]}"; do
    fetch_debs "$v"
    fetch_headers "$v"
    [ "${OWN_LIBC[$v]}" = 1 ] && fetch_patchelf
done

# The layout the hook reads frames by (hook/src/pylayout.rs, table PY<major><minor>) against the
# version's own headers: tests/programs/pylayout.c compiled against them prints each offset.
read -r -d '' LAYOUT_CHECK <<'PY'
import re, sys

version, printed, source = sys.argv[1], sys.stdin.read(), open(sys.argv[2]).read()
name = "const PY%s: Layout = Layout {" % version.replace(".", "")
if name not in source:
    print("CPython %s layout: PASS; note: no table in pyread.rs (the C API path is used)" % version)
    sys.exit(0)
body = source[source.index(name):]
body = body[:body.index("};")]
table = {}
for line in body.splitlines():
    m = re.match(r"\s*(\w+): (?:Some\()?(\d+)\)?,", line)
    if m:
        table[m.group(1)] = int(m.group(2))
debug = "const DEBUG%s: DebugPositions = DebugPositions {" % version.replace(".", "")
if debug in source:
    body = source[source.index(debug):]
    for line in body[:body.index("};")].splitlines():
        m = re.match(r"\s*(\w+): (\d+),", line)
        if m:
            table["debug_" + m.group(1)] = int(m.group(2))
for const, field in (("OB_TYPE", "ob_type"), ("OB_SIZE", "ob_size"), ("BYTES_DATA", "bytes_data")):
    table[field] = int(re.search(r"const %s: usize = (\d+);" % const, source).group(1))
wrong = []
for line in printed.splitlines()[1:]:
    field, offset = line.split()
    if table.get(field) != int(offset):
        wrong.append("%s: headers %s, pyread.rs %s" % (field, offset, table.get(field)))
if wrong or len(printed.splitlines()) < 10:
    print("CPython %s layout: FAIL: %s" % (version, "; ".join(wrong) or printed))
    sys.exit(1)
print("CPython %s layout: PASS (%d offsets as in its headers)" % (version, len(printed.splitlines()) - 1))
PY

layout_one() {
    local v=$1 inc=$CACHE/$1/dev/root/usr/include exe=$CACHE/$1/pylayout
    if ! cc -I"$inc/python$v" -I"$inc" "$ROOT/tests/programs/pylayout.c" -o "$exe" 2>"$exe.log"; then
        echo "CPython $v layout: FAIL: pylayout.c does not compile against its headers (see $exe.log)"
        return 1
    fi
    "$exe" | python3 -c "$LAYOUT_CHECK" "$v" "$ROOT/hook/src/pylayout.rs"
}

# The checks, in the machine's python3: argv = version, origin, PYTHONHOME, LD_LIBRARY_PATH
# (empty: unset), work dir, hook, gpuleak, the sampler, then the command that starts the interpreter.
read -r -d '' CHECKER <<'PY'
import json, os, subprocess, sys

label, origin, home, libenv, work, hook, gpuleak, script = sys.argv[1:9]
prefix = sys.argv[9:]
STEPS, MIB = 8, 1 << 20
src = open(script).read().splitlines()
failures, notes = [], []


def line_of(name):
    found = [i + 1 for i, l in enumerate(src) if l.rstrip().endswith("# site: " + name)]
    assert len(found) == 1, name
    return found[0]


def env_for(extra, out):
    env = {k: v for k, v in os.environ.items()
           if not (k == "LD_PRELOAD" or k.startswith(("GPULEAK_", "FAKE_CUDA_", "PYTHON")))}
    env.update(PYTHONHOME=home, PYTHONNOUSERSITE="1", LD_PRELOAD=hook, GPULEAK_OUTPUT=out)
    if libenv:
        env["LD_LIBRARY_PATH"] = libenv
    else:
        env.pop("LD_LIBRARY_PATH", None)
    env.update(extra)
    return env


runs = 0


def sample(args, extra={}):
    """python_sampler.py --steps 8 ARGS under the hook: (trace path, report JSON)."""
    global runs
    runs += 1
    out = os.path.join(work, "run%d.trace" % runs)
    p = subprocess.run(prefix + [script, "--steps", str(STEPS)] + list(args),
                       env=env_for(extra, out), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    text = p.stdout.decode(errors="replace")
    if p.returncode != 0 or ("done %d" % STEPS) not in text:
        raise AssertionError("exit %d: %s" % (p.returncode, text.strip()[-600:]))
    r = subprocess.run([gpuleak, "report", "--format", "json", out], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        raise AssertionError("gpuleak report: " + r.stderr.decode(errors="replace")[-600:])
    return out, json.loads(r.stdout)


version = subprocess.run(prefix + ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         env=env_for({}, os.path.join(work, "v.trace")), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT).stdout.decode(errors="replace").strip()
major_minor = tuple(int(x) for x in version.split(".")[:2]) if version[:1].isdigit() else (0, 0)
# co_qualname (Class.method) exists from 3.11; before, the hook names a function by co_name.
qualified = major_minor >= (3, 11)
if not qualified:
    notes.append("functions named by co_name (Cuda.alloc shows as alloc): co_qualname is 3.11+")


def fn(q):
    return q if qualified else q.rsplit(".", 1)[-1]


def pyframe(q, site):
    return "%s (%s:%d)" % (fn(q), script, line_of(site))


def sites(j): return j["sites"]
def frames(s): return s["frames"]
def pyframes(s): return [f for f in frames(s) if "python_sampler.py" in f]


def site_with(j, frame):
    found = [s for s in sites(j) if frame in frames(s)]
    assert len(found) == 1, "expected one site with %r, got %d" % (frame, len(found))
    return found[0]


def check(name, cond, what):
    if not cond:
        raise AssertionError("%s: %s" % (name, what))


# --- the trace itself (docs/trace-format.md): Module and Stack records ----------------------
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if not c & 0x80:
            return v, i


def stack_records(path):
    b = open(path, "rb").read()
    assert b[:8] == b"GPULEAK\0", "not a trace"
    i, modules, stacks = 12, [], []
    while i < len(b):
        tag = b[i]
        try:
            n, j = varint(b, i + 1)
        except IndexError:
            break
        if j + n > len(b):
            break
        p, i = b[j:j + n], j + n
        if tag == 2:
            ln, k = varint(p, 0)
            path_, k = p[k:k + ln].decode(errors="replace"), k + ln
            base, k = varint(p, k); start, k = varint(p, k); end, k = varint(p, k)
            modules.append((path_, base, start, end))
        elif tag == 3:
            _, k = varint(p, 0)
            count, k = varint(p, k)
            ips = []
            for _ in range(count):
                ip, k = varint(p, k); ips.append(ip)
            names = []
            for ip in ips:
                m = [m for m in modules if m[2] <= ip < m[3]]
                names.append(m[-1][0].rsplit("/", 1)[-1] if m else "?")
            stacks.append((names, k < len(p)))
    return stacks


def is_interpreter(module):
    return module.startswith("libpython") or (module.startswith("python") and ".so" not in module)


# --- the checks, after tests/tests/python_stacks.rs -----------------------------------------
def t_sites_and_verdict():
    trace, j = sample([])
    check("mode", j["process"]["stacks"] == "all", j["process"]["stacks"])
    leak = site_with(j, pyframe("Sampler.denoise_step", "leak"))
    py = pyframes(leak)
    check("python stack", len(py) == 5 and py[0] == pyframe("Cuda.alloc", "alloc")
          and py[1] == pyframe("Sampler.denoise_step", "leak") and py[2].startswith("sample (")
          and py[3].startswith("main (") and py[4].startswith("<module> ("), py)
    allf = frames(leak)
    check("joined", allf[len(allf) - len(py):] == py and len(allf) > len(py), allf)
    check("no interpreter frames", not any(f.startswith(("_PyEval_EvalFrame", "Py_BytesMain", "_start"))
                                           for f in allf), allf)
    scratch = site_with(j, pyframe("Sampler.denoise_step", "scratch"))
    check("scratch is its own site", scratch["stack_id"] != leak["stack_id"], "same stack")
    check("weights", site_with(j, pyframe("Sampler.__init__", "weights"))["allocations"] == 1, "allocations")
    # the verdict
    check("iterations", j["iterations"]["source"] == "marker" and j["iterations"]["count"] == STEPS,
          j["iterations"])
    leaks = [s for s in sites(j) if s["verdict"] == "leak"]
    check("one leak", len(leaks) == 1, [frames(s) for s in leaks])
    check("leak size", leaks[0]["bytes_per_iteration"] == MIB and leaks[0]["live_bytes_at_end"] == STEPS * MIB,
          (leaks[0]["bytes_per_iteration"], leaks[0]["live_bytes_at_end"]))
    check("leak line", pyframes(leaks[0])[1] == pyframe("Sampler.denoise_step", "leak"), pyframes(leaks[0]))
    check("scratch steady", scratch["verdict"] == "steady" and scratch["live_bytes_at_end"] == 0,
          (scratch["verdict"], scratch["live_bytes_at_end"]))
    # all mode: native frames stop at the first interpreter frame, which is kept
    recs = [s for s in stack_records(trace) if s[1]]
    check("python stack records", recs, "none")
    for names, _ in recs:
        check("innermost native frame in libffi", names[0].startswith("libffi"), names)
        inside = [i for i, n in enumerate(names) if is_interpreter(n)]
        check("native part ends at the interpreter", inside == [len(names) - 1], names)


# The CPython versions whose layout the hook knows (hook/src/pylayout.rs): their frames are read from
# memory, so threads without the GIL get them too; the others read them through the C API, under
# the GIL only.
READ_FROM_MEMORY = {(3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14)}


def t_no_gil():
    for args in (["--dll", "cdll", "--thread"], ["--dll", "cdll"]):
        trace, j = sample(args)
        n = sum(s["allocations"] for s in sites(j))
        check("no-GIL allocations %s" % args, n == 1 + 2 * STEPS, n)
        if major_minor in READ_FROM_MEMORY:
            leak = site_with(j, pyframe("Sampler.denoise_step", "leak"))
            check("no-GIL leak at its line %s" % args, leak["verdict"] == "leak", leak["verdict"])
            if "--thread" in args:
                check("no-GIL worker's own frames %s" % args,
                      not any(f.startswith("main (") for f in frames(leak)), frames(leak))
            for names, has_py in stack_records(trace):
                inside = [i for i, n in enumerate(names) if is_interpreter(n)]
                check("no-GIL records %s" % args, has_py and inside == [len(names) - 1], names)
            continue
        for s in sites(j):
            check("no-GIL Python frames %s" % args, not pyframes(s), frames(s))
            check("no-GIL stack %s" % args, frames(s), "empty")
        check("no-GIL leak %s" % args, any(s["verdict"] == "leak" for s in sites(j)), "no leak")
        for names, has_py in stack_records(trace):
            check("no-GIL records %s" % args, not has_py and sum(map(is_interpreter, names)) > 2, names)


def t_thread():
    _, j = sample(["--thread"])
    allf = frames(site_with(j, pyframe("Sampler.denoise_step", "leak")))
    check("worker's stack", any(f.startswith(fn("Thread.run") + " (") for f in allf), allf)
    check("no main thread frames", not any(f.startswith("main (") for f in allf), allf)


def t_gc():
    _, j = sample(["--gc"])
    c = site_with(j, pyframe("alloc_after_garbage", "cyclic"))
    check("gc cyclic", (c["allocations"], c["frees"], c["live_bytes_at_end"]) == (STEPS, STEPS, 0),
          (c["allocations"], c["frees"], c["live_bytes_at_end"]))
    a = site_with(j, pyframe("alloc_after_garbage", "after-garbage"))
    check("gc after-garbage frees", a["frees"] == STEPS, a["frees"])


def t_native():
    _, j = sample([], {"GPULEAK_STACKS": "native"})
    check("native mode", j["process"]["stacks"] == "native", j["process"]["stacks"])
    for s in sites(j):
        check("native: no Python frames", not pyframes(s), frames(s))
    # Through the interpreter's evaluation loop: named `_PyEval_EvalFrame*` where the build
    # exports it, else its caller `PyEval_EvalCode` (Debian's 3.14 keeps the loop's name local).
    check("native: through the interpreter",
          any(f.startswith(("_PyEval_EvalFrame", "PyEval_EvalCode")) for s in sites(j) for f in frames(s)),
          [frames(s) for s in sites(j)][:1])


def t_python_only():
    _, j = sample([], {"GPULEAK_STACKS": "python"})
    check("python mode", j["process"]["stacks"] == "python", j["process"]["stacks"])
    leak = site_with(j, pyframe("Sampler.denoise_step", "leak"))
    check("python only", frames(leak) == pyframes(leak) and frames(leak)[0] == pyframe("Cuda.alloc", "alloc"),
          frames(leak))


for name, t in [("sites+verdict+boundary", t_sites_and_verdict), ("no-GIL", t_no_gil),
                ("--thread", t_thread), ("--gc", t_gc), ("STACKS=native", t_native),
                ("STACKS=python", t_python_only)]:
    try:
        t()
    except Exception as e:  # one line per failure
        failures.append("%s: %s" % (name, str(e).replace("\n", " ")[:400]))

if failures and os.path.basename(prefix[0]).startswith("ld-"):
    notes.append("known cause: the hook names the main program after /proc/self/exe, here the "
                 "loader (docs/python.md, Versions checked)")
head = "CPython %s (%s" % (version or label + " (did not start)", origin) + ")"
tail = ("; note: " + "; ".join(notes)) if notes else ""
if failures:
    print(head + ": FAIL: " + " | ".join(failures) + tail)
    sys.exit(1)
print(head + ": PASS" + tail)
PY

# --- run and check --------------------------------------------------------------------------
# check_one VERSION HOW LD_LIBRARY_PATH|"" WORKDIR COMMAND...: one line, PASS or FAIL
check_one() {
    local v=$1 how=$2 libenv=$3 work=$4; shift 4
    local pkgver
    pkgver=$(dpkg-deb -f "$CACHE/$v"/debs/python"$v"-minimal_*.deb Version 2>/dev/null)
    rm -rf "$work"; mkdir -p "$work"
    python3 -c "$CHECKER" "$v" "${SUITE[$v]} $pkgver, $how" "$CACHE/$v/root/usr" "$libenv" "$work" \
        "$HOOK" "$GPULEAK" "$ROOT/tests/programs/python_sampler.py" "$@" </dev/null
}

rc=0
for v in "${VERSIONS[@]}"; do
    layout_one "$v" || rc=1
    root=$CACHE/$v/root
    libdirs=()
    for d in usr/lib/x86_64-linux-gnu lib/x86_64-linux-gnu; do [ -d "$root/$d" ] && libdirs+=("$root/$d"); done
    libpath=$(IFS=:; echo "${libdirs[*]}")
    python=$root/usr/bin/python$v
    if [ "${OWN_LIBC[$v]}" = 0 ]; then
        check_one "$v" "run directly on this machine's glibc" "$FAKE:$libpath" "$CACHE/$v/runs" "$python" || rc=1
        continue
    fi
    loader=$(find "$root" -name ld-linux-x86-64.so.2 -type f | head -1)
    [ -n "$loader" ] || { echo "CPython $v: FAIL: no ld-linux-x86-64.so.2 in $root"; rc=1; continue; }
    # 1. As a program normally starts: a copy of the executable whose PT_INTERP is the tree's
    #    loader (patchelf), the tree's libraries through LD_LIBRARY_PATH. Still named python3.X.
    mkdir -p "$CACHE/$v/bin"
    cp "$python" "$CACHE/$v/bin/python$v"
    if "$PATCHELF" --set-interpreter "$loader" "$CACHE/$v/bin/python$v"; then
        check_one "$v" "PT_INTERP set to ${SUITE[$v]}'s loader, ${SUITE[$v]}'s glibc" "$FAKE:$libpath" \
            "$CACHE/$v/runs" "$CACHE/$v/bin/python$v" || rc=1
    else
        echo "CPython $v: FAIL: patchelf --set-interpreter failed"; rc=1
    fi
    # 2. Started through the loader: `ld-linux-x86-64.so.2 --library-path ... python3.X` (the
    #    fake driver first, as the tests put it; --library-path replaces LD_LIBRARY_PATH).
    check_one "$v" "started as ${SUITE[$v]}'s ld-linux-x86-64.so.2 --library-path ... python$v" "" \
        "$CACHE/$v/runs-ldso" "$loader" --library-path "$FAKE:$libpath" "$python" || rc=1
done
exit $rc
