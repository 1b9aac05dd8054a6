"""The Python face of fedguard's engine: configuration in, results out. No algorithm here."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._blas_kernel import warn_once_if_below_the_processor


# What the public signatures take (docs/python.md#inputs). Tensors and DLPack producers are
# not numpy types, hence the `Any` in Updates.
Config = Union[None, str, bytes, Mapping[str, Any]]
"""A policy: a dict in the schema of docs/config.md, its JSON text, or None (plain mean)."""
Updates = Union[npt.NDArray[Any], Sequence[Any], Any]
"""One round's updates: an (n, d) array or tensor, or a sequence with one entry per client
(an array, a list of per-layer arrays, or a Mapping such as a state_dict)."""
Weights = Optional[npt.ArrayLike]
"""One number per client (FedAvg's sample counts), or None."""


def _json_default(x: Any) -> Any:
    """numpy scalars and arrays in configs and parameters (``trim=np.int64(2)``)."""
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise _core.InvalidInputError(f"config value of type {type(x).__name__} is not JSON: {x!r}")


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default, allow_nan=False)
    except RecursionError:
        # The C++ parser refuses nesting deeper than 64 levels anyway; this is the same error
        # before Python's own recursion limit is hit.
        raise _core.InvalidInputError(f"{what} is nested too deeply (the limit is 64 levels)") from None
    except ValueError as exc:  # NaN / Inf, circular references
        raise _core.InvalidInputError(f"{what} is not valid JSON: {exc}") from None
    except TypeError as exc:  # keys that are not strings
        raise _core.InvalidInputError(f"{what} is not valid JSON: {exc}") from None


def _config_text(config: Any) -> str:
    if config is None:
        return "{}"
    if isinstance(config, bytes):
        try:
            return config.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _core.InvalidInputError(f"config is not UTF-8 text: {exc}") from None
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping):
        return _dumps(config, "config")
    raise _core.InvalidInputError(f"config must be a dict or JSON text, got {type(config).__name__}")


_MAX_U64 = 2**64 - 1


