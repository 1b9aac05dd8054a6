"""Shared fixtures of the Python tests. They run against whichever `fedguard` is importable:
the build tree's (CTest sets PYTHONPATH=<build>/python) or the installed package."""

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

# Several tests compare the command line with this process bit for bit (test_cli_parity.py and
# others); they agree only on the same BLAS kernels. The command line would start itself again
# with better ones where OpenBLAS fell back to SSE3 (README, "The BLAS kernel"), this process
# cannot: both keep OpenBLAS's own choice (test_ergonomics.py tests the restart and the warning
# with the variable removed).
os.environ.setdefault("FEDGUARD_KEEP_BLAS_KERNEL", "1")

import fedguard  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # dlpack_helpers, flower_sim_app

_expected_dir = os.environ.get("FEDGUARD_EXPECT_BUILD_DIR")
if _expected_dir and Path(_expected_dir).resolve() not in Path(fedguard.__file__).resolve().parents:
    raise RuntimeError(f"expected fedguard from {_expected_dir}, imported {fedguard.__file__}")


def pytest_report_header(config):
    where = Path(fedguard.__file__).parent
    return f"fedguard {fedguard.__version__} from {where}; backends {fedguard.backends_built()}"


def real_cuda_backend():
    """True where this build has a CUDA backend (not only the device query)."""
    return "cuda" in fedguard.backends_built()


@pytest.fixture(scope="session")
def cli():
    """The C++ command line of the same build: FEDGUARD_CLI, else the one installed next to
    this Python, else on PATH, else build/bin/fedguard."""
    candidates = [
        os.environ.get("FEDGUARD_CLI"),
        os.path.join(sysconfig.get_path("scripts"), "fedguard"),
        shutil.which("fedguard"),
        str(REPO / "build" / "bin" / "fedguard"),
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.skip("no fedguard command line found (set FEDGUARD_CLI)")


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch", reason="torch is not installed (not a CI dependency)")


def make_updates(n=16, d=300, seed=0, attackers=0, dtype=np.float32):
    """n updates around a common direction; the first `attackers` rows are sign-flipped and
    scaled by 20."""
    rng = np.random.default_rng(seed)
    center = rng.normal(size=d)
    x = center + 0.3 * rng.normal(size=(n, d))
    x[:attackers] = -20 * x[:attackers]
    return x.astype(dtype)
