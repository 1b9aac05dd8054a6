"""fedguard.flower.FedGuard with real Flower 1.42 objects: Messages, ArrayRecords,
MetricRecords, the base strategies, Strategy.start() driving rounds through a Grid, and a short
Ray simulation (flwr[simulation]) in a child process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

flwr = pytest.importorskip("flwr", reason="Flower is not installed (pip install 'flwr[simulation]>=1.42,<1.43')")

from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MessageType, MetricRecord, RecordDict  # noqa: E402
from flwr.serverapp import Grid  # noqa: E402
from flwr.serverapp.strategy import FedAvg, MultiKrum  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fedguard.flower import FedGuard, _policy_summary  # noqa: E402



@pytest.fixture(autouse=True)
def server_task_identity():
    """What a ServerApp process has set when a strategy runs (Messages read it)."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


SHAPES = {"conv.weight": (4, 3), "conv.bias": (4,), "bn.num_batches_tracked": ()}


def model(rng, scale=1.0, shift=0.0):
    arrays = {}
    for key, shape in SHAPES.items():
        if key.endswith("num_batches_tracked"):
            arrays[key] = np.array(7, dtype=np.int64)
        else:
            arrays[key] = (shift + scale * rng.normal(size=shape)).astype(np.float32)
    return arrays


def to_record(arrays):
    return ArrayRecord({k: Array(np.asarray(v)) for k, v in arrays.items()})


def flat(record):
    return np.concatenate([a.numpy().astype(np.float64).ravel() for a in record.values()])


def reply(node_id, arrays, num_examples=10, extra=None):
    instruction = Message(RecordDict({"config": ConfigRecord()}), dst_node_id=node_id, message_type=MessageType.TRAIN)
    metrics = {"num-examples": num_examples, **(extra or {})}
    return Message(RecordDict({"arrays": to_record(arrays), "metrics": MetricRecord(metrics)}), reply_to=instruction)


def honest_and_attackers(n_honest=8, n_attackers=2, seed=0):
    rng = np.random.default_rng(seed)
    center = model(rng)
    replies, attackers = [], []
    for i in range(n_honest + n_attackers):
        node = 1000 + i
        if i < n_honest:
            arrays = {k: (v + 0.05 * rng.normal(size=v.shape)).astype(v.dtype) if v.dtype.kind == "f" else v
                      for k, v in center.items()}
        else:
            arrays = {k: (-30 * v).astype(v.dtype) if v.dtype.kind == "f" else v for k, v in center.items()}
            attackers.append(node)
        replies.append(reply(node, arrays, extra={"malicious": int(i >= n_honest)}))
    return replies, attackers


def test_rejects_attackers_and_reports_them_in_the_metrics():
    replies, attackers = honest_and_attackers()
    strategy = FedGuard({"aggregator": {"rule": "multi_krum", "f": 2}}, report_scores=True)
    arrays, metrics = strategy.aggregate_train(1, replies)
    assert isinstance(arrays, ArrayRecord) and isinstance(metrics, MetricRecord)
    assert list(arrays.keys()) == list(SHAPES)
    assert [tuple(a.shape) for a in arrays.values()] == list(SHAPES.values())
    assert arrays["bn.num_batches_tracked"].numpy().dtype == np.int64
    assert int(arrays["bn.num_batches_tracked"].numpy()) == 7
    assert metrics["fedguard.rejected"] == attackers
    assert metrics["fedguard.accepted"] == [1000 + i for i in range(8)]
    assert metrics["fedguard.num-rejected"] == 2 and metrics["fedguard.num-accepted"] == 8
    assert metrics["fedguard.rejected.multi_krum"] == attackers
    assert len(metrics["fedguard.score.multi_krum"]) == 10 and len(metrics["fedguard.weights"]) == 10
    assert metrics["malicious"] == 0.0  # the base strategy's metric average, over the accepted only
    entry = strategy.history[-1]
    assert entry["round"] == 1 and entry["rejected"] == attackers
    assert entry["reasons"][attackers[0]].startswith("multi_krum: not among the m=8 lowest scores")
    # the aggregate is the uniform mean of the accepted replies
    accepted = np.stack([flat(r.content["arrays"]) for r in replies[:8]])
    np.testing.assert_allclose(flat(arrays)[:-1], accepted.mean(axis=0)[:-1], rtol=1e-5, atol=1e-6)


def test_same_selection_and_aggregate_as_flowers_own_multikrum():
    replies, _ = honest_and_attackers(n_honest=9, n_attackers=3, seed=4)
    theirs, _ = MultiKrum(num_malicious_nodes=3, num_nodes_to_select=7).aggregate_train(1, replies)
    ours, _ = FedGuard({"aggregator": {"rule": "multi_krum", "f": 3, "m": 7}}).aggregate_train(1, replies)
    # Flower's MultiKrum: n - f - 2 neighbours, as fedguard; equal num-examples make its weighted
    # average uniform, as fedguard's.
    for key in ["conv.weight", "conv.bias"]:
        np.testing.assert_allclose(ours[key].numpy(), theirs[key].numpy(), rtol=1e-5, atol=1e-6)


