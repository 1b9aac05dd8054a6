"""Hostile input through the Python API (issue 17): each case crashed, raised the wrong type
or was silently accepted before."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fedguard
from conftest import make_updates
from fedguard.update_log import UpdateLogWriter, write_round


def test_deeply_nested_config_text_is_a_value_error_not_a_crash():
    # In a subprocess: before the fix this killed the interpreter with SIGSEGV.
    code = "import fedguard\ntry:\n    fedguard.Engine('[' * 100000 + ']' * 100000)\nexcept ValueError as e:\n    print(e)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "nested deeper than 64 levels" in done.stdout


def test_deeply_nested_dict_is_a_value_error_not_recursion_error():
    deep: dict = {}
    node = deep
    for _ in range(100000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValueError, match="nested too deeply") as info:
        fedguard.Engine(deep)
    assert isinstance(info.value, fedguard.InvalidInputError)


def test_duplicate_keys_and_nul_bytes_in_config_text():
    with pytest.raises(ValueError, match='duplicate key "aggregator"'):
        fedguard.Engine('{"aggregator": {"rule": "mean"}, "aggregator": {"rule": "median"}}')
    with pytest.raises(ValueError, match="NUL byte"):
        fedguard.Engine('{"aggregator": {"rule": "mean"}}\x00')


@pytest.mark.parametrize("rule, params, name", [
    ("trimmed_mean", {"trim": 2**63}, "trim"),
    ("trimmed_mean", {"trim": 2**70}, "trim"),
    ("krum", {"f": 2**64 - 1}, "f"),
    ("bulyan", {"f": 2**62}, "f"),
    ("centered_clipping", {"iterations": 2**64 - 1}, "iterations"),
])
def test_huge_integer_parameters_are_range_errors(rule, params, name):
    x = make_updates(n=10, d=8)
    with pytest.raises(ValueError, match=f"parameter '{name}' = .* is out of range"):
        fedguard.aggregate(x, rule, **params)


def test_numpy_integer_parameters_are_accepted():
    x = make_updates(n=10, d=8)
    a = fedguard.aggregate(x, "trimmed_mean", trim=np.int64(2))
    b = fedguard.aggregate(x, "trimmed_mean", trim=2)
    np.testing.assert_array_equal(a, b)
    fedguard.aggregate(x, "geometric_median", nu=np.float32(1e-6), max_iter=np.uint16(50))


def test_none_in_a_per_client_list_is_a_missing_data_rejection():
    x = make_updates(n=6, d=8)
    clients = [x[i] for i in range(6)]
    clients[2] = None
    r = fedguard.Engine({"aggregator": {"rule": "mean"}}).process_round(clients)
    assert r.reasons[2] == "missing_data"
    assert r.accepted.tolist() == [True, True, False, True, True, True]
    np.testing.assert_allclose(r.aggregate, x[[0, 1, 3, 4, 5]].mean(axis=0), rtol=1e-6)


def test_wrong_argument_types_raise_value_error():
    e = fedguard.Engine()
    x = make_updates(n=4, d=8)
    for call in (lambda: fedguard.Engine(12),
                 lambda: e.process_round(x, expected_length="8"),
                 lambda: e.process_round(x, expected_length=-1),
                 lambda: e.process_round(x, client_ids=5),
                 lambda: e.process_round(x, num_samples=["a"] * 4),
                 lambda: e.save_state(3.5),
                 lambda: fedguard.aggregate(x, 3)):
        with pytest.raises(ValueError) as info:
            call()
        assert isinstance(info.value, fedguard.InvalidInputError), repr(info.value)


def test_zero_rows_and_zero_width():
    e = fedguard.Engine()
    with pytest.raises(ValueError, match=r"no updates \(n = 0\)"):
        e.process_round(np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match=r"zero length \(d = 0\)"):
        e.process_round(np.zeros((5, 0), np.float32))
    # A zero-size array of shape (2^60, 0): an input error, not an allocation failure.
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(2**60, 0), strides=(0, 4))
    with pytest.raises(ValueError, match=r"zero length \(d = 0\)"):
        e.process_round(huge)


def test_fltrust_non_finite_reference_messages():
    x = make_updates(n=6, d=8)
    e = fedguard.Engine({"aggregator": {"rule": "fltrust"}})
    for bad in (np.nan, np.inf):
        ref = np.ones(8, np.float32)
        ref[3] = bad
        with pytest.raises(ValueError, match="reference update holds NaN or Inf"):
            e.process_round(x, reference=ref)


def test_state_file_not_regular_and_model_size(tmp_path):
    e = fedguard.Engine({"aggregator": {"rule": "foolsgold"}})
    with pytest.raises(fedguard.IoError, match="not a regular file"):
        e.load_state("/dev/zero")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(fedguard.IoError, match=r"not a regular file \(a FIFO\)"):
        e.load_state(tmp_path / "fifo")
    e.process_round(make_updates(n=6, d=8))
    with pytest.raises(ValueError, match="model size d=8 but this round has d=9"):
        e.process_round(make_updates(n=6, d=9))
    assert e.rounds_processed == 1


def test_update_log_writer_refuses_what_the_scanner_refuses(tmp_path):
    x = make_updates(n=3, d=4)
    log = UpdateLogWriter(str(tmp_path / "log"))
    with pytest.raises(ValueError, match="round must be a non-negative integer"):
        log.append(round=-1, updates=x)
    with pytest.raises(ValueError, match="not clients of the round"):
        log.append(round=0, updates=x, client_ids=["a", "b", "c"], malicious=["z"])
    with pytest.raises(ValueError, match="not clients of the round"):
        write_round(str(tmp_path / "r.safetensors"), 0, x, malicious=["7"])
    log.append(round=0, updates=x, client_ids=["a", "b", "c"], malicious=["b"])
