"""fedguard.attack / fedguard.attack_names and `fedguard attack` (the attack library,
docs/attacks.md). The C++ tests (tests/attacks/) check every attack's defining property; these
check that the Python and command-line faces pass inputs, parameters, outputs and errors through
faithfully."""

import json
import subprocess

import numpy as np
import pytest

fedguard = pytest.importorskip("fedguard")
if not hasattr(fedguard, "attack"):
    pytest.skip("this fedguard build has no attack library", allow_module_level=True)

ALL = ["alie", "fang_krum", "fang_trim", "gaussian", "ipm", "mimic", "min_max", "min_sum", "mpaf",
       "scaling", "sign_flip"]


def benign(n=20, d=64, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.normal(size=d) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def test_names():
    assert fedguard.attack_names() == ALL


def test_alie_matches_numpy():
    x = benign()
    out, info = fedguard.attack("alie", x, 5)
    assert out.shape == (5, 64) and out.dtype == np.float32
    assert info["z"] == pytest.approx(0.2533471031, abs=1e-9)  # (n, f) = (25, 5)
    x64 = x.astype(np.float64)
    expected = x64.mean(0) - info["z"] * x64.std(0, ddof=1)
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-6, atol=1e-7)


def test_params_pass_through():
    x = benign()
    out, info = fedguard.attack("ipm", x, 3, epsilon=100.0)
    assert info["epsilon"] == 100.0 and info["attack"] == "ipm"
    np.testing.assert_allclose(out[2], -100.0 * x.astype(np.float64).mean(0), rtol=1e-6)
    out, info = fedguard.attack("min_max", x, 2, perturbation="sign", gamma_init=5.0)
    assert info["perturbation"] == "sign" and info["gamma_init"] == 5.0


def test_min_max_property():
    x = benign(n=15, d=100, seed=3).astype(np.float64)
    out, info = fedguard.attack("min_max", x, 4)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    mal = out[0].astype(np.float64)
    assert ((x - mal) ** 2).sum(-1).max() <= d.max() * (1 + 1e-6)
    assert info["threshold"] == pytest.approx(d.max(), rel=1e-9)


def test_own_and_global_model():
    x = benign()
    own = np.random.default_rng(1).normal(size=(3, 64)).astype(np.float32)
    out, info = fedguard.attack("scaling", x, 3, own=own)
    assert info["gamma"] == 23.0
    np.testing.assert_array_equal(out, (23.0 * own.astype(np.float64)).astype(np.float32))
    g = np.linspace(-1, 1, 64)
    out, _ = fedguard.attack("mpaf", x, 2, global_model=g, base_std=0.0, **{"lambda": 3.0})
    np.testing.assert_allclose(out, np.broadcast_to(-3.0 * g, (2, 64)), rtol=1e-6)
    with pytest.raises(fedguard.InvalidInputError, match="needs `global_model`"):
        fedguard.attack("mpaf", x, 2)
    with pytest.raises(ValueError, match=r"own must have shape \(n_malicious, d\) = \(2, 64\)"):
        fedguard.attack("scaling", x, 2, own=own)


def test_determinism_and_seed():
    x = benign()
    a, _ = fedguard.attack("gaussian", x, 2, seed=5, round=1)
    b, _ = fedguard.attack("gaussian", x, 2, seed=5, round=1)
    c, _ = fedguard.attack("gaussian", x, 2, seed=6, round=1)
    d, _ = fedguard.attack("gaussian", x, 2, seed=5, round=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_errors():
    x = benign()
    with pytest.raises(fedguard.InvalidInputError, match="attack 'alie': unknown parameter 'zz'"):
        fedguard.attack("alie", x, 2, zz=1)
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        fedguard.attack("nope", x, 2)
    bad = x.copy()
    bad[4, 7] = np.nan
    with pytest.raises(ValueError, match="benign row 4 has a non-finite value"):
        fedguard.attack("min_sum", bad, 2)
    with pytest.raises(ValueError, match="needs at least 2 benign updates"):
        fedguard.attack("alie", x[:1], 2)
    with pytest.raises(ValueError, match="benign must be 2-D"):
        fedguard.attack("ipm", x[0], 2)


def test_cli_matches_python(cli, tmp_path):
    x = benign(n=12, d=40, seed=9)
    np.save(tmp_path / "b.npy", x)
    g = np.linspace(0, 1, 40).astype(np.float32)
    np.save(tmp_path / "g.npy", g)
    (tmp_path / "p.json").write_text(json.dumps({"sample": False}))
    cases = [
        ("min_sum", ["--params", '{"perturbation": "unit_vec"}'], {"perturbation": "unit_vec"}, {}),
        ("fang_trim", ["--params", str(tmp_path / "p.json"), "--global-model", str(tmp_path / "g.npy")],
         {"sample": False}, {"global_model": g}),
        ("gaussian", ["--seed", "17", "--round", "3"], {}, {"seed": 17, "round": 3}),
    ]
    for name, args, params, kwargs in cases:
        out_path = tmp_path / f"{name}.npy"
        r = subprocess.run([cli, "attack", "--name", name, "--benign", str(tmp_path / "b.npy"),
                            "--malicious", "3", "--out", str(out_path), *args],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        expected, info = fedguard.attack(name, x, 3, **kwargs, **params)
        np.testing.assert_array_equal(np.load(out_path), expected)
        assert json.loads(r.stdout) == info

    r = subprocess.run([cli, "attack", "--list"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ALL
    r = subprocess.run([cli, "attack", "--name", "ipm", "--benign", str(tmp_path / "b.npy"),
                        "--malicious", "2", "--params", '{"eps": 1}', "--out", str(tmp_path / "x.npy")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown parameter 'eps'" in r.stderr