def test_malformed_replies_and_failures():
    replies, attackers = honest_and_attackers()
    rng = np.random.default_rng(1)
    odd = model(rng)
    odd["conv.bias"] = np.zeros(5, np.float32)  # wrong shape
    replies.append(reply(2000, odd))
    instruction = Message(RecordDict({"config": ConfigRecord()}), dst_node_id=3000, message_type=MessageType.TRAIN)
    replies.append(Message(Error(code=1, reason="client crashed"), reply_to=instruction))
    strategy = FedGuard({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "median"}},
                        report_scores=True)
    arrays, metrics = strategy.aggregate_train(2, replies)
    assert arrays is not None
    assert 3000 not in metrics["fedguard.clients"]  # failures are not clients of the round
    assert metrics["fedguard.rejected.wrong_structure"] == [2000]
    assert metrics["fedguard.rejected.norm_bound"] == attackers
    assert np.isnan(metrics["fedguard.score.norm_bound"][-1])  # never reached the engine


def test_per_client_scores_only_when_asked_history_always():
    replies, attackers = honest_and_attackers()
    strategy = FedGuard({"aggregator": {"rule": "multi_krum", "f": 2}})
    _, metrics = strategy.aggregate_train(1, replies)
    assert not [k for k in metrics if k.startswith("fedguard.score.")] and "fedguard.weights" not in metrics
    assert metrics["fedguard.rejected"] == attackers
    entry = strategy.history[-1]
    assert len(entry["scores"]["multi_krum"]) == 10 and len(entry["weights"]) == 10


def test_summary_names_the_policy_in_one_short_line():
    strategy = FedGuard({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "median"}})
    assert _policy_summary(strategy.engine.config) == "filters norm_bound; aggregator median"
    preset = FedGuard({"preset": "recommended", "f": 2})
    assert _policy_summary(preset.engine.config) == "preset recommended, f=2"
    detect = FedGuard({"detection": True, "transforms": [{"rule": "norm_clip", "max_norm": 1.0}]})
    assert _policy_summary(detect.engine.config) == "detection; transforms norm_clip; aggregator mean"


def test_clients_labelled_by_a_reported_metric():
    replies, attackers = honest_and_attackers()
    # each client reports its partition id; the attackers are partitions 8 and 9
    for i, m in enumerate(replies):
        m.content["metrics"]["partition-id"] = i
    strategy = FedGuard({"aggregator": {"rule": "multi_krum", "f": 2}}, client_id_key="partition-id")
    _, metrics = strategy.aggregate_train(1, replies)
    assert metrics["fedguard.clients"] == list(range(10))
    assert metrics["fedguard.rejected"] == [8, 9] and metrics["fedguard.rejected.multi_krum"] == [8, 9]
    entry = strategy.history[-1]
    assert sorted(entry["reasons"]) == [8, 9] and entry["node_ids"][8] == attackers[0]
    assert [r["id"] for r in entry["rejections"]] == [8, 9]
    # a reply without the metric keeps its node id
    del replies[0].content["metrics"]["partition-id"]
    _, metrics = strategy.aggregate_train(2, replies)
    assert metrics["fedguard.clients"][0] == 1000 and metrics["fedguard.clients"][1:] == list(range(1, 10))
    with pytest.raises(ValueError, match="client_id_key"):
        FedGuard(client_id_key="")


def test_engine_errors_skip_the_round_or_raise():
    replies, _ = honest_and_attackers(n_honest=4, n_attackers=0)
    strategy = FedGuard({"aggregator": {"rule": "krum", "f": 3}})
    arrays, metrics = strategy.aggregate_train(1, replies)
    assert arrays is None and metrics["fedguard.num-accepted"] == 0
    assert strategy.history[-1]["error"].startswith("InvalidInputError: krum with f=3 needs n > 2f+2 = 8 clients")
    with pytest.raises(ValueError, match="krum with f=3 needs"):
        FedGuard({"aggregator": {"rule": "krum", "f": 3}}, on_error="raise").aggregate_train(1, replies)


class LocalGrid(Grid):
    """A Grid that runs each node's train function in this process (no SuperLink, no Ray):
    Strategy.start() drives real Flower Messages through it."""

    def __init__(self, train_fns):
        self.train_fns = train_fns  # node id -> f(arrays: ArrayRecord, round) -> (dict arrays, metrics)

    def set_run(self, run):
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self):
        return list(self.train_fns)

    def push_messages(self, messages):
        raise NotImplementedError

    def pull_messages(self, message_ids):
        raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):
        out = []
        for m in messages:
            if m.metadata.message_type != MessageType.TRAIN:
                continue
            arrays, metrics = self.train_fns[m.metadata.dst_node_id](
                m.content["arrays"], int(m.content["config"]["server-round"]))
            out.append(Message(RecordDict({"arrays": to_record(arrays), "metrics": MetricRecord(metrics)}),
                               reply_to=m))
        return out


