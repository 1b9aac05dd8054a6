"""Issue 18's friction points, one test each: results by client id, pickling and deepcopy
(results and engines cross Ray / multiprocessing and can be saved), to_dict, argument checks in
Python, state_dict Mappings as clients, torch's own dtype hint, py.typed, `python -m fedguard`,
the command line's usage errors, `fedguard info` and the demo's explanations, the Flower
ImportError hint."""

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fedguard
from conftest import REPO, make_updates

POLICY = {"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "centered_clipping", "tau": 1.0}}
IDS = [f"site-{i}" for i in range(12)]


def round_with_ids():
    x = make_updates(n=12, d=200, seed=3, attackers=2)
    return x, fedguard.Engine(POLICY).process_round(x, client_ids=IDS)


def test_results_by_client_id():
    x, r = round_with_ids()
    assert r.client_ids == IDS
    assert r.rejected_ids == ["site-0", "site-1"] and r.accepted_ids == IDS[2:]
    assert set(r.reasons_by_id) == {"site-0", "site-1"}
    assert r.scores_by_id["site-5"]["norm"] == pytest.approx(float(np.linalg.norm(x[5].astype(np.float64))), rel=1e-6)
    one = r.by_id("site-0")
    assert one["row"] == 0 and not one["accepted"] and one["weight"] == 0.0
    assert one["rejection"]["code"] == "filter" and one["rejection"]["rule"] == "norm_bound"
    assert set(one["scores"]) == set(r.scores)
    ok = r.by_id("site-4")
    assert ok["accepted"] and ok["rejection"] is None and ok["weight"] == pytest.approx(float(r.weights[4]))
    with pytest.raises(KeyError, match="site-99"):
        r.by_id("site-99")
    j = json.loads(r.to_json())
    assert j["client_ids"] == IDS and j["rejected_ids"] == ["site-0", "site-1"]
    assert [rej["id"] for rej in j["rejections"]] == ["site-0", "site-1"]


def test_result_pickles_and_deepcopies():
    _, r = round_with_ids()
    for copied in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r)):
        assert repr(copied) == repr(r)
        np.testing.assert_array_equal(copied.accepted, r.accepted)
        np.testing.assert_array_equal(copied.weights, r.weights)
        np.testing.assert_array_equal(copied.aggregate, r.aggregate)
        for rule in r.scores:
            np.testing.assert_array_equal(copied.scores[rule], r.scores[rule])
        assert copied.rejected_ids == r.rejected_ids and copied.rejections_by_id == r.rejections_by_id
        np.testing.assert_equal(copied.by_id("site-1"), r.by_id("site-1"))  # NaN scores equal
        np.testing.assert_equal(copied.scores_by_id, r.scores_by_id)  # built on first read
        assert copied.to_json() == r.to_json()
        assert json.loads(copied.to_json(indent=2)) == json.loads(r.to_json(indent=2))
        np.testing.assert_equal(copied.to_dict(), r.to_dict())
    # pickled before and after scores_by_id was first read (it is built lazily)
    _, fresh = round_with_ids()
    np.testing.assert_equal(pickle.loads(pickle.dumps(fresh)).scores_by_id, fresh.scores_by_id)
    # the copy owns its arrays: writing to it leaves the original alone
    c = copy.deepcopy(r)
    c.weights[:] = 7
    assert not (r.weights == 7).any()


def test_result_fields_are_converted_once_on_first_read():
    # every field comes from the C++ result when first read and is kept: the same object on the
    # next read, equal to a fresh conversion, assignable, and pickled even if never read
    x, r = round_with_ids()
    raw = r._raw
    for name in fedguard.RoundResult._LAZY:
        first = getattr(r, name)
        assert getattr(r, name) is first, name
        if name not in ("client_ids", "reasons_by_id", "accepted_ids"):
            np.testing.assert_equal(first, getattr(raw, name))
    assert r.reasons_by_id == {rej["id"]: r.reasons[rej["client"]] for rej in r.rejections}
    assert r.accepted_ids == [c for c, a in zip(r.client_ids, r.accepted) if a]
    r.notes = ["set by the caller"]
    assert r.notes == ["set by the caller"]
    _, unread = round_with_ids()
    copied = pickle.loads(pickle.dumps(unread))
    assert copied.rejected_ids == ["site-0", "site-1"] and copied.client_ids == IDS
    np.testing.assert_array_equal(copied.accepted, unread.accepted)
    assert copied.metrics.keys() == unread.metrics.keys()


def test_to_dict_is_plain_python():
    _, r = round_with_ids()
    d = r.to_dict()
    assert d["client_ids"] == IDS and d["accepted"] == r.accepted.tolist() and "aggregate" not in d
    json.dumps(d)  # JSON-serialisable as it is
    with_agg = r.to_dict(aggregate=True)
    assert with_agg["aggregate"] == pytest.approx(r.aggregate.astype(np.float64).tolist())


