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

from . import identity
from ._api import Engine, RoundResult, aggregate, attack, attack_names, describe_updates
from ._core import (
    DeviceError,
    Error,
    InvalidInputError,
    IoError,
    OutOfMemoryError,
    UnsupportedError,
    backends_built,
    rule_names,
    version,
)

__version__ = version()


def recommended_policy(f: int) -> dict:
    """The recommended policy for rounds with up to ``f`` malicious clients, as a config dict
    (docs/evaluation.md): norm_bound (3x the median norm), NNM and trimmed mean with ``f``.
    ``fedguard.Engine(fedguard.recommended_policy(f))``."""
    from ._core import _recommended_policy_json

    return _json.loads(_recommended_policy_json(int(f)))

__all__ = [
    "DeviceError",
    "Engine",
    "Error",
    "InvalidInputError",
    "IoError",
    "OutOfMemoryError",
    "RoundResult",
    "UnsupportedError",
    "__version__",
    "aggregate",
    "attack",
    "attack_names",
    "backends_built",
    "describe_updates",
    "identity",
    "recommended_policy",
    "rule_names",
    "version",
]
