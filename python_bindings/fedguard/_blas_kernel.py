"""Whether OpenBLAS runs the kernels this processor has (README, "The BLAS kernel").

OpenBLAS picks its kernels once, when it loads, and falls back to SSE3 kernels on a processor
model it does not know. The command line starts itself again with the right ones; a Python
process can only be told, once, when it first builds an engine (not at import: the ``fedguard``
console script imports this package before it execs the command line, which fixes it itself).
"""

from __future__ import annotations

import os
import warnings

from . import _core


class PerformanceWarning(RuntimeWarning):
    """The process runs slower than this machine allows, and how to fix it."""


_checked = False


def warn_once_if_below_the_processor(stacklevel: int = 3) -> None:
    global _checked
    if _checked:
        return
    _checked = True
    if os.environ.get("FEDGUARD_KEEP_BLAS_KERNEL", "0") != "0":
        return
    info = _core.blas_info()
    if info["better_kernel"]:
        warnings.warn(
            f"fedguard: OpenBLAS runs its {info['kernel']} kernels on this processor "
            f"({info['cpu']}); set OPENBLAS_CORETYPE={info['better_kernel']} before starting "
            "Python (3-5x on Grams above 512 clients and on NNM's mixing), or "
            "FEDGUARD_KEEP_BLAS_KERNEL=1 to keep them and silence this",
            PerformanceWarning,
            stacklevel=stacklevel,
        )
