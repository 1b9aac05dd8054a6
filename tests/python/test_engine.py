"""The Python API: configuration, result fields, errors, state across rounds, the GIL."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fedguard
from conftest import make_updates


def test_result_fields_and_types():
    x = make_updates(n=12, d=200, attackers=2)
    engine = fedguard.Engine({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}],
                              "aggregator": {"rule": "median"}})
    r = engine.process_round(x, client_ids=[f"c{i}" for i in range(12)])
    assert (r.n, r.d) == (12, 200)
    assert r.accepted.dtype == np.bool_ and r.accepted.shape == (12,)
    assert r.weights.dtype == np.float64 and r.weights.shape == (12,)
    assert r.linear is False
    assert isinstance(r.aggregate, np.ndarray) and r.aggregate.dtype == np.float32 and r.aggregate.shape == (200,)
    assert list(r.accepted) == [False, False] + [True] * 10
    assert set(r.reasons) == {0, 1} and all(isinstance(k, int) for k in r.reasons)
    assert r.reasons[0].startswith("norm_bound: norm ") and "above 3 x median norm" in r.reasons[0]
    assert set(r.scores) == {"norm", "norm_bound"}
    for values in r.scores.values():
        assert values.dtype == np.float64 and values.shape == (12,)
    assert list(r.timings_ms) == ["validate", "pass1_scan", "decide", "pass2_aggregate", "monitor", "total"]
    assert r.reference_weights == {}
    assert r.client_ids == [f"c{i}" for i in range(12)]
    # median over the accepted rows: the mean of the two middle values in float64
    expected = np.median(x[2:].astype(np.float64), axis=0).astype(np.float32)
    np.testing.assert_array_equal(r.aggregate, expected)
    assert r.noise_sigma == 0.0
    doc = json.loads(r.to_json())
    missing = [key for key in doc if not hasattr(r, key)]
    assert not missing, f"RoundResult.to_json() has fields the Python RoundResult lacks: {missing}"
    assert list(doc)[:5] == ["n", "d", "accepted", "weights", "linear"]
    assert doc["reasons"]["0"] == r.reasons[0]
    assert "fedguard.RoundResult n=12 d=200 accepted=10 rejected=2" in repr(r)


def test_config_forms():
    as_dict = fedguard.Engine({"aggregator": {"rule": "trimmed_mean", "trim": 2}})
    as_text = fedguard.Engine('{"aggregator": {"rule": "trimmed_mean", "trim": 2}}')
    as_bytes = fedguard.Engine(b'{"aggregator": {"rule": "trimmed_mean", "trim": 2}}')
    assert as_dict.config == as_text.config == as_bytes.config
    assert as_dict.config["aggregator"] == {"rule": "trimmed_mean", "trim": 2}
    assert as_dict.config["backend"] == "auto" and as_dict.backend == "cpu"
    assert fedguard.Engine().config["aggregator"] == {"rule": "mean"}
    with pytest.raises(ValueError):  # documented: invalid configurations raise ValueError (issue 17)
        fedguard.Engine(42)


def test_invalid_config_raises_value_error_with_the_cpp_message(cli, tmp_path):
    with pytest.raises(ValueError) as info:
        fedguard.Engine({"foo": 1})
    assert isinstance(info.value, fedguard.InvalidInputError) and isinstance(info.value, fedguard.Error)
    assert str(info.value).startswith('unknown config key "foo" (known: backend, precision, ')
    np.save(tmp_path / "u.npy", make_updates(n=3, d=4))
    (tmp_path / "c.json").write_text('{"foo": 1}')
    done = subprocess.run([cli, "round", "--updates", str(tmp_path / "u.npy"), "--config", str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=60)
    # The CLI's one config reader names the file.
    assert done.returncode == 2 and done.stderr.strip() == f"fedguard: error (invalid input): {tmp_path / 'c.json'}: {info.value}"
    with pytest.raises(ValueError, match="config is not valid JSON"):
        fedguard.Engine("{")


def test_precision_and_combine_mode_stay_strings():
    # Enums in C++ (fedguard::Precision, CombineMode); the same strings in and out of Python.
    engine = fedguard.Engine({"precision": "bf16", "filters": [{"rule": "norm_bound", "max_ratio": 3}],
                              "combine": "vote"})
    assert engine.config["precision"] == "bf16"
    assert engine.config["combine"]["mode"] == "vote"
    assert fedguard.Engine().config["precision"] == "fp32"
    assert fedguard.Engine().config["combine"]["mode"] == "intersect"
    with pytest.raises(ValueError, match=r'^config "precision" must be fp32, tf32 or bf16, got "fp16"$'):
        fedguard.Engine({"precision": "fp16"})
    with pytest.raises(ValueError, match=r'^config "combine.mode" must be "intersect" or "vote", got "union"$'):
        fedguard.Engine({"combine": {"mode": "union"}})


def test_unsupported_backend_raises_not_implemented_error():
    if "cuda" in fedguard.backends_built():
        pytest.skip("this build has a CUDA backend")
    with pytest.raises(NotImplementedError) as info:
        fedguard.Engine({"backend": "cuda"})
    assert isinstance(info.value, fedguard.UnsupportedError) and isinstance(info.value, RuntimeError)
    assert str(info.value).startswith('backend "cuda" requested, but this build has no CUDA backend')
    with pytest.raises(NotImplementedError, match='precision "tf32" is a CUDA backend option'):
        fedguard.Engine({"backend": "cpu", "precision": "tf32"})


def test_round_errors_are_value_errors_with_the_engine_message():
    x = make_updates(n=9, d=20)
    with pytest.raises(ValueError) as info:
        fedguard.Engine({"aggregator": {"rule": "krum", "f": 4}}).process_round(x)
    assert str(info.value) == "krum with f=4 needs n > 2f+2 = 10 clients, got n=9 (9 clients in the round)"
    with pytest.raises(ValueError, match=r"^got 3 client ids for n=9 updates$"):
        fedguard.Engine().process_round(x, client_ids=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"^got 2 num_samples for n=9 updates$"):
        fedguard.Engine().process_round(x, num_samples=[1, 2])
    with pytest.raises(ValueError, match="num_samples must be 1-D"):
        fedguard.Engine().process_round(x, num_samples=np.ones((9, 1)))
    with pytest.raises(ValueError, match=r"^duplicate client id 'a' at indices 0 and 1$"):
        fedguard.Engine({"duplicate_ids": "error"}).process_round(x[:2], client_ids=["a", "a"])


def test_out_of_memory_becomes_memory_error():
    # In a child process allowed 1 GiB of address space beyond what it maps after the imports
    # (a CUDA build maps cuBLAS and friends: over 1 GiB before any work), a Krum round of
    # n = 20000 one-value updates (a zero-stride view: no memory) needs n x n doubles (3.2 GB)
    # and cannot have them.
    code = """