def _count(value: Any, what: str) -> Optional[int]:
    """None, or an int in [0, 2^64 - 1] (Python or numpy integer); anything else is a ValueError
    (beyond 2^64 - 1 pybind11 raised its signature TypeError; hostile probe)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= _MAX_U64:
        raise _core.InvalidInputError(f"{what} must be a non-negative integer, got {value!r} (at most 2^64 - 1)")
    return int(value)


def _text(value: Any, what: str) -> str:
    """str(value), which must be encodable as UTF-8 (a lone surrogate is not: pybind11 raised its
    signature TypeError; hostile probe)."""
    s = str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _core.InvalidInputError(f"{what} is not valid UTF-8 text: {s!r} ({exc.reason})") from None
    return s


def _server_metrics(metrics: Any) -> Optional[dict]:
    if metrics is None:
        return None
    if not isinstance(metrics, Mapping):
        raise _core.InvalidInputError(f"server_metrics must be a dict name -> number, got {type(metrics).__name__}")
    out = {}
    for k, v in metrics.items():
        try:
            out[_text(k, "server_metrics key")] = float(v)
        except (TypeError, ValueError):
            raise _core.InvalidInputError(f"server_metrics[{k!r}] must be a number, got {v!r}") from None
    return out


def _path(path: Any, what: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise _core.InvalidInputError(f"{what} must be a path (str or os.PathLike), got {type(path).__name__}") from None


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "data_ptr")


def _first_leaf(updates: Any) -> Any:
    """The first array of updates (a block, a client's array, or a client's first layer)."""
    x = updates
    while isinstance(x, (list, tuple)) and len(x) > 0:
        x = x[0]
    return x


def _layer_of_mapping(value: Any) -> Any:
    """One entry of a state_dict-like Mapping as a layer fedguard reads: float32, float16 and
    bfloat16 as they are; anything else (integer buffers such as BatchNorm's
    num_batches_tracked, float64) cast to float32."""
    if _is_torch(value):
        import torch

        value = value.detach()
        return value if value.dtype in (torch.float32, torch.float16, torch.bfloat16) else value.float()
    a = np.asarray(value)
    return a if a.dtype in (np.float32, np.float16) or a.dtype.name == "bfloat16" else a.astype(np.float32)


def _clients_from_mappings(updates: Any) -> Any:
    """A list whose entries are Mappings (a model's ``state_dict()``, a dict of arrays): each is
    one client's update, its values flattened and concatenated in the Mapping's order (a
    state_dict's order: the model's registration order)."""
    if isinstance(updates, Mapping):
        raise _core.InvalidInputError(
            "updates is a Mapping: a Mapping (e.g. a state_dict) is one client's update; pass a list "
            "with one per client, e.g. [model.state_dict() for model in models]"
        )
    if isinstance(updates, (list, tuple)) and any(isinstance(u, Mapping) for u in updates):
        return [[_layer_of_mapping(v) for v in u.values()] if isinstance(u, Mapping) else u for u in updates]
    return updates


def _output_like(updates: Any) -> Callable[[np.ndarray], Any]:
    """Maps the float32 numpy aggregate to the kind of array the caller passed."""
    leaf = _first_leaf(updates)
    if _is_torch(leaf):
        import torch  # already imported by the caller

        device = leaf.device

        def to_torch(aggregate: np.ndarray) -> Any:
            t = torch.from_numpy(aggregate)  # shares the memory
            return t if device.type == "cpu" else t.to(device)

        return to_torch
    return lambda aggregate: aggregate


def _as_doubles(values: Any, what: str) -> Optional[list]:
    if values is None:
        return None
    if _is_torch(values):
        values = values.detach().cpu().numpy()
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _core.InvalidInputError(f"{what} must be numbers, one per client: {exc}") from None
    if a.ndim != 1:
        raise _core.InvalidInputError(f"{what} must be 1-D (one value per client), got shape {a.shape}")
    return a.tolist()


def _signature_texts(signatures: Any, ids: Optional[list]) -> Optional[list]:
    """Signatures as the engine takes them: base64 text per client, "" for none."""
    if signatures is None:
        return None
    from .identity import b64encode

    def text(s: Any) -> str:
        if s is None:
            return ""
        if isinstance(s, str):
            return s
        return b64encode(bytes(s))

    if isinstance(signatures, Mapping):
        if ids is None:
            raise ValueError("signatures given as a dict need client_ids")
        return [text(signatures.get(i)) for i in ids]
    return [text(s) for s in signatures]


class RoundResult:
    """What one round returned (fields as in the C++ ``fedguard::RoundResult``).

    Attributes:
        n, d: the round's shape.
        accepted: numpy bool (n,); True for clients that passed every check and filter.
        weights: numpy float64 (n,); for linear rules each update's exact coefficient in the
            aggregate, for coordinate-wise rules 1/(number accepted) over the accepted.
        linear: False for median, trimmed_mean and bulyan aggregators.
        reference_weights: dict; coefficients of vectors other than the updates
            (centred clipping's previous aggregate).
        noise_sigma: standard deviation of the Gaussian noise added to every coordinate of
            the aggregate (FLAME), 0.0 when none was added.
        scores: dict rule name -> numpy float64 (n,); NaN for clients a rule never saw.
        reasons: dict client index -> reason text, for every client not accepted.
        aggregate: the aggregated update, float32 (d,): a numpy array, or a torch tensor on
            the input's device when the updates were torch tensors.
        timings_ms: dict stage -> milliseconds, in execution order.
        metrics: dict name -> float, the round's monitoring metrics (docs/monitoring.md);
            NaN for a metric that was not finite (refused); empty with monitoring off.
        alerts: list of dicts (metric, round, method, direction, statistic, threshold, value,
            baseline_mean, baseline_scale), the change-point alerts of this round; [] if none.
        metrics_refused: names of the metrics that were not finite and were not fed.
        client_ids: the round's ids as strings ("0", "1", ... when none were passed).
        rejections: list of dicts, one per rejected client in row order: ``client`` (row),
            ``id``, ``code`` (docs/result.md), ``stage``, ``rule``, ``detail``, ``values``.
        rejected_ids: ids of the rejected clients, in row order.
        rejections_by_id: dict id -> its rejection dict.
        reasons_by_id: dict id -> reason text (the deprecated ``reasons``, keyed by id).
        notes: what the engine adapted or skipped this round (list of str).
        verification: dict (round, nonce, verified, new_clients, burst, on_probation,
            probation_share_before, probation_share_after) when the engine holds a registry,
            else None (docs/verification.md).
    """

    # Fields read from the C++ result on first access and kept: converting every field of a
    # round (the metrics dict, the score arrays, the rejection dicts) when the caller reads only
    # the aggregate was 0.10 of the 0.14 ms this wrapper cost after an idle pause at 10 x 1e4
    # (a round's own work there: 0.27 ms). Each name is also settable (unpickling sets them).
    _LAZY = (
        "accepted",
        "weights",
        "linear",
        "reference_weights",
        "noise_sigma",
        "scores",
        "reasons",
        "timings_ms",
        "metrics",
        "alerts",
        "metrics_refused",
        "client_ids",
        "rejections",
        "rejected_ids",
        "rejections_by_id",
        "reasons_by_id",
        "notes",
        "verification",
        "accepted_ids",
    )
    _FIELDS = ("n", "d", "aggregate") + _LAZY

    __slots__ = ("n", "d", "aggregate", "_fields", "_ids", "_scores_by_id", "_raw", "_json")

    n: int
    d: int
    aggregate: Any  # numpy float32 (d,), or a torch tensor for torch input
    # The lazy fields' types (their properties are added below the class).
    accepted: npt.NDArray[np.bool_]
    weights: npt.NDArray[np.float64]
    linear: bool
    reference_weights: Dict[str, float]
    noise_sigma: float
    scores: Dict[str, npt.NDArray[np.float64]]
    reasons: Dict[int, str]
    timings_ms: Dict[str, float]
    metrics: Dict[str, float]
    alerts: List[Dict[str, Any]]
    metrics_refused: List[str]
    client_ids: List[str]
    rejections: List[Dict[str, Any]]
    rejected_ids: List[str]
    rejections_by_id: Dict[str, Dict[str, Any]]
    reasons_by_id: Dict[str, str]
    notes: List[str]
    verification: Optional[Dict[str, Any]]
    accepted_ids: List[str]

    def __init__(self, raw: Any, to_output: Callable[[np.ndarray], Any], client_ids: Optional[list]):
        self._raw = raw
        self.n = raw.n
        self.d = raw.d
        self.aggregate = to_output(raw.aggregate)
        self._ids = client_ids
        self._fields: Dict[str, Any] = {}
        self._scores_by_id = None
        self._json = None

    def _field(self, name: str) -> Any:
        fields = self._fields
        if name not in fields:
            fields[name] = self._build(name)
        return fields[name]

    def _build(self, name: str) -> Any:
        raw = self._raw
        if name == "client_ids":
            return list(raw.client_ids) if self._ids is None else self._ids
        if name == "reasons_by_id":
            # self.reasons, not raw.reasons: each read of the C++ field builds a new dict (99
            # reads of it made this 0.8 ms at n = 100).
            reasons = self.reasons
            return {r["id"]: reasons[r["client"]] for r in self.rejections}
        if name == "accepted_ids":
            return [c for c, a in zip(self.client_ids, self.accepted) if a]
        return getattr(raw, name)

    @property
    def scores_by_id(self) -> Dict[str, Dict[str, float]]:
        """dict id -> {rule: score} (NaN where a rule never saw the client). Built on first
        read: one dict per client is most of this object's construction at n >= 100, and a
        server that reads only the mask should not pay it every round."""
        if self._scores_by_id is None:
            self._scores_by_id = {
                c: {rule: float(values[i]) for rule, values in self.scores.items()}
                for i, c in enumerate(self.client_ids)
            }
        return self._scores_by_id

    def by_id(self, client_id: Any) -> Dict[str, Any]:
        """One client's outcome by its id (``str(client_id)``): ``row``, ``accepted``,
        ``weight``, ``scores`` (rule -> float, NaN where a rule never saw it) and ``rejection``
        (its rejection dict, None when accepted). Raises KeyError for an id not in the round."""
        key = str(client_id)
        try:
            row = self.client_ids.index(key)
        except ValueError:
            raise KeyError(f"client id {key!r} is not in this round ({self.n} clients)") from None
        return {
            "row": row,
            "accepted": bool(self.accepted[row]),
            "weight": float(self.weights[row]),
            "scores": dict(self.scores_by_id[key]),
            "rejection": self.rejections_by_id.get(key),
        }

    def to_json(self, indent: Optional[int] = None) -> str:
        """The C++ ``RoundResult::to_json()`` text (everything but the aggregate; with
        ``client_ids``, ``rejected_ids`` and ``rejections``)."""
        if self._raw is None:  # unpickled: the text kept at pickling
            return self._json if indent is None else json.dumps(json.loads(self._json), indent=indent)
        return self._raw.to_json(-1 if indent is None else indent)

    def to_dict(self, aggregate: bool = False) -> Dict[str, Any]:
        """The result as plain Python values (the fields of ``to_json``: lists, dicts, floats;
        NaN scores become None); with ``aggregate=True`` also the aggregate as a list of floats."""
        out = json.loads(self.to_json())
        if aggregate:
            agg = self.aggregate
            if _is_torch(agg):
                agg = agg.detach().cpu().numpy()
            out["aggregate"] = np.asarray(agg, dtype=np.float64).tolist()
        return out

    # Pickling and copy.deepcopy (Ray, multiprocessing, saving results): every field as numpy /
    # Python values, plus the JSON text; the C++ object itself is not kept, so
    # Engine.prometheus_text needs the original result.
    def __getstate__(self) -> dict:
        state = {name: getattr(self, name) for name in self._FIELDS}
        state["accepted"] = np.array(self.accepted)  # own copies, not views of the C++ buffers
        state["weights"] = np.array(self.weights)
        state["scores"] = {k: np.array(v) for k, v in self.scores.items()}
        if not _is_torch(self.aggregate):
            state["aggregate"] = np.array(self.aggregate)
        state["_json"] = self.to_json()
        return state

    def __setstate__(self, state: dict) -> None:
        self._fields = {}
        self._ids = None
        self._raw = None
        self._json = None
        for name, value in state.items():
            if name != "scores_by_id":  # pickled before it was built on first read
                setattr(self, name, value)
        self._scores_by_id = None

    def __repr__(self) -> str:
        rejected = self.n - int(self.accepted.sum())
        return f"<fedguard.RoundResult n={self.n} d={self.d} accepted={self.n - rejected} rejected={rejected}>"


def _lazy_field(name: str) -> property:
    def get(self: RoundResult) -> Any:
        return self._field(name)

    def put(self: RoundResult, value: Any) -> None:
        self._fields[name] = value

    return property(get, put, doc=f"RoundResult.{name} (see the class docstring); converted on first read.")


for _name in RoundResult._LAZY:
    setattr(RoundResult, _name, _lazy_field(_name))
del _name


class Engine:
    """One engine per training run: it keeps state across rounds (centred clipping's previous
    aggregate). ``config`` is a dict or JSON text in the schema of docs/config.md; None is the
    default policy (plain mean).

    Thread-safe: concurrent calls on one engine run one after the other; the GIL is released
    while a round is computed.
    """

    def __init__(self, config: Config = None, registry: Any = None) -> None:
        warn_once_if_below_the_processor()
        self._engine = _core.Engine(_config_text(config))
        self._registry_text: Optional[str] = None
        if registry is not None:
            self.set_registry(registry)

    # Pickling and copy.deepcopy: an engine is its configuration, its registry (if any) and the
    # state kept across rounds, carried as the bytes of its versioned state file
    # (save_state / load_state). The copy continues exactly where the original is.
    def __getstate__(self) -> dict:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="fedguard-pickle-") as tmp:
            path = os.path.join(tmp, "state.bin")
            self._engine.save_state(path)
            with open(path, "rb") as f:
                state = f.read()
        return {"config": self._engine.config_json, "registry": self._registry_text, "state": state}

    def __setstate__(self, state: dict) -> None:
        import tempfile

        self._engine = _core.Engine(state["config"])
        self._registry_text = None
        if state.get("registry") is not None:
            self.set_registry(state["registry"])
        with tempfile.TemporaryDirectory(prefix="fedguard-pickle-") as tmp:
            path = os.path.join(tmp, "state.bin")
            with open(path, "wb") as f:
                f.write(state["state"])
            self._engine.load_state(path)

    def set_registry(self, registry: Any) -> None:
        """Turns client verification on (docs/verification.md): a ``fedguard.identity.Registry``,
        its JSON text, or a path to a registry file. The engine keeps a copy: call again after
        the registry changes."""
        from .identity import Registry

        if isinstance(registry, Registry):
            text = registry.to_json()
        elif isinstance(registry, (str, os.PathLike)) and not str(registry).lstrip().startswith("{"):
            text = Registry.load(str(registry)).to_json()
        else:
            text = str(registry)
        self._engine.set_registry(text)
        self._registry_text = text

    def clear_registry(self) -> None:
        """Turns client verification off."""
        self._engine.clear_registry()
        self._registry_text = None

    def process_round(
        self,
        updates: Updates,
        client_ids: Optional[Sequence[Any]] = None,
        num_samples: Weights = None,
        reference: Optional[npt.ArrayLike] = None,
        *,
        expected_length: Optional[int] = None,
        signatures: Union[None, Sequence[Union[bytes, str, None]], Mapping[str, Union[bytes, str, None]]] = None,
        round: Optional[int] = None,
        nonce: Union[None, bytes, str] = None,
        server_metrics: Optional[Mapping[str, float]] = None,
        update_digests: Optional[Sequence[bytes]] = None,
    ) -> RoundResult:
        """Runs one round.

        Args:
            updates: a 2-D array (n clients x d parameters): numpy float32/float16 (or
                ml_dtypes bfloat16), a torch tensor (CPU or CUDA; float32, float16,
                bfloat16) or any DLPack producer; or a list with one entry per client, each a
                1-D array/tensor or a list of per-layer arrays (flattened in order).
            client_ids: one id per client (converted with str()); duplicates are rejected.
            num_samples: one positive weight per client (FedAvg weights); None is uniform.
            reference: the server's reference update (d values, host memory) for rules that
                use one (fltrust).
            expected_length: for lists, the round's d; default: the length most clients have.
            signatures, round, nonce: client verification, used when the engine holds a registry
                (docs/verification.md). ``signatures``: one per client (64 raw bytes, base64
                text, or None for none), or a dict client id -> signature; ``round``: the round
                number the clients signed; ``nonce``: the round's 32 bytes (or 64 hex digits).
            server_metrics: metrics the server measured itself, e.g. {"loss": 0.31,
                "accuracy": 0.87} (names [a-z][a-z0-9_]*): reported as "server_<name>" in
                result.metrics and watched by the detectors of that name (docs/monitoring.md).
            update_digests: with verification, one 32-byte SHA-256 per client of its update's
                bytes, computed by the server as each update arrived
                (``fedguard.identity.update_digest``): the round then does not hash. Trusted:
                compute them from the very arrays passed in ``updates``, never take them from a
                client.

        Returns:
            A RoundResult. Raises fedguard.InvalidInputError (a ValueError) for bad input or
            configuration, fedguard.UnsupportedError (a NotImplementedError) for requests this
            build cannot serve, e.g. CUDA memory without a CUDA backend.
        """
        if client_ids is not None and (isinstance(client_ids, (str, bytes)) or not hasattr(client_ids, "__iter__")):
            raise _core.InvalidInputError(f"client_ids must be a sequence of ids, got {type(client_ids).__name__}")
        ids = None if client_ids is None else [_text(c, f"client_ids[{i}]") for i, c in enumerate(client_ids)]
        samples = _as_doubles(num_samples, "num_samples")
        sigs = _signature_texts(signatures, ids)
        server = _server_metrics(server_metrics)
        nonce_bytes = None
        if nonce is not None:
            from .identity import nonce_from_hex

            nonce_bytes = nonce_from_hex(nonce) if isinstance(nonce, str) else bytes(nonce)
        round_number = _count(round, "round")
        updates = _clients_from_mappings(updates)
        digests = None if update_digests is None else [bytes(x) for x in update_digests]
        try:
            raw = self._engine.process_round(updates, ids, samples, reference, _count(expected_length, "expected_length"),
                                             sigs, 0 if round_number is None else round_number, nonce_bytes, server,
                                             digests)
        except _core.InvalidInputError as exc:
            hint = "e.g. x.astype(numpy.float32)"
            if _is_torch(_first_leaf(updates)) and hint in str(exc):  # the hint in torch's words
                raise _core.InvalidInputError(str(exc).replace(hint, "e.g. x.float() (torch.float32)")) from None
            raise
        return RoundResult(raw, _output_like(updates), ids)

    @property
    def config(self) -> dict:
        """The configuration with every default filled in (EngineConfig::to_json)."""
        return json.loads(self._engine.config_json)

    @property
    def backend(self) -> str:
        """"cpu" or "cuda"."""
        return self._engine.backend

    @property
    def rounds_processed(self) -> int:
        return self._engine.rounds_processed

    @property
    def clients_known(self) -> int:
        """Client ids with a history (those a history rule, e.g. foolsgold, has seen)."""
        return self._engine.clients_known

    def reset_state(self) -> None:
        """Forgets state kept across rounds (call it when the model changes)."""
        self._engine.reset_state()

    def save_state(self, path: Any) -> None:
        """Writes the state kept across rounds (previous aggregate, per-client histories) to a
        versioned file, atomically. Raises fedguard.IoError (an OSError) when it cannot."""
        self._engine.save_state(_path(path, "path"))

    def load_state(self, path: Any) -> None:
        """Replaces the state with a file's. Raises fedguard.IoError (an OSError) for a file
        that cannot be read or is malformed, InvalidInputError (a ValueError) for one written
        with another sketch dimension or seed, or holding histories of the dense sketch that the
        count sketch replaced (state format 1-3: start a new state file)."""
        self._engine.load_state(_path(path, "path"))

    def alert_counts(self) -> dict:
        """Alerts each change-point detector has raised since the state began, by
        "metric/method" (docs/monitoring.md)."""
        return dict(self._engine.alert_counts())

    def prometheus_text(self, result: RoundResult) -> str:
        """The Prometheus text exposition of a round's metrics and the alert counts (what
        ``fedguard round --metrics-prom`` writes)."""
        return self._engine.prometheus_text(result._raw)

    def __repr__(self) -> str:
        return f"fedguard.Engine({self._engine.config_json})"


def aggregate(
    updates: Updates,
    rule: str = "mean",
    *,
    num_samples: Weights = None,
    client_ids: Optional[Sequence[Any]] = None,
    reference: Optional[npt.ArrayLike] = None,
    **params: Any,
) -> Any:
    """One round through a single aggregation rule; returns only the aggregate (numpy, or
    torch for torch input). ``params`` are the rule's parameters, e.g.
    ``aggregate(x, "trimmed_mean", trim=2)`` or ``aggregate(x, "multi_krum", f=3, m=5)``."""
    if not isinstance(rule, str):
        raise _core.InvalidInputError(f"rule must be a rule name (str), got {type(rule).__name__}")
    engine = Engine({"aggregator": {"rule": rule, **params}})
    return engine.process_round(updates, client_ids, num_samples, reference).aggregate


def attack(
    name: str,
    benign: npt.ArrayLike,
    n_malicious: int,
    own: Optional[npt.ArrayLike] = None,
    global_model: Optional[npt.ArrayLike] = None,
    seed: int = 0,
    round: int = 0,  # noqa: A002 (the C++ field's name)
    *,
    n_total: Optional[int] = None,
    **params: Any,
) -> Tuple[npt.NDArray[np.float32], Dict[str, Any]]:
    """Crafts the malicious updates of one round with an attack of the library (docs/attacks.md;
    names in ``attack_names()``).

    Args:
        name: the attack, e.g. "alie", "min_max", "fang_krum".
        benign: (n_benign, d) array of the round's benign updates (converted to float32).
        n_malicious: how many malicious updates to craft (f).
        own: (n_malicious, d) array, each malicious client's own update (scaling, sign_flip).
        global_model: (d,) array, the current global model (mpaf, fang_trim in model space).
        seed, round: every random draw is a function of these (same inputs, same output).
        n_total: clients in the round; default n_benign + n_malicious.
        **params: the attack's parameters, e.g. ``attack("ipm", x, 3, epsilon=100)``; unknown
            ones raise InvalidInputError.

    Returns:
        (updates, info): float32 numpy (n_malicious, d), and a dict of what the attack chose
        (e.g. {"z": 0.25} for alie, {"gamma": ...} for min_max).
    """
    if not isinstance(name, str):
        raise _core.InvalidInputError(f"name must be an attack name (str, see attack_names()), got {type(name).__name__}")
    n_malicious = _count(n_malicious, "n_malicious")
    if n_malicious is None:
        raise _core.InvalidInputError("n_malicious must be a non-negative integer, got None")
    seed, round = _count(seed, "seed"), _count(round, "round")
    n_total = _count(n_total, "n_total")
    x = np.ascontiguousarray(np.asarray(benign, dtype=np.float32))
    o = None if own is None else np.ascontiguousarray(np.asarray(own, dtype=np.float32))
    g = None if global_model is None else np.ascontiguousarray(np.asarray(global_model, dtype=np.float32))
    updates, info = _core.craft_attack(
        name, x, n_malicious, o, g, seed or 0, round or 0, n_total or 0, _dumps(params, "attack parameters")
    )
    return updates, json.loads(info)


def attack_names() -> List[str]:
    """The attack names ``attack`` knows, sorted."""
    return list(_core.attack_names())


def describe_updates(updates: Updates, expected_length: Optional[int] = None) -> Dict[str, Any]:
    """How fedguard sees ``updates`` without running a round: n, d, dtype, device, whether it
    is one block (and its row stride), whether anything was copied, and each row's address,
    length and dtype. Useful to check that an input is used in place."""
    return _core.describe_updates(_clients_from_mappings(updates), _count(expected_length, "expected_length"))