def test_strategy_start_over_rounds_keeps_engine_state():
    """Five rounds of Strategy.start(): clients step towards a target; two attackers send the
    global model plus a huge sign-flipped step. Centred clipping around the previous aggregate
    (state kept by the engine across rounds) with a norm filter gets to the target."""
    rng = np.random.default_rng(7)
    target = {"w": rng.normal(size=(5, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}

    def honest(seed):
        noise = np.random.default_rng(seed)

        def train(record, server_round):
            current = {k: a.numpy() for k, a in record.items()}
            new = {k: (v + 0.5 * (target[k] - v) + 0.01 * noise.normal(size=v.shape)).astype(np.float32)
                   for k, v in current.items()}
            return new, {"num-examples": 20, "malicious": 0}

        return train

    def attacker(record, server_round):
        current = {k: a.numpy() for k, a in record.items()}
        return {k: (v - 50 * (target[k] - v) - 10).astype(np.float32) for k, v in current.items()}, \
            {"num-examples": 20, "malicious": 1}

    nodes = {10 + i: honest(i) for i in range(8)}
    nodes.update({90: attacker, 91: attacker})
    strategy = FedGuard({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}],
                         "aggregator": {"rule": "centered_clipping", "tau": 5.0, "iterations": 3}},
                        base=FedAvg(fraction_evaluate=0.0, min_available_nodes=10, min_train_nodes=10))
    initial = to_record({"w": np.zeros((5, 4), np.float32), "b": np.zeros(4, np.float32)})
    result = strategy.start(grid=LocalGrid(nodes), initial_arrays=initial, num_rounds=5)
    assert strategy.engine.rounds_processed == 5
    for server_round in range(1, 6):
        metrics = result.train_metrics_clientapp[server_round]
        assert sorted(metrics["fedguard.rejected"]) == [90, 91]
        assert metrics["malicious"] == 0.0  # the metric average over the accepted clients only
    final = flat(result.arrays)
    goal = np.concatenate([target["w"].ravel(), target["b"].ravel()])
    assert np.linalg.norm(final - goal) < 0.1 * np.linalg.norm(goal)
    # Plain FedAvg on the same clients is dragged away by the attackers.
    fedavg = FedAvg(fraction_evaluate=0.0, min_available_nodes=10, min_train_nodes=10)
    plain = fedavg.start(grid=LocalGrid(nodes), initial_arrays=initial, num_rounds=5)
    assert np.linalg.norm(flat(plain.arrays) - goal) > 10 * np.linalg.norm(final - goal)