def test_engine_pickles_with_config_and_state():
    x = make_updates(n=12, d=200, seed=5)
    engine = fedguard.Engine(POLICY)
    engine.process_round(x)  # centred clipping keeps this round's aggregate as its state
    for clone in (pickle.loads(pickle.dumps(engine)), copy.deepcopy(engine)):
        assert clone.config == engine.config and clone.rounds_processed == engine.rounds_processed
        y = make_updates(n=12, d=200, seed=6)
        np.testing.assert_array_equal(clone.process_round(y).aggregate, copy.deepcopy(engine).process_round(y).aggregate)
    # the state matters here: a fresh engine gives another aggregate, so the test can fail
    y = make_updates(n=12, d=200, seed=6)
    fresh = fedguard.Engine(POLICY).process_round(y).aggregate
    assert not np.array_equal(fresh, pickle.loads(pickle.dumps(engine)).process_round(y).aggregate)
    assert isinstance(pickle.loads(pickle.dumps(engine.config)), dict)  # the config is a plain dict


def test_argument_checks_raise_clear_value_errors():
    with pytest.raises(ValueError, match="f must be a non-negative integer, got -1"):
        fedguard.recommended_policy(-1)
    with pytest.raises(ValueError, match="f must be a non-negative integer"):
        fedguard.recommended_policy("3")
    with pytest.raises(ValueError, match="f_fraction must be in"):
        fedguard.recommended_policy(f_fraction=0.7)
    benign = make_updates(n=6, d=20)
    with pytest.raises(ValueError, match="n_malicious must be a non-negative integer, got -1"):
        fedguard.attack("alie", benign, -1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        fedguard.attack("alie", benign, 2, seed=-5)
    with pytest.raises(ValueError, match="name must be an attack name"):
        fedguard.attack(3, benign, 2)
    with pytest.raises(ValueError, match="round must be a non-negative integer"):
        fedguard.Engine().process_round(benign, round=-1)
    with pytest.raises(ValueError, match="expected_length must be a non-negative integer"):
        fedguard.Engine().process_round(list(benign), expected_length=-3)


def test_mappings_are_clients_flattened_in_order():
    rng = np.random.default_rng(0)
    clients = [{"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32),
                "steps": np.array(5, dtype=np.int64)} for _ in range(7)]
    block = np.stack([np.concatenate([c["w"].ravel(), c["b"], [5.0]]) for c in clients]).astype(np.float32)
    engine_args = {"aggregator": {"rule": "median"}}
    got = fedguard.Engine(engine_args).process_round(clients)
    want = fedguard.Engine(engine_args).process_round(block)
    assert got.d == 3 * 4 + 4 + 1
    np.testing.assert_array_equal(got.aggregate, want.aggregate)
    assert fedguard.describe_updates(clients)["d"] == got.d
    with pytest.raises(ValueError, match="one client's update; pass a list"):
        fedguard.Engine().process_round(clients[0])


def test_torch_state_dicts_and_the_torch_dtype_hint(torch):
    models = [torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.BatchNorm1d(3)) for _ in range(6)]
    dicts = [m.state_dict() for m in models]  # float32 weights and an int64 num_batches_tracked
    flat = torch.stack([torch.cat([v.float().reshape(-1) for v in d.values()]) for d in dicts])
    got = fedguard.Engine({"aggregator": {"rule": "mean"}}).process_round(dicts)
    want = fedguard.Engine({"aggregator": {"rule": "mean"}}).process_round(flat)
    assert isinstance(got.aggregate, torch.Tensor)
    torch.testing.assert_close(got.aggregate, want.aggregate)
    with pytest.raises(ValueError, match=r"x\.float\(\)") as err:
        fedguard.Engine().process_round(torch.zeros(4, 8, dtype=torch.float64))
    assert "astype" not in str(err.value)


def test_numpy_dtype_hint_stays_numpys():
    with pytest.raises(ValueError, match=r"astype\(numpy\.float32\)"):
        fedguard.Engine().process_round(np.zeros((4, 8)))


def test_package_is_typed():
    import typing

    assert (Path(fedguard.__file__).parent / "py.typed").is_file()
    hints = typing.get_type_hints(fedguard.Engine.process_round)  # the annotations resolve
    assert hints["return"] is fedguard.RoundResult and hints["updates"] is not typing.Any
    assert typing.get_type_hints(fedguard.RoundResult)["rejected_ids"] == typing.List[str]
    assert typing.get_type_hints(fedguard.attack_names)["return"] == typing.List[str]


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "fedguard", *args], capture_output=True, text=True, timeout=120)


def test_python_dash_m_fedguard():
    import fedguard._cli

    if fedguard._cli.binary() is None:
        pytest.skip("no command line binary next to this package and no FEDGUARD_CLI")
    done = run_module("info")
    assert done.returncode == 0, done.stderr
    assert "backends built: cpu" in done.stdout
    usage = run_module()
    assert usage.returncode == 2 and "usage: fedguard <" in usage.stderr, usage.stderr


