"""fedguard inside a Flower ServerApp: a strategy for Flower 1.42's Message API
(``flwr.serverapp.strategy.Strategy``).

    from flwr.serverapp.strategy import FedAvg
    from fedguard.flower import FedGuard

    strategy = FedGuard({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}],
                         "aggregator": {"rule": "multi_krum", "f": 2}},
                        base=FedAvg(fraction_evaluate=0.0))
    result = strategy.start(grid=grid, initial_arrays=arrays, num_rounds=5)

The base strategy (FedAvg by default) samples and configures the clients, runs federated
evaluation and aggregates the metrics; FedGuard replaces its array aggregation: each reply's
arrays are flattened in the global model's key order, turned into an update (reply minus the
global model that configure_train sent), run through fedguard's engine, and the aggregate update
is added back to the global model. The round's metrics report who was accepted and rejected,
why (by reason code) and every rule's scores; the full reason texts are in ``history``.

Client verification (docs/verification.md): with ``registry=``, FedGuard issues a fresh nonce
in every train instruction's config (``fedguard.round``, ``fedguard.nonce``,
``fedguard.federation``) and the engine verifies each reply's signature before detection.
Clients add ``signing_mod(private_key, client_id)`` to their ClientApp's mods: it signs the
update the server will compute (the reply's arrays flattened in key order as float32, minus the
global model the instruction carried) and puts ``client-id`` and ``signature`` in the reply's
ConfigRecord ``fedguard``::

    app = ClientApp(mods=[signing_mod(private_key, "site-07")])
"""

from __future__ import annotations

from collections import Counter
from logging import INFO, WARNING
from typing import Any, Iterable, Optional

import numpy as np

try:
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
    from flwr.serverapp import Grid
    from flwr.serverapp.strategy import FedAvg, Strategy
    from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords
    from flwr.supercore import log
except ImportError as exc:  # pragma: no cover - exercised only without flwr
    raise ImportError(
        "fedguard.flower needs Flower 1.42: pip install 'flwr>=1.42,<1.43' "
        "(or, in a fedguard checkout, pip install '.[flower]')"
    ) from exc

from . import identity
from ._api import Engine, RoundResult

__all__ = ["FedGuard", "signing_mod"]

# Keys of the train instruction's config and of the reply's ConfigRecord (docs/verification.md).
ROUND_KEY, NONCE_KEY, FEDERATION_KEY = "fedguard.round", "fedguard.nonce", "fedguard.federation"
REPLY_RECORD, ID_KEY, SIGNATURE_KEY = "fedguard", "client-id", "signature"

# (key, shape) of every array of a model, in order.
Structure = tuple


def _structure(record: ArrayRecord) -> Structure:
    return tuple((key, tuple(array.shape)) for key, array in record.items())


def _flatten_into(row: np.ndarray, record: ArrayRecord) -> None:
    offset = 0
    for array in record.values():
        values = array.numpy().reshape(-1)
        row[offset : offset + values.size] = values  # cast to float32
        offset += values.size


def _single_array_record(content: RecordDict, key: str = "arrays") -> Optional[ArrayRecord]:
    records = content.array_records
    if key in records:
        return records[key]
    return next(iter(records.values())) if len(records) == 1 else None


def _update_vector(reply_arrays: ArrayRecord, global_arrays: Optional[ArrayRecord]) -> np.ndarray:
    """The float32 update the server's engine will see: the reply's arrays flattened in key
    order, minus the global model's (the same operations as FedGuard.aggregate_train, so the
    bytes are identical)."""
    d = sum(int(np.prod(a.shape)) for a in reply_arrays.values())
    row = np.empty(d, dtype=np.float32)
    _flatten_into(row, reply_arrays)
    if global_arrays is not None:
        base = np.empty(d, dtype=np.float32)
        _flatten_into(base, global_arrays)
        row -= base
    return row


def signing_mod(private_key: bytes, client_id: str):
    """A ClientApp mod that signs train replies for a FedGuard server with a registry.

    The signed update is the one the server computes (reply arrays minus the instruction's
    global model, float32, in key order); round, nonce and federation come from the
    instruction's config. Instructions without a nonce pass through unsigned.
    """
    private_key = bytes(private_key)
    client_id = str(client_id)

    def mod(msg: Message, context: Any, call_next) -> Message:
        reply = call_next(msg, context)
        if msg.metadata.message_type != MessageType.TRAIN or reply.has_error():
            return reply
        config = msg.content.config_records.get("config")
        if config is None or NONCE_KEY not in config:
            return reply
        arrays = _single_array_record(reply.content)
        if arrays is None:
            return reply
        update = _update_vector(arrays, _single_array_record(msg.content))
        signature = identity.sign_update(private_key, str(config[FEDERATION_KEY]), client_id,
                                         int(config[ROUND_KEY]), identity.nonce_from_hex(str(config[NONCE_KEY])),
                                         update)
        reply.content[REPLY_RECORD] = ConfigRecord({ID_KEY: client_id, SIGNATURE_KEY: identity.b64encode(signature)})
        return reply

    return mod