import resource, numpy as np, fedguard
mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
limit = mapped + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
x = np.broadcast_to(np.float32(1), (20000, 1))
try:
    fedguard.Engine({"aggregator": {"rule": "krum", "f": 1}}).process_round(x)
except MemoryError as e:
    print(type(e).__name__, isinstance(e, fedguard.Error), "|", e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OutOfMemoryError True | out of host memory in a round of n=20000, d=1"), out.stdout


def test_num_samples_client_ids_and_input_rejections():
    x = make_updates(n=6, d=50)
    x[3, 7] = np.nan
    r = fedguard.Engine().process_round(x, client_ids=["a", "b", "a", "c", "d", "e"],
                                        num_samples=np.array([1, 2, 3, 4, -1, 4]))
    assert r.reasons == {2: "duplicate_id: same id 'a' as client 0", 3: "non_finite",
                         4: "invalid_num_samples: num_samples -1.000000 is not finite and > 0"}
    np.testing.assert_allclose(r.weights, [1 / 7, 2 / 7, 0, 0, 0, 4 / 7])
    expected = (x[0].astype(np.float64) + 2 * x[1] + 4 * x[5]) / 7
    np.testing.assert_allclose(r.aggregate, expected, rtol=1e-6, atol=1e-7)


def test_centered_clipping_state_survives_rounds_and_reset():
    config = {"aggregator": {"rule": "centered_clipping", "tau": 1.0, "iterations": 2}}
    rounds = [make_updates(n=8, d=40, seed=s, attackers=1) for s in range(3)]
    engine = fedguard.Engine(config)
    results = [engine.process_round(x) for x in rounds]
    assert engine.rounds_processed == 3
    assert all("previous_aggregate" in r.reference_weights for r in results)
    fresh = fedguard.Engine(config).process_round(rounds[2])
    assert not np.array_equal(results[2].aggregate, fresh.aggregate)  # started from round 2's aggregate
    engine.reset_state()
    assert engine.rounds_processed == 0
    np.testing.assert_array_equal(engine.process_round(rounds[2]).aggregate, fresh.aggregate)
    # a failing round changes nothing
    with pytest.raises(ValueError, match="previous aggregate of d=40 but this round has d=10"):
        engine.process_round(make_updates(n=8, d=10))
    assert engine.rounds_processed == 1


def test_state_file_round_trip_and_io_errors(tmp_path):
    config = {"aggregator": {"rule": "centered_clipping", "tau": 1.0, "iterations": 2}}
    rounds = [make_updates(n=8, d=40, seed=s, attackers=1) for s in range(3)]
    first = fedguard.Engine(config)
    for x in rounds[:2]:
        first.process_round(x)
    first.save_state(tmp_path / "state.fgs")
    second = fedguard.Engine(config)
    second.load_state(str(tmp_path / "state.fgs"))
    assert second.rounds_processed == 2
    np.testing.assert_array_equal(second.process_round(rounds[2]).aggregate,
                                  first.process_round(rounds[2]).aggregate)
    with pytest.raises(OSError) as info:
        second.load_state(tmp_path / "missing.fgs")
    assert isinstance(info.value, fedguard.IoError) and "missing.fgs: cannot open for reading" in str(info.value)
    (tmp_path / "junk.fgs").write_bytes(b"not a state file at all")
    with pytest.raises(fedguard.IoError, match="offset 0: not a fedguard state file"):
        second.load_state(tmp_path / "junk.fgs")
    assert second.rounds_processed == 3  # a failed load changes nothing
    with pytest.raises(ValueError, match="written with sketch_dim"):
        fedguard.Engine({**config, "sketch_dim": 64}).load_state(tmp_path / "state.fgs")


def test_aggregate_one_call_form():
    x = make_updates(n=11, d=64, attackers=2)
    s = np.sort(x.astype(np.float64), axis=0)
    np.testing.assert_allclose(fedguard.aggregate(x, "trimmed_mean", trim=2), s[2:-2].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(fedguard.aggregate(x, "median"), s[5].astype(np.float32))
    np.testing.assert_allclose(fedguard.aggregate(x), x.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fedguard.aggregate(x, "mean", num_samples=np.arange(1, 12)),
                               (np.arange(1, 12)[:, None] * x.astype(np.float64)).sum(0) / 66, rtol=1e-5, atol=1e-6)
    krum = fedguard.aggregate(x, "krum", f=2)
    assert any(np.array_equal(krum, row) for row in x[2:])
    with pytest.raises(ValueError, match="trimmed_mean"):
        fedguard.aggregate(x, "trimmed_mean")  # trim is required


def test_reference_for_fltrust():
    x = make_updates(n=8, d=30, attackers=2)
    reference = x[2:].mean(axis=0)
    r = fedguard.Engine({"aggregator": {"rule": "fltrust"}}).process_round(x, reference=reference)
    assert not r.accepted[0] and not r.accepted[1]  # sign-flipped: cosine < 0, no trust
    r16 = fedguard.Engine({"aggregator": {"rule": "fltrust"}}).process_round(x, reference=reference.astype(np.float16))
    r32 = fedguard.Engine({"aggregator": {"rule": "fltrust"}}).process_round(
        x, reference=reference.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(r16.aggregate, r32.aggregate)
    with pytest.raises(ValueError, match="reference has 29 elements but the round's d is 30"):
        fedguard.Engine({"aggregator": {"rule": "fltrust"}}).process_round(x, reference=reference[:29])
    with pytest.raises(ValueError, match="reference: dtype float64 is not supported"):
        fedguard.Engine({"aggregator": {"rule": "fltrust"}}).process_round(x, reference=reference.astype(np.float64))


def test_gil_is_released_during_a_round():
    # Krum on n = 512 (pass 1 forms the 512 x 512 Gram: ~0.3 s on 2 cores); rounds repeat until
    # 0.6 s have passed, so a faster machine still gives long windows.
    x = np.random.default_rng(1).standard_normal((512, 50_000), dtype=np.float32)
    engine = fedguard.Engine({"aggregator": {"rule": "krum", "f": 3}})
    windows = []

    def run():
        begin = time.perf_counter()
        while time.perf_counter() - begin < 0.6:
            start = time.perf_counter()
            engine.process_round(x)
            windows.append((start, time.perf_counter()))

    worker = threading.Thread(target=run)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    inner = [(a + 0.01, b - 0.01) for a, b in windows if b - a > 0.03]
    assert inner, f"rounds too short to measure: {[b - a for a, b in windows]}"
    inside = sum(1 for t in ticks for a, b in inner if a < t < b)
    covered = sum(b - a for a, b in inner)
    # Holding the GIL for the whole call would leave the main thread no tick inside any round;
    # with the GIL released it ticks about every millisecond (fewer on a loaded machine).
    assert inside >= max(5, 0.05 * covered / 0.001), f"{inside} ticks of the main thread in {covered:.2f} s of rounds"


def test_concurrent_rounds_on_one_engine_match_sequential():
    xs = [make_updates(n=10, d=5000, seed=s) for s in range(6)]
    config = {"aggregator": {"rule": "multi_krum", "f": 2}}
    sequential = [fedguard.Engine(config).process_round(x).aggregate for x in xs]
    engine = fedguard.Engine(config)
    out = [None] * len(xs)

    def run(i):
        out[i] = engine.process_round(xs[i]).aggregate

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(out, sequential):
        np.testing.assert_array_equal(a, b)
    assert engine.rounds_processed == len(xs)


def test_module_metadata():
    assert fedguard.__version__ == fedguard.version()
    assert "cpu" in fedguard.backends_built()
    assert {"mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
            "centered_clipping"} <= set(fedguard.rule_names())


def test_recommended_policy():
    policy = fedguard.recommended_policy(3)
    assert policy == {"preset": "recommended", "f": 3}
    assert fedguard.recommended_policy(f_fraction=0.1) == {"preset": "recommended", "f_fraction": 0.1}
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError):
            fedguard.recommended_policy(bad)
    with pytest.raises(ValueError):
        fedguard.recommended_policy(f_fraction=0.6)
    assert fedguard.recommended_policy(40, f_floor=0.5) == {
        "preset": "recommended", "f": 40, "f_floor": 0.5}
    for bad in (-0.1, 1.5, "0.2", True):
        with pytest.raises(ValueError):
            fedguard.recommended_policy(40, f_floor=bad)
    # The engine reads it (and refuses it out of range, as the C++ config does).
    fedguard.Engine(fedguard.recommended_policy(4, f_floor=0.0))
    with pytest.raises(fedguard.Error):
        fedguard.Engine({"preset": "recommended", "f": 4, "f_floor": 2})
    rng = np.random.default_rng(7)
    x = rng.normal(size=(12, 50)).astype(np.float32)
    x[-1] = 1e3  # far above 3x the median norm
    r = fedguard.Engine(policy).process_round(x, client_ids=[f"c{i}" for i in range(12)])
    assert r.accepted.tolist() == [1] * 11 + [0]
    assert np.all(np.isfinite(r.aggregate))
    assert r.rejected_ids == ["c11"]
    assert r.rejections_by_id["c11"]["code"] == "norm_outlier"
    assert r.rejections_by_id["c11"]["stage"] == "detect"
    assert r.rejections_by_id["c11"]["values"]["norm_z"] > r.rejections_by_id["c11"]["values"]["norm_cut"]
    assert "c11" in r.reasons_by_id
    assert '"rejected_ids":["c11"]' in r.to_json()
