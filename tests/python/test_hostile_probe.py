"""The adversarial probe of issue 17 (scripts/hostile_probe.py) in its bounded mode, and the
Python-side findings of its full run, each as a regression test (docs/security.md)."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fedguard
import fedguard.identity as ident
import fedguard.update_log as ul
from conftest import REPO


def test_probe_quick_mode_has_no_finding(cli, tmp_path):
    """A stratified subset (40 cases per surface) of the probe: every outcome a clean rejection,
    a clean error or a result without NaN, no crash, no hang, no leaked internal message."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(fedguard.__file__)) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "hostile_probe.py"), "--cli", cli, "--quick",
                        "--per-surface", "40", "--timeout", "20", "--work", str(tmp_path / "probe")],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert "0 findings" in p.stdout


def _bounded(f, seconds=10.0):
    """Runs f in a thread; a hang fails the test instead of blocking the suite."""
    box = {}

    def run():
        try:
            box["value"] = f()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung"
    if "error" in box:
        raise box["error"]
    return box.get("value")


X = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)


def test_out_of_range_integers_are_value_errors_not_pybind_type_errors():
    eng = fedguard.Engine({"aggregator": {"rule": "mean"}})
    with pytest.raises(ValueError, match="expected_length"):
        eng.process_round(X, expected_length=2**70)
    with pytest.raises(ValueError, match="expected_length"):
        fedguard.describe_updates(X, expected_length=-1)
    with pytest.raises(ValueError, match="round"):
        eng.process_round(X, round=2**64)
    with pytest.raises(ValueError, match="n_malicious"):
        fedguard.attack("alie", X, 2**64)


def test_ids_and_server_metrics_of_wrong_types_are_value_errors():
    eng = fedguard.Engine({"aggregator": {"rule": "mean"}})
    with pytest.raises(ValueError, match=r"client_ids\[0\] is not valid UTF-8"):
        eng.process_round(X, client_ids=["\ud800"] + [str(i) for i in range(5)])
    with pytest.raises(ValueError, match="server_metrics must be a dict"):
        eng.process_round(X, server_metrics=[1])
    with pytest.raises(ValueError, match="must be a number"):
        eng.process_round(X, server_metrics={"loss": "x"})


def test_identity_round_numbers_and_texts_are_checked():
    sk, _ = ident.generate_key_pair()
    u = np.ones(8, np.float32)
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match="round"):
            ident.sign_update(sk, "fed", "c", bad, bytes(32), u)
    with pytest.raises(ValueError, match="UTF-8"):
        ident.sign_update(sk, "\ud800", "c", 1, bytes(32), u)
    with pytest.raises(TypeError, match="must be a str"):
        ident.b64decode(None)
    with pytest.raises(TypeError, match="must be a str"):
        ident.nonce_from_hex(None)


def test_registry_files_must_be_regular_and_duplicate_free(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        _bounded(lambda: ident.Registry.load(str(fifo)))
    with pytest.raises(OSError, match="not a regular file"):
        _bounded(lambda: ident.Registry.load("/dev/zero"))
    with pytest.raises(OSError, match="duplicate key"):
        ident.Registry.from_json('{"version": 1, "version": 1, "federation": "f", "clients": []}')


def test_update_log_writer_refuses_what_the_scanner_cannot_read(tmp_path):
    w = ul.UpdateLogWriter(str(tmp_path / "log"))
    for bad in (1.5, 2**64):
        with pytest.raises(ValueError, match="round"):
            w.append(bad, X)
    with pytest.raises(ValueError, match="NUL"):
        w.append(0, X, client_ids=["a\x00"] + [str(i) for i in range(5)])
    with pytest.raises(ValueError, match="UTF-8"):
        w.append(0, X, client_ids=["\ud800"] + [str(i) for i in range(5)])
    d = tmp_path / "fifo_log"
    d.mkdir()
    os.mkfifo(d / "manifest.json")
    with pytest.raises(ValueError, match="not a regular file"):
        _bounded(lambda: ul.read_manifest(str(d)))


def test_save_state_never_replaces_a_fifo(tmp_path):
    fifo = tmp_path / "state_fifo"
    os.mkfifo(fifo)
    eng = fedguard.Engine({"aggregator": {"rule": "mean"}})
    eng.process_round(X)
    with pytest.raises(OSError, match="not a regular file"):
        eng.save_state(str(fifo))
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