@pytest.mark.simulation
def test_flower_simulation_with_ray(tmp_path):
    pytest.importorskip("ray", reason="Flower's simulation engine needs ray (pip install 'flwr[simulation]')")
    script = Path(__file__).with_name("flower_sim_app.py")
    out = tmp_path / "result.json"
    env = {**os.environ, "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "RAY_DISABLE_USAGE_STATS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=540, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert len(result["rounds"]) == 3
    for entry in result["rounds"]:
        assert entry["num_rejected"] == 1 and entry["malicious_among_accepted"] == 0.0
        assert entry["rejected_reason_codes"] == ["norm_bound"]
    assert result["distance_to_truth"] < 0.2 * result["norm_of_truth"]


def test_records_an_update_log_with_ground_truth(tmp_path):
    from fedguard.update_log import read_manifest, read_round

    replies, attackers = honest_and_attackers(n_honest=6, n_attackers=2, seed=3)
    strategy = FedGuard({"aggregator": {"rule": "median"}}, record_dir=str(tmp_path / "log"),
                        record_ground_truth_key="malicious")
    for server_round in (1, 2):
        strategy.aggregate_train(server_round, replies)
    manifest = read_manifest(str(tmp_path / "log"))
    assert [r["round"] for r in manifest["rounds"]] == [1, 2]
    r = read_round(str(tmp_path / "log" / manifest["rounds"][0]["file"]))
    expected = np.stack([flat(m.content["arrays"]) for m in replies]).astype(np.float32)
    np.testing.assert_array_equal(r["updates"], expected)  # no global model yet: updates as sent
    assert r["client_ids"] == [str(1000 + i) for i in range(8)]
    assert r["num_samples"] == [10.0] * 8
    assert sorted(r["malicious"]) == [str(a) for a in attackers]
    assert r["layers"] == [[k, int(np.prod(s))] for k, s in SHAPES.items()]


class SignedGrid(LocalGrid):
    """LocalGrid whose nodes run a ClientApp mod chain: fedguard.flower.signing_mod where the
    node has a key, and an optional tamper step after signing (a man in the middle)."""

    def __init__(self, train_fns, mods, tamper=()):
        super().__init__(train_fns)
        self.mods, self.tamper = mods, set(tamper)

    def send_and_receive(self, messages, *, timeout=None):
        out = []
        for m in messages:
            if m.metadata.message_type != MessageType.TRAIN:
                continue
            node = m.metadata.dst_node_id

            def call_next(msg, context, node=node):
                arrays, metrics = self.train_fns[node](msg.content["arrays"], int(msg.content["config"]["server-round"]))
                return Message(RecordDict({"arrays": to_record(arrays), "metrics": MetricRecord(metrics)}), reply_to=msg)

            r = self.mods[node](m, None, call_next) if node in self.mods else call_next(m, None)
            if node in self.tamper:
                arrays = {k: a.numpy().copy() for k, a in r.content["arrays"].items()}
                arrays["w"].flat[3] = np.nextafter(arrays["w"].flat[3], np.float32(1e9))
                r.content["arrays"] = to_record(arrays)
            out.append(r)
        return out


def test_signed_replies_verified_by_the_strategy(tmp_path):
    from fedguard import identity
    from fedguard.flower import signing_mod

    rng = np.random.default_rng(2)
    target = {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}

    def honest(record, server_round):
        current = {k: a.numpy() for k, a in record.items()}
        return {k: (v + 0.5 * (target[k] - v)).astype(np.float32) for k, v in current.items()}, {"num-examples": 5}

    nodes = {10 + i: honest for i in range(6)}
    registry = identity.Registry("flower-test")
    mods = {}
    for node in list(nodes)[:5]:  # node 15 has no key: it sends unsigned replies
        sk, pk = identity.generate_key_pair()
        registry.add(f"site-{node}", pk)
        mods[node] = signing_mod(sk, f"site-{node}")
    registry.save(str(tmp_path / "R.json"))
    strategy = FedGuard({"aggregator": {"rule": "mean"}}, registry=str(tmp_path / "R.json"),
                        base=FedAvg(fraction_evaluate=0.0, min_available_nodes=6, min_train_nodes=6))
    initial = to_record({"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float32)})
    result = strategy.start(grid=SignedGrid(nodes, mods, tamper={14}), initial_arrays=initial, num_rounds=3)
    for server_round in (1, 2, 3):
        metrics = result.train_metrics_clientapp[server_round]
        assert sorted(metrics["fedguard.accepted"]) == [10, 11, 12, 13]
        assert metrics["fedguard.rejected.bad_signature"] == [14]
        assert metrics["fedguard.rejected.unknown_client"] == [15]
        assert strategy.history[server_round - 1]["client_ids"][10] == "site-10"
    assert len({n.hex() for n in strategy._nonces.values()}) == 1  # one live nonce, the last round's
    final = flat(result.arrays)
    goal = np.concatenate([target["w"].ravel(), target["b"].ravel()])
    np.testing.assert_allclose(final, goal * (1 - 0.5 ** 3), rtol=1e-5, atol=1e-6)
def test_monitoring_alerts_in_the_metrics_and_the_endpoint():
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed (bootstrap installs it)")
    import urllib.request

    config = {"aggregator": {"rule": "mean"},
              "monitoring": {"detectors": [{"metric": "norm_q50", "method": "cusum", "direction": "up",
                                            "warmup": 6}]}}
    strategy = FedGuard(config, monitoring_port=0, monitoring_address="127.0.0.1")
    try:
        rng = np.random.default_rng(3)
        for server_round in range(1, 10):
            scale = 1.0 if server_round < 8 else 6.0  # every client's update grows at round 8
            center = model(rng, scale=scale)
            replies = [reply(2000 + i, {k: (v + 0.05 * scale * rng.normal(size=v.shape)).astype(v.dtype)
                                        if v.dtype.kind == "f" else v for k, v in center.items()})
                       for i in range(6)]
            _, metrics = strategy.aggregate_train(server_round, replies)
            assert metrics["fedguard.metric.clients"] == 6.0
            if server_round < 8:
                assert metrics["fedguard.num-alerts"] == 0
        alerted = [e["round"] for e in strategy.history if e["alerts"]]
        assert alerted and alerted[0] == 8
        assert strategy.history[7]["alerts"][0]["metric"] == "norm_q50"
        with urllib.request.urlopen(f"http://127.0.0.1:{strategy.monitoring.port}/metrics", timeout=5) as f:
            text = f.read().decode()
        assert "fedguard_norm_q50 " in text and 'fedguard_alerts_total{method="cusum",metric="norm_q50"}' in text
    finally:
        strategy.monitoring.close()