def _policy_summary(config: dict) -> str:
    """The policy in one short line: detection, filters, transforms and the aggregator by rule."""
    if "preset" in config:  # resolved per round (f from the round's size)
        return f"preset {config['preset']}" + (f", f={config['f']}" if "f" in config else "")
    parts = []
    if config.get("detection", {}).get("enabled"):
        parts.append("detection")
    for key in ("filters", "transforms"):
        rules = [str(r.get("rule")) for r in config.get(key, [])]
        if rules:
            parts.append(f"{key} " + ", ".join(rules))
    parts.append("aggregator " + str(config.get("aggregator", {}).get("rule")))
    return "; ".join(parts)


class FedGuard(Strategy):
    """A Flower strategy whose array aggregation is fedguard's engine.

    Args:
        config: the engine's policy (dict or JSON text, docs/config.md); ignored if ``engine``
            is given.
        base: the strategy that samples, configures, evaluates and aggregates metrics
            (default ``FedAvg()``). Its own array aggregation is not used, so server-side
            optimisers (FedAdam, FedAvgM, ...) lose their server step.
        engine: an existing ``fedguard.Engine`` (its state across rounds is kept).
        on_error: what to do when the engine fails a round (e.g. too few clients left for
            Krum): "skip" logs it, records it in ``history`` and keeps the global model
            (``aggregate_train`` returns ``(None, None)``); "raise" re-raises.
        record_dir: when set, every round's updates (as handed to the engine) are written to
            this directory as an update log (``fedguard.update_log``, docs/forensics.md) for
            ``fedguard scan``. Opt-in; off by default.
        record_ground_truth_key: with ``record_dir``, a metric key that simulated clients set
            to a true value when they are malicious; such clients are recorded as ground truth.
        registry: turns client verification on (docs/verification.md): an
            ``identity.Registry``, its JSON text or a file path. Every train instruction then
            carries a fresh nonce, and replies must be signed (``signing_mod``); the engine's
            client ids are the ids the replies claim (bound to their keys by the signature).
        monitoring_port: when set, a Prometheus endpoint (``fedguard.monitoring.serve``,
            needs ``prometheus_client``) serves the last round's metrics on
            ``monitoring_address:monitoring_port`` (0: a free port, see ``self.monitoring.port``).
            Opt-in; off by default. The round's monitoring metrics and alerts are in the
            returned metrics (``fedguard.metric.<name>``, ``fedguard.num-alerts``,
            ``fedguard.alert.<metric>.<method>`` = the statistic) and the log
            either way.
        client_id_key: a key of the replies' MetricRecord (e.g. "partition-id") whose value
            labels each client instead of its Flower node id: in the engine's client ids, the
            metrics' id lists, ``history`` and the log. A reply without it keeps its node id
            (a warning is logged). Not used with ``registry`` (the signed ids label clients).
        report_scores: also put the per-client lists ``fedguard.score.<rule>`` and
            ``fedguard.weights`` in the round's metrics (Flower logs the metrics: at 100+
            clients these lists flood the log). Off by default; ``history`` has them always.

    Attributes:
        engine: the fedguard.Engine, alive across rounds (centred clipping's history).
        base: the base strategy.
        global_arrays: the global model that the last configure_train sent; updates are taken
            relative to it. When it is None (aggregate_train called without configure_train),
            the replies' arrays are aggregated as they are.
        history: one dict per aggregate_train call: ``round``, ``clients`` (node ids, in reply
            order), ``accepted`` and ``rejected`` (node ids), ``reasons`` (node id -> text),
            ``codes`` (node id -> reason code, docs/result.md), ``rejections`` (the engine's
            structured rejections with node ids),
            ``scores`` (rule -> list aligned with ``clients``), ``weights``, ``timings_ms``,
            ``metrics`` and ``alerts`` (monitoring, docs/monitoring.md), and ``error`` (text, when the round failed).
    """

    def __init__(
        self,
        config: Any = None,
        base: Optional[Strategy] = None,
        *,
        engine: Optional[Engine] = None,
        on_error: str = "skip",
        record_dir: Optional[str] = None,
        record_ground_truth_key: Optional[str] = None,
        registry: Any = None,
        monitoring_port: Optional[int] = None,
        monitoring_address: str = "127.0.0.1",
        client_id_key: Optional[str] = None,
        report_scores: bool = False,
    ) -> None:
        if on_error not in ("skip", "raise"):
            raise ValueError(f'on_error must be "skip" or "raise", got {on_error!r}')
        if client_id_key is not None and (not isinstance(client_id_key, str) or not client_id_key):
            raise ValueError(f"client_id_key must be a metric key (a non-empty str), got {client_id_key!r}")
        self.client_id_key = client_id_key
        self.report_scores = bool(report_scores)
        self.base = base if base is not None else FedAvg()
        self.engine = engine if engine is not None else Engine(config)
        self.on_error = on_error
        self.weighted_by_key = getattr(self.base, "weighted_by_key", "num-examples")
        self.arrayrecord_key = getattr(self.base, "arrayrecord_key", "arrays")
        self.global_arrays: Optional[ArrayRecord] = None
        self.history: list = []
        self._last_d: Optional[int] = None
        self.recorder = None
        self.record_ground_truth_key = record_ground_truth_key
        self.registry: Optional[identity.Registry] = None
        self._nonces: dict = {}
        if registry is not None:
            if isinstance(registry, identity.Registry):
                self.registry = registry
            elif str(registry).lstrip().startswith("{"):
                self.registry = identity.Registry.from_json(str(registry))
            else:
                self.registry = identity.Registry.load(str(registry))
            self.engine.set_registry(self.registry)
        self.monitoring = None
        if monitoring_port is not None:
            from .monitoring import serve

            self.monitoring = serve(monitoring_port, monitoring_address)
        if record_dir is not None:
            from .update_log import UpdateLogWriter

            self.recorder = UpdateLogWriter(record_dir, info={"writer": "fedguard.flower.FedGuard",
                                                              "policy": self.engine.config})

    # --- delegated to the base strategy -----------------------------------------------------

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.global_arrays = arrays
        if self.registry is not None:
            # A fresh nonce per round, sent with the instruction; the reply must be signed for it.
            nonce = identity.new_nonce()
            self._nonces = {server_round: nonce}
            config = ConfigRecord(dict(config))
            config[ROUND_KEY] = int(server_round)
            config[NONCE_KEY] = nonce.hex()
            config[FEDERATION_KEY] = self.registry.federation
        return self.base.configure_train(server_round, arrays, config, grid)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.base.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> Optional[MetricRecord]:
        return self.base.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        log(INFO, "\t├──> fedguard policy: %s (in full: strategy.engine.config)", _policy_summary(self.engine.config))
        log(INFO, "\t├──> base strategy: %s", type(self.base).__name__)
        self.base.summary()

    # --- fedguard's aggregation -------------------------------------------------------------

    def _array_record(self, message: Message) -> Optional[ArrayRecord]:
        records = message.content.array_records
        if self.arrayrecord_key in records:
            return records[self.arrayrecord_key]
        return next(iter(records.values())) if len(records) == 1 else None

    def _label(self, message: Message) -> Any:
        """The client's label: its ``client_id_key`` metric (an int where integral) or its node id."""
        node = int(message.metadata.src_node_id)
        if self.client_id_key is None or self.registry is not None:
            return node
        for record in message.content.metric_records.values():
            value = record.get(self.client_id_key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(value) if float(value).is_integer() else float(value)
        log(WARNING, "fedguard: node %s reported no metric %r: labelled by its node id", node, self.client_id_key)
        return node

    def _num_samples(self, message: Message) -> Optional[float]:
        for record in message.content.metric_records.values():
            value = record.get(self.weighted_by_key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[Optional[ArrayRecord], Optional[MetricRecord]]:
        replies = list(replies)
        valid = [m for m in replies if not m.has_error()]
        log(INFO, "aggregate_train: received %s results and %s failures", len(valid), len(replies) - len(valid))
        if not valid:
            return None, None

        node_ids = [self._label(m) for m in valid]
        records = [self._array_record(m) for m in valid]
        structures = [None if r is None else _structure(r) for r in records]
        if self.global_arrays is not None:
            expected = _structure(self.global_arrays)
        else:
            known = [s for s in structures if s is not None]
            expected = Counter(known).most_common(1)[0][0] if known else None
        # Replies that do not fit the model are rejected here; the rest go to the engine.
        pre_rejected: dict = {}
        rows = []
        for i, structure in enumerate(structures):
            if structure is None:
                pre_rejected[i] = ("malformed_reply", "malformed_reply: expected one ArrayRecord")
            elif structure != expected:
                pre_rejected[i] = ("wrong_structure",
                                   "wrong_structure: the arrays' keys or shapes differ from the global model's")
            else:
                rows.append(i)

        entry: dict = {"round": server_round, "clients": node_ids}
        if self.client_id_key is not None:
            entry["node_ids"] = [int(m.metadata.src_node_id) for m in valid]
        d = sum(int(np.prod(shape)) for _, shape in expected) if expected else 0
        result: Optional[RoundResult] = None
        if rows and d > 0:
            updates = np.empty((len(rows), d), dtype=np.float32)
            for j, i in enumerate(rows):
                _flatten_into(updates[j], records[i])
            base_vector = None
            if self.global_arrays is not None:
                base_vector = np.empty(d, dtype=np.float32)
                _flatten_into(base_vector, self.global_arrays)
                updates -= base_vector
            samples = [self._num_samples(valid[i]) for i in rows]
            num_samples = None if all(s is None for s in samples) else [np.nan if s is None else s for s in samples]
            if self._last_d is not None and self._last_d != d:
                self.engine.reset_state()  # the model changed: history no longer applies
            self._last_d = d
            if self.recorder is not None:
                self._record(server_round, updates, [node_ids[i] for i in rows], num_samples,
                             [valid[i] for i in rows], expected)
            verification = {}
            engine_ids = [node_ids[i] for i in rows]
            if self.registry is not None:
                claimed = [valid[i].content.config_records.get(REPLY_RECORD) for i in rows]
                engine_ids = [str(c[ID_KEY]) if c is not None and ID_KEY in c else f"node-{node_ids[i]}"
                              for c, i in zip(claimed, rows)]
                nonce = self._nonces.get(server_round)
                verification = dict(
                    signatures=[str(c[SIGNATURE_KEY]) if c is not None and SIGNATURE_KEY in c else None
                                for c in claimed],
                    round=server_round,
                    nonce=nonce if nonce is not None else bytes(32),  # no instruction sent: the round fails
                )
                entry["client_ids"] = dict(zip([node_ids[i] for i in rows], engine_ids))
            try:
                result = self.engine.process_round(
                    updates, client_ids=engine_ids, num_samples=num_samples, **verification
                )
            except Exception as exc:  # the engine's errors say what is wrong with the round
                if self.on_error == "raise":
                    raise
                entry["error"] = f"{type(exc).__name__}: {exc}"
        else:
            entry["error"] = "no reply fits the global model"

        # Per-client report over every valid reply.
        n = len(valid)
        accepted = np.zeros(n, dtype=bool)
        weights = np.zeros(n)
        reasons = {node_ids[i]: text for i, (_, text) in pre_rejected.items()}
        # Reason codes as data (docs/result.md), never parsed back from the texts.
        codes = {node_ids[i]: code for i, (code, _) in pre_rejected.items()}
        # The metrics group rejections by the code, or by the rule for a policy rule's own
        # rejection (codes filter / not_selected): "fedguard.rejected.multi_krum", as before.
        groups = dict(codes)
        rejections = [{"id": node_ids[i], "code": code, "stage": "flower", "rule": "", "detail": text, "values": {}}
                      for i, (code, text) in pre_rejected.items()]
        scores: dict = {}
        if result is not None:
            for j, i in enumerate(rows):
                accepted[i] = bool(result.accepted[j])
                weights[i] = result.weights[j]
            for r in result.rejections:
                i = rows[r["client"]]
                reasons[node_ids[i]] = result.reasons[r["client"]]
                codes[node_ids[i]] = r["code"]
                rule_based = r["code"] in ("filter", "not_selected") and r["rule"]
                groups[node_ids[i]] = r["rule"] if rule_based else r["code"]
                rejections.append(dict(r, id=node_ids[i]))
            for rule, values in result.scores.items():
                full = np.full(n, np.nan)
                full[rows] = values
                scores[rule] = full.tolist()
        else:
            for i in rows:
                reasons[node_ids[i]] = "round_failed: " + entry["error"]
                codes[node_ids[i]] = groups[node_ids[i]] = "round_failed"
        entry.update(
            accepted=[node_ids[i] for i in range(n) if accepted[i]],
            rejected=[node_ids[i] for i in range(n) if not accepted[i]],
            reasons=reasons,
            codes=codes,
            rejections=rejections,
            scores=scores,
            weights=weights.tolist(),
            timings_ms=dict(result.timings_ms) if result is not None else {},
            metrics=dict(result.metrics) if result is not None else {},
            alerts=list(result.alerts) if result is not None else [],
        )
        self.history.append(entry)

        metrics = MetricRecord()
        if result is not None:
            accepted_contents = [valid[i].content for i in range(n) if accepted[i]]
            metrics = self._aggregate_metrics(accepted_contents)
        metrics["fedguard.clients"] = node_ids
        metrics["fedguard.accepted"] = entry["accepted"]
        metrics["fedguard.rejected"] = entry["rejected"]
        metrics["fedguard.num-accepted"] = len(entry["accepted"])
        metrics["fedguard.num-rejected"] = len(entry["rejected"])
        by_code: dict = {}
        for node, group in groups.items():
            by_code.setdefault(group, []).append(node)
        for code, nodes in sorted(by_code.items()):
            metrics[f"fedguard.rejected.{code}"] = nodes
        if self.report_scores:
            for rule, values in scores.items():
                metrics[f"fedguard.score.{rule}"] = values
            metrics["fedguard.weights"] = entry["weights"]
        if result is not None:
            for name, value in result.metrics.items():
                if np.isfinite(value):
                    metrics[f"fedguard.metric.{name}"] = float(value)
            metrics["fedguard.num-alerts"] = len(result.alerts)
            for a in result.alerts:  # MetricRecord holds numbers only: the alert is in the key
                metrics[f"fedguard.alert.{a['metric']}.{a['method']}"] = float(a["statistic"])
                log(WARNING, "fedguard: round %s: alert %s %s %s (statistic %.4g > %.4g, value %.6g)", server_round,
                    a["metric"], a["method"], a["direction"], a["statistic"], a["threshold"], a["value"])
            if self.monitoring is not None:
                self.monitoring.update(result, self.engine)

        if result is None:
            log(WARNING, "fedguard: round %s not aggregated (%s); the global model is kept",
                server_round, entry["error"])
            return None, metrics
        log(INFO, "fedguard: accepted %s of %s clients", len(entry["accepted"]), n)
        for node, text in reasons.items():
            log(INFO, "\t> rejected node %s: %s", node, text)

        aggregate = result.aggregate.astype(np.float64)
        if self.global_arrays is not None:
            aggregate += base_vector
        return self._unflatten(aggregate, records[rows[0]]), metrics

    def _record(self, server_round, updates, ids, num_samples, messages, structure) -> None:
        malicious = None
        if self.record_ground_truth_key is not None:
            malicious = []
            for node, message in zip(ids, messages):
                for record in message.content.metric_records.values():
                    if record.get(self.record_ground_truth_key):
                        malicious.append(str(node))
                        break
        samples = None
        if num_samples is not None and all(np.isfinite(v) for v in num_samples):
            samples = [float(v) for v in num_samples]
        layers = [(name, int(np.prod(shape))) for name, shape in structure] if structure else None
        self.recorder.append(server_round, updates, client_ids=[str(i) for i in ids], num_samples=samples,
                             malicious=malicious, layers=layers)

    def _aggregate_metrics(self, contents: list) -> MetricRecord:
        if not contents:
            return MetricRecord()
        aggregate_fn = getattr(self.base, "train_metrics_aggr_fn", None) or aggregate_metricrecords
        try:
            return aggregate_fn(contents, self.weighted_by_key)
        except Exception as exc:  # e.g. replies without the weighting key
            log(WARNING, "fedguard: could not aggregate the clients' train metrics: %s", exc)
            return MetricRecord()

    def _unflatten(self, flat: np.ndarray, like: ArrayRecord) -> ArrayRecord:
        """The model in ``like``'s keys, shapes and dtypes (integers rounded), from ``flat``."""
        template = self.global_arrays if self.global_arrays is not None else like
        out = {}
        offset = 0
        for key, array in template.items():
            reference = array.numpy()
            values = flat[offset : offset + reference.size].reshape(reference.shape)
            offset += reference.size
            if np.issubdtype(reference.dtype, np.integer):
                values = np.rint(values)
            out[key] = Array(np.array(values, dtype=reference.dtype))  # a C-contiguous copy; 0-d stays 0-d
        return ArrayRecord(out)
