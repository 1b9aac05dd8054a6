"""fedguard.update_log: the pure-Python writer and reader of update logs, their agreement with
the C++ reader (through `fedguard scan`), and recording from the Flower strategy."""

import json
import os
import struct
import subprocess

import numpy as np
import pytest

from conftest import make_updates
from fedguard.update_log import UpdateLogWriter, read_manifest, read_round, write_round


def test_round_trip_and_layout(tmp_path):
    x = make_updates(n=5, d=40, attackers=1).astype(np.float32)
    path = str(tmp_path / "r.safetensors")
    n, d = write_round(path, 3, x, client_ids=list("abcde"), num_samples=[1, 2, 3, 4, 5], malicious=["a"],
                       reference=np.ones(40), layers=[("w", 30), ("b", 10)], extra={"attack": "flip", "lr": 0.1})
    assert (n, d) == (5, 40)
    raw = open(path, "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    assert (8 + hlen) % 8 == 0  # data aligned as the C++ writer aligns it
    r = read_round(path)
    assert r["round"] == 3
    np.testing.assert_array_equal(r["updates"], x)
    assert r["client_ids"] == list("abcde")
    assert r["malicious"] == ["a"]
    assert r["layers"] == [["w", 30], ["b", 10]]
    assert r["metadata"] == {"attack": "flip", "lr": "0.1"}
    np.testing.assert_array_equal(r["reference"], np.ones(40, np.float32))


def test_float16_lists_and_errors(tmp_path):
    rows = [np.arange(4, dtype=np.float16), np.ones(4, dtype=np.float16)]
    write_round(str(tmp_path / "h.safetensors"), 0, np.stack(rows))
    assert read_round(str(tmp_path / "h.safetensors"))["updates"].dtype == np.float16
    write_round(str(tmp_path / "l.safetensors"), 0, [np.zeros(3), np.ones(3)])
    assert read_round(str(tmp_path / "l.safetensors"))["updates"].shape == (2, 3)
    with pytest.raises(ValueError, match="different lengths"):
        write_round(str(tmp_path / "x.safetensors"), 0, [np.zeros(3), np.ones(4)])
    with pytest.raises(ValueError, match="reserved"):
        write_round(str(tmp_path / "x.safetensors"), 0, np.zeros((1, 2)), extra={"round": 1})
    with pytest.raises(ValueError, match="layers sum"):
        write_round(str(tmp_path / "x.safetensors"), 0, np.zeros((1, 2)), layers=[("a", 3)])
    raw = open(str(tmp_path / "l.safetensors"), "rb").read()
    (tmp_path / "t.safetensors").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"t\.safetensors: offset"):
        read_round(str(tmp_path / "t.safetensors"))


def test_writer_appends_and_resumes(tmp_path):
    log = UpdateLogWriter(str(tmp_path / "log"), info={"who": "test"})
    log.append(0, np.zeros((2, 3)))
    log.append(1, np.ones((2, 3)), malicious=[])
    with pytest.raises(ValueError, match="already in the log"):
        log.append(1, np.ones((2, 3)))
    again = UpdateLogWriter(str(tmp_path / "log"))
    assert len(again) == 2
    again.append(2, np.ones((2, 3)))
    m = read_manifest(str(tmp_path / "log"))
    assert [r["file"] for r in m["rounds"]] == [f"round_{i:06d}.safetensors" for i in range(3)]
    assert m["info"] == {"who": "test"}
    assert sorted(os.listdir(tmp_path / "log")) == ["manifest.json"] + [f"round_{i:06d}.safetensors" for i in range(3)]


def _scan_supported(cli):
    return subprocess.run([cli, "scan", "--help"], capture_output=True).returncode == 0


def test_cpp_scanner_reads_python_logs(tmp_path, cli):
    if not _scan_supported(cli):
        pytest.skip("this fedguard command line has no scan subcommand")
    log = UpdateLogWriter(str(tmp_path / "log"))
    for t in range(4):
        x = make_updates(n=12, d=200, seed=t, attackers=2).astype(np.float32)
        log.append(t, x, client_ids=[f"c{i}" for i in range(12)], malicious=["c0", "c1"],
                   layers=[("a", 150), ("b", 50)])
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    cfg = tmp_path / "p.json"
    cfg.write_text(json.dumps({"backend": "cpu", "aggregator": {"rule": "multi_krum", "f": 2, "m": 8}}))
    out = tmp_path / "out"
    p = subprocess.run([cli, "scan", str(tmp_path / "log"), "--config", str(cfg), "--out", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "TPR 1.000 (8/8)" in p.stdout, p.stdout
    lines = (out / "rounds.jsonl").read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first["malicious"] == ["c0", "c1"] and first["accepted"][:2] == [0, 0]
    assert set(first["layer_scores"]) == {"a", "b"}
    assert "ROC per detector" in (out / "report.html").read_text()
