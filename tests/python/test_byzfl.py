"""fedguard's rules against the `byzfl` package's aggregators (EPFL's ByzFL 0.0.11) on the same
inputs, adjusting for byzfl's documented conventions.

byzfl imports torch at module level, and torch is not a CI dependency. Its aggregators and
pre-aggregators dispatch on the input type and run in numpy for numpy input, using torch only
for `isinstance` checks. So where torch is missing, this file loads byzfl's `aggregators` and
`utils` subpackages (not its training framework) with a stand-in `torch` module that provides
only the `Tensor` type, calls them on numpy float64 arrays, and removes the stand-in again. Where
torch is installed, the real one is used. byzfl itself is installed with `--no-deps` (its
dependencies include torch and torchvision); scipy, which it uses for distances, is installed.

Conventions (byzfl source, aggregators.py / preaggregators.py):
- Krum(f), MultiKrum(f): score = mean of the n - f - 1 smallest squared distances to others
  (sorted row minus the self-distance); fedguard uses n - f' - 2 neighbours, so f' = f - 1.
  MultiKrum averages the n - f lowest: fedguard multi_krum f' = f - 1, m = n - f.
- GeometricMedian(nu, T): T smoothed Weiszfeld steps from z = 0; fedguard iterates from the mean
  to convergence, so byzfl runs with T large and the same nu.
- CenteredClipping(m=None, L, tau): starts at 0 and keeps its last output as the next start,
  like fedguard's engine across rounds.
- TrMean(f) = trimmed_mean trim=f; Median = median.
- NNM(f), ARC(f), Clipping(c) are pre-aggregators: compared as transforms before the mean.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import fedguard
from conftest import make_updates


@pytest.fixture(scope="module")
def byzfl():
    spec = importlib.util.find_spec("byzfl")
    if spec is None:
        pytest.skip("byzfl is not installed (scripts/bootstrap.sh: pip install --no-deps byzfl==0.0.11)")
    pytest.importorskip("scipy", reason="byzfl computes distances with scipy")
    real_torch = importlib.util.find_spec("torch") is not None
    names = ["byzfl", "byzfl.utils", "byzfl.utils.misc", "byzfl.utils.torch_tools", "byzfl.aggregators",
             "byzfl.aggregators.aggregators", "byzfl.aggregators.preaggregators"]
    if not real_torch:
        names += ["torch", "torch.linalg"]  # the stand-in goes again; a real torch stays loaded
    saved = {name: sys.modules.get(name) for name in names}
    try:
        if not real_torch:
            stand_in = types.ModuleType("torch")
            stand_in.Tensor = type("Tensor", (), {})
            stand_in.linalg = types.ModuleType("torch.linalg")
            sys.modules["torch"] = stand_in
            sys.modules["torch.linalg"] = stand_in.linalg
        # byzfl/__init__.py imports the training framework (torchvision, matplotlib): skip it.
        package = types.ModuleType("byzfl")
        package.__path__ = [str(Path(spec.submodule_search_locations[0]))]
        sys.modules["byzfl"] = package
        aggregators = importlib.import_module("byzfl.aggregators")
        assert aggregators.Median()(np.ones((3, 2))).tolist() == [1.0, 1.0]
        yield aggregators
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def fedguard_aggregate(x, policy):
    return fedguard.Engine(policy).process_round(x).aggregate


@pytest.fixture
def rounds():
    """Three rounds of 15 clients (3 attackers: sign-flipped x20), d = 64, float32."""
    return [make_updates(n=15, d=64, seed=s, attackers=3) for s in range(3)]


def test_median(byzfl, rounds):
    for x in rounds:
        np.testing.assert_allclose(fedguard.aggregate(x, "median"), byzfl.Median()(x.astype(np.float64)),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f", [0, 1, 3, 5])
def test_trimmed_mean(byzfl, rounds, f):
    for x in rounds:
        np.testing.assert_allclose(fedguard.aggregate(x, "trimmed_mean", trim=f),
                                   byzfl.TrMean(f=f)(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", [1, 3, 6])
def test_krum(byzfl, rounds, f):
    for x in rounds:
        expected = byzfl.Krum(f=f)(x.astype(np.float64))
        np.testing.assert_array_equal(fedguard.aggregate(x, "krum", f=f - 1), expected.astype(np.float32))


@pytest.mark.parametrize("f", [1, 3, 6])
def test_multi_krum(byzfl, rounds, f):
    for x in rounds:
        n = len(x)
        expected = byzfl.MultiKrum(f=f)(x.astype(np.float64))
        got = fedguard.aggregate(x, "multi_krum", f=f - 1, m=n - f)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nu", [1e-6, 0.1])
def test_geometric_median(byzfl, rounds, nu):
    for x in rounds:
        expected = byzfl.GeometricMedian(nu=nu, T=3000)(x.astype(np.float64))
        got = fedguard.aggregate(x, "geometric_median", nu=nu, max_iter=3000, tol=0.0)
        scale = np.linalg.norm(expected)
        assert np.linalg.norm(got - expected) <= 1e-5 * scale, np.linalg.norm(got - expected) / scale


@pytest.mark.parametrize("tau, iterations", [(1.0, 1), (2.0, 3), (100.0, 3)])
def test_centered_clipping_across_rounds(byzfl, rounds, tau, iterations):
    theirs = byzfl.CenteredClipping(L=iterations, tau=tau)
    engine = fedguard.Engine({"aggregator": {"rule": "centered_clipping", "tau": tau, "iterations": iterations}})
    for x in rounds:  # both keep their last output as the next round's start
        expected = theirs(x.astype(np.float64))
        got = engine.process_round(x).aggregate
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f", [1, 3])
def test_nnm_then_mean(byzfl, rounds, f):
    for x in rounds:
        expected = byzfl.Average()(byzfl.NNM(f=f)(x.astype(np.float64)))
        got = fedguard_aggregate(x, {"transforms": [{"rule": "nnm", "f": f}], "aggregator": {"rule": "mean"}})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f", [1, 3])
def test_arc_then_mean(byzfl, rounds, f):
    for x in rounds:
        expected = byzfl.Average()(byzfl.ARC(f=f)(x.astype(np.float64)))  # ARC clips in place: a copy
        got = fedguard_aggregate(x, {"transforms": [{"rule": "arc", "f": f}], "aggregator": {"rule": "mean"}})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("c", [1.0, 10.0])
def test_norm_clip_then_mean(byzfl, rounds, c):
    for x in rounds:
        expected = byzfl.Average()(byzfl.Clipping(c=c)(x.astype(np.float64)))
        got = fedguard_aggregate(x, {"transforms": [{"rule": "norm_clip", "max_norm": c}],
                                     "aggregator": {"rule": "mean"}})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
