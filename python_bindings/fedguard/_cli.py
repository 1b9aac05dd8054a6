"""The ``fedguard`` command on PATH (a console script, pyproject.toml) and ``python -m fedguard``:
both exec the C++ command line shipped inside the package (``fedguard/_bin/fedguard``), so exit
codes, output and signals are the binary's own."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Sequence


def binary() -> Optional[str]:
    """The command line of this installation: the package's own ``_bin/fedguard`` (wheel,
    ``pip install .``), else ``$FEDGUARD_CLI`` (a CMake build tree: build/bin/fedguard)."""
    own = Path(__file__).parent / "_bin" / "fedguard"
    for candidate in (str(own), os.environ.get("FEDGUARD_CLI")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    exe = binary()
    if exe is None:
        sys.stderr.write(
            "fedguard: this installation has no command line binary (fedguard/_bin/fedguard); "
            "in a CMake build tree run build/bin/fedguard or set FEDGUARD_CLI\n"
        )
        return 4
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, ["fedguard", *args])  # argv[0]: the name usage lines show
    return 4  # not reached: execv replaces the process or raises OSError