def test_cli_usage_errors_exit_2_with_the_usage_line(cli):
    for args in ([], ["no-such-command"], ["round", "--config"], ["demo", "--benign", "many"]):
        done = subprocess.run([cli, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert "usage: fedguard <" in done.stderr and "demo" in done.stderr, done.stderr
    assert subprocess.run([cli, "--help"], capture_output=True, timeout=60).returncode == 0


def test_info_names_blas_and_kernel_and_a_cpu_only_machine_plainly(cli):
    out = subprocess.run([cli, "info"], capture_output=True, text=True, timeout=60, check=True).stdout
    blas = next(line for line in out.splitlines() if line.startswith("BLAS: "))
    assert blas.startswith("BLAS: OpenBLAS ") and ", kernel " in blas and "NO_LAPACKE" not in blas
    assert ".so" in blas  # the library file in use
    # Pass 1's Gram: fedguard's register kernel on AVX-512 processors, the BLAS's SSYRK above its
    # row limit and elsewhere (host/backend/cpu/tile_gram.cc); the line says which.
    gram = next(line for line in out.splitlines() if line.startswith("pass-1 Gram: "))
    assert "SSYRK" in gram
    capped = subprocess.run([cli, "info"], capture_output=True, text=True, timeout=60, check=True,
                            env={**os.environ, "FEDGUARD_CPU_LANES": "avx2"}).stdout
    assert "pass-1 Gram: the BLAS's SSYRK (no AVX-512 lanes)" in capped
    cuda = next(line for line in out.splitlines() if line.startswith("cuda"))
    assert "insufficient" not in cuda
    if "cuda" not in fedguard.backends_built():
        assert cuda == "cuda: built without CUDA"
    elif not os.path.exists("/proc/driver/nvidia/version"):
        assert cuda == "cuda: no CUDA device (CPU-only machine)"


def test_blas_info_and_a_warning_only_where_the_kernel_is_below_the_processor():
    info = fedguard.blas_info()
    assert set(info) == {"description", "kernel", "better_kernel", "cpu"}
    if info["description"].startswith("OpenBLAS "):
        assert f", kernel {info['kernel']}," in info["description"]
    # A fresh interpreter with the environment as a user has it, then with the opt-out: the
    # PerformanceWarning is raised exactly where blas_info names a better kernel, once, when the
    # first engine is built; a bare import (the console script's, before it execs the command
    # line) says nothing.
    probe = ("import json, fedguard; fedguard.Engine(); fedguard.Engine(); "
             "print(json.dumps(fedguard.blas_info()))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "FEDGUARD_KEEP_BLAS_KERNEL")}
    done = subprocess.run([sys.executable, "-W", "always", "-c", probe], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    fresh = json.loads(done.stdout)
    if fresh["better_kernel"]:
        assert done.stderr.count("PerformanceWarning") == 1, done.stderr
        assert f"OPENBLAS_CORETYPE={fresh['better_kernel']}" in done.stderr, done.stderr
        assert fresh["cpu"].startswith("family "), fresh
    else:
        assert "PerformanceWarning" not in done.stderr, done.stderr
    bare = subprocess.run([sys.executable, "-W", "error", "-c", "import fedguard"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert bare.returncode == 0 and "PerformanceWarning" not in bare.stderr, bare.stderr
    quiet = subprocess.run([sys.executable, "-W", "error", "-c", probe],
                           env={**env, "FEDGUARD_KEEP_BLAS_KERNEL": "1"},
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and "PerformanceWarning" not in quiet.stderr, quiet.stderr
    if fresh["better_kernel"]:
        # Named in the environment before Python starts, the kernel runs and nothing is said.
        named = subprocess.run([sys.executable, "-W", "error", "-c", probe],
                               env={**env, "OPENBLAS_CORETYPE": fresh["better_kernel"]},
                               capture_output=True, text=True, timeout=120)
        assert named.returncode == 0, named.stderr
        assert json.loads(named.stdout)["kernel"] == fresh["better_kernel"]


def test_demo_explains_each_group_and_keeps_the_policy_line_short(cli):
    out = subprocess.run([cli, "demo", "--benign", "30", "--attackers", "6", "-d", "2000"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    policy = next(line for line in lines if line.startswith("policy: "))
    assert len(policy) < 120 and '"preset":"recommended"' in policy
    for group, words in (("benign", "honest updates"), ("gaussian", "large random noise"),
                         ("sign_flip", "negated")):
        explained = [line for line in lines if line.startswith(group + ":") and words in line]
        assert len(explained) == 1, (group, out)


def test_flower_import_error_names_what_works():
    code = "import sys; sys.modules['flwr'] = None\ntry:\n import fedguard.flower\nexcept ImportError as e:\n print(e)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert "pip install 'flwr>=1.42,<1.43'" in done.stdout and "pip install '.[flower]'" in done.stdout, done


def test_python_md_documents_attacks():
    text = (REPO / "docs" / "python.md").read_text()
    assert "fedguard.attack(" in text and "fedguard.attack_names()" in text
