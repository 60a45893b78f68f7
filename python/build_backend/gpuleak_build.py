"""The wheel's build backend: maturin, after a cargo build of what maturin cannot build itself.

maturin packages one crate (the `gpuleak` command, viewer/). The hook is a second crate (a
cdylib) and the demo needs the sampler (kernels/) and the fake CUDA driver (tests/ builds it, a
test double): they are built here with the same cargo profile and copied into the Python package
(python/gpuleak/libgpuleak_hook.so, python/gpuleak/demo/), then maturin builds the wheel, which
takes the package as it is. The copies are build outputs, ignored by git.

The profile is maturin's: release, or `--profile NAME` in MATURIN_PEP517_ARGS or the
`maturin.build-args` config setting (e.g. `pip wheel . -C maturin.build-args="--profile dev"`).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import maturin
from maturin import *  # noqa: F401,F403  (the PEP 517 hooks this module does not change)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "gpuleak"
HOOK = "libgpuleak_hook.so"
SAMPLER = "gpuleak-sampler"


def _profile(config_settings):
    args = maturin.get_maturin_pep517_args(config_settings)
    for i, a in enumerate(args):
        if a == "--profile" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--profile="):
            return a.split("=", 1)[1]
    return "release"


def _cargo_build(profile):
    """Builds the hook, the sampler and the fake driver; returns the fake driver's directory."""
    cmd = [
        os.environ.get("CARGO", "cargo"), "build", "--profile", profile,
        "-p", "gpuleak-hook", "-p", "gpuleak-kernels", "--bin", SAMPLER, "-p", "gpuleak-tests",
        "--lib", "--message-format", "json-render-diagnostics",
    ]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    hook = sampler = fake = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact":
            for f in msg.get("filenames", []) + [msg.get("executable") or ""]:
                if f.endswith("/" + HOOK):
                    hook = Path(f)
                elif f.endswith("/" + SAMPLER):
                    sampler = Path(f)
        elif msg.get("reason") == "build-script-executed" and "gpuleak-tests" in msg["package_id"]:
            fake = Path(msg["out_dir"]) / "fake-cuda"
    if not (hook and sampler and fake and (fake / "libcuda.so.1").is_file()):
        raise RuntimeError(f"cargo build did not produce the hook, sampler and fake driver: {cmd}")
    return hook, sampler, fake


def _stage(config_settings):
    hook, sampler, fake = _cargo_build(_profile(config_settings))
    shutil.copy(hook, PACKAGE / HOOK)
    demo = PACKAGE / "demo"
    shutil.rmtree(demo, ignore_errors=True)
    (demo / "fake-cuda").mkdir(parents=True)
    shutil.copy(sampler, demo / SAMPLER)
    # A wheel holds no symbolic links: each name the loader may ask for is a copy.
    for lib in sorted(fake.iterdir()):
        if lib.name.startswith("lib") and ".so" in lib.name:
            shutil.copy(lib, demo / "fake-cuda" / lib.name)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _stage(config_settings)
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _stage(config_settings)
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)

