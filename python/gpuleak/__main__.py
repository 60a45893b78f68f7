"""`python -m gpuleak ...` runs the `gpuleak` command installed with this package, the same as
typing `gpuleak ...` (for environments whose scripts directory is not on PATH)."""

import os
import shutil
import sys
import sysconfig
from pathlib import Path


def _command():
    # pip puts the package in <prefix>/lib/pythonX.Y/site-packages/gpuleak and the command in
    # <prefix>/bin: the command of this very installation first, then the scheme's, then PATH.
    here = Path(__file__).resolve().parent
    candidates = [here.parents[3] / "bin" / "gpuleak"] if len(here.parents) > 3 else []
    candidates.append(Path(sysconfig.get_path("scripts")) / "gpuleak")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("gpuleak")


def main():
    cmd = _command()
    if cmd is None:
        sys.exit("gpuleak: the gpuleak command is not installed with this Python package")
    os.execv(cmd, ["gpuleak", *sys.argv[1:]])


if __name__ == "__main__":
    main()
