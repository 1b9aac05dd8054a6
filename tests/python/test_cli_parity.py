"""The Python layer adds nothing and loses nothing: for every rule, a round through
fedguard.Engine equals the same round through the C++ command line (`fedguard round`), field for
field (timings aside) and bit for bit in the aggregate."""

import json
import subprocess

import numpy as np
import pytest

import fedguard
from conftest import make_updates

# One policy per rule (each rule appears at least once, in the role it is meant for).
POLICIES = {
    "mean": {"aggregator": {"rule": "mean"}},
    "median": {"aggregator": {"rule": "median"}},
    "trimmed_mean": {"aggregator": {"rule": "trimmed_mean", "trim": 3}},
    "krum": {"aggregator": {"rule": "krum", "f": 3}},
    "multi_krum": {"aggregator": {"rule": "multi_krum", "f": 3, "m": 8}},
    "multi_krum_filter": {"filters": [{"rule": "multi_krum", "f": 3}], "aggregator": {"rule": "median"}},
    "bulyan": {"aggregator": {"rule": "bulyan", "f": 2}},
    "geometric_median": {"aggregator": {"rule": "geometric_median"}},
    "centered_clipping": {"aggregator": {"rule": "centered_clipping", "tau": 2.0, "iterations": 3}},
    "norm_clip": {"transforms": [{"rule": "norm_clip", "max_norm": 15.0}], "aggregator": {"rule": "mean"}},
    "arc": {"transforms": [{"rule": "arc", "f": 3}], "aggregator": {"rule": "mean"}},
    "nnm": {"transforms": [{"rule": "nnm", "f": 3}], "aggregator": {"rule": "trimmed_mean", "trim": 2}},
    "norm_bound": {"filters": [{"rule": "norm_bound", "max_ratio": 2.0}], "aggregator": {"rule": "mean"}},
    "dnc": {"aggregator": {"rule": "dnc", "f": 3}},
    "dnc_subsets": {"filters": [{"rule": "dnc", "f": 3, "subset_size": 50, "niters": 3, "seed": 7}],
                    "aggregator": {"rule": "mean"}},
    "pca_outlier": {"filters": [{"rule": "pca_outlier"}], "aggregator": {"rule": "mean"}},
    "fltrust": {"aggregator": {"rule": "fltrust"}},
}


def _covered(policies):
    names = set()
    for p in policies.values():
        names |= {e["rule"] for e in p.get("filters", []) + p.get("transforms", [])}
        names.add(p["aggregator"]["rule"])
    return names


def _default_policy(rule):
    """For a rule added to the engine after this table was written: the first of a few usual
    forms that the engine accepts (no parameters, or f = 3; aggregator, filter, transform)."""
    forms = []
    for params in ({}, {"f": 3}):
        entry = {"rule": rule, **params}
        forms += [{"aggregator": entry}, {"filters": [entry], "aggregator": {"rule": "mean"}},
                  {"transforms": [entry], "aggregator": {"rule": "mean"}}]
    for form in forms:
        try:
            fedguard.Engine(form)
            return form
        except ValueError:
            continue
    return None


for _rule in sorted(set(fedguard.rule_names()) - _covered(POLICIES)):
    POLICIES[_rule] = _default_policy(_rule)


def test_every_rule_is_covered():
    assert set(fedguard.rule_names()) <= _covered({k: v for k, v in POLICIES.items() if v is not None})
    missing = sorted(k for k, v in POLICIES.items() if v is None)
    assert not missing, f"add a policy for {missing} to POLICIES in tests/python/test_cli_parity.py"


def _round_inputs(dtype):
    x = make_updates(n=18, d=333, seed=3, attackers=3).astype(dtype)
    x[5, 17] = np.nan  # non_finite
    ids = [f"client-{i}" for i in range(18)]
    ids[9] = ids[8]  # duplicate_id
    num_samples = np.arange(1, 19, dtype=np.float64)
    reference = make_updates(n=18, d=333, seed=3)[6:].mean(axis=0).astype(np.float32)
    return x, ids, num_samples, reference


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_python_equals_cli(cli, tmp_path, name, dtype):
    policy = POLICIES[name]
    if policy is None:
        pytest.skip(f"no policy for {name} (test_every_rule_is_covered fails)")
    x, ids, num_samples, reference = _round_inputs(dtype)
    np.save(tmp_path / "u.npy", x)
    np.save(tmp_path / "w.npy", num_samples)
    np.save(tmp_path / "r.npy", reference)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    (tmp_path / "c.json").write_text(json.dumps(policy))
    command = [cli, "round", "--updates", str(tmp_path / "u.npy"), "--config", str(tmp_path / "c.json"),
               "--num-samples", str(tmp_path / "w.npy"), "--ids", str(tmp_path / "ids.txt"),
               "--out", str(tmp_path / "out.json"), "--aggregate-out", str(tmp_path / "agg.npy")]
    uses_reference = name == "fltrust"
    if uses_reference:
        command += ["--reference", str(tmp_path / "r.npy")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    r = fedguard.Engine(policy).process_round(x, client_ids=ids, num_samples=num_samples,
                                              reference=reference if uses_reference else None)
    from_cli = json.loads((tmp_path / "out.json").read_text())
    from_python = json.loads(r.to_json())
    from_cli.pop("timings_ms")
    from_python.pop("timings_ms")
    for j in (from_cli, from_python):  # the monitoring metrics' stage timings vary too
        j["metrics"] = {k: v for k, v in j["metrics"].items() if not k.startswith("stage_")}
    assert from_python == from_cli
    np.testing.assert_array_equal(r.aggregate, np.load(tmp_path / "agg.npy"))
    # the numpy fields say what the JSON says
    assert r.accepted.tolist() == from_cli["accepted"]
    assert r.weights.tolist() == from_cli["weights"]
    assert {str(k): v for k, v in r.reasons.items()} == from_cli["reasons"]
    for rule, values in r.scores.items():
        assert [None if np.isnan(v) else v for v in values.tolist()] == from_cli["scores"][rule]
    assert r.reasons[5] == "non_finite" and r.reasons[9] == "duplicate_id: same id 'client-8' as client 8"


def test_cli_errors_match_python_errors(cli, tmp_path):
    x = make_updates(n=9, d=20)
    np.save(tmp_path / "u.npy", x)
    (tmp_path / "c.json").write_text(json.dumps({"aggregator": {"rule": "krum", "f": 4}}))
    done = subprocess.run([cli, "round", "--updates", str(tmp_path / "u.npy"), "--config", str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    with pytest.raises(ValueError) as info:
        fedguard.Engine({"aggregator": {"rule": "krum", "f": 4}}).process_round(x)
    assert done.stderr.strip() == f"fedguard: error (invalid input): {info.value}"
