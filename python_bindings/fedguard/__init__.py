"""fedguard: poisoning detection and robust aggregation for federated learning.

The algorithms are in C++ (``fedguard._core``); this package only adapts Python inputs and
outputs. See docs/python.md.

    import fedguard
    engine = fedguard.Engine({"aggregator": {"rule": "median"}})
    result = engine.process_round(updates)          # numpy (n, d), torch tensor or list
    result.accepted, result.weights, result.aggregate

The Flower strategy is in ``fedguard.flower`` (imported on demand: it needs ``flwr``); client
verification (keys, signing, the registry) in ``fedguard.identity``.
"""

import json as _json
import numbers
from typing import Optional

from . import identity
from ._api import Engine, RoundResult, aggregate, attack, attack_names, describe_updates
from ._blas_kernel import PerformanceWarning
from ._core import (
    DeviceError,
    Error,
    InvalidInputError,
    IoError,
    OutOfMemoryError,
    UnsupportedError,
    backends_built,
    blas_info,
    rule_names,
    version,
)

__version__ = version()


def recommended_policy(
    f: Optional[int] = None,
    *,
    f_fraction: Optional[float] = None,
    f_floor: Optional[float] = None,
) -> dict:
    """The preset that needs no tuning (docs/detection.md): the calibrated detection stage,
    then NNM and the trimmed mean with ``f``, as a config dict for ``fedguard.Engine``.

    Args:
        f: malicious clients assumed per round; lowered by the clients detection rejected and
            where a round is too small for it (the result's ``notes`` say so).
        f_fraction: instead of f, the fraction of each round's clients (default 0.2).
        f_floor: the share of f kept however many clients detection rejected (default 0: a
            margin for the members of a mostly caught coalition that detection missed;
            docs/evaluation.md, "A floor under the preset's f").
    """
    if f is not None and f_fraction is not None:
        raise ValueError("give f or f_fraction, not both")
    policy: dict = {"preset": "recommended"}
    if f is not None:
        if isinstance(f, bool) or not isinstance(f, numbers.Integral) or f < 0:
            raise ValueError(f"f must be a non-negative integer, got {f!r}")
        policy["f"] = int(f)
    if f_fraction is not None:
        if not isinstance(f_fraction, numbers.Real) or not 0 <= float(f_fraction) < 0.5:
            raise ValueError(f"f_fraction must be in [0, 0.5), got {f_fraction!r}")
        policy["f_fraction"] = float(f_fraction)
    if f_floor is not None:
        if (
            isinstance(f_floor, bool)
            or not isinstance(f_floor, numbers.Real)
            or not 0 <= float(f_floor) <= 1
        ):
            raise ValueError(f"f_floor must be in [0, 1], got {f_floor!r}")
        policy["f_floor"] = float(f_floor)
    return policy


__all__ = [
    "DeviceError",
    "Engine",
    "Error",
    "InvalidInputError",
    "IoError",
    "OutOfMemoryError",
    "PerformanceWarning",
    "RoundResult",
    "UnsupportedError",
    "__version__",
    "aggregate",
    "attack",
    "attack_names",
    "backends_built",
    "blas_info",
    "describe_updates",
    "identity",
    "recommended_policy",
    "rule_names",
    "version",
]
