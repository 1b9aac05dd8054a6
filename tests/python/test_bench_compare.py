"""Smoke test of bench/compare.py (the side-by-side benchmark against byzfl, Flower and torch):
it runs on a tiny grid and writes valid JSON and a markdown table. It never asserts a speed.
It does check that the peers, where installed, compute the same aggregate as fedguard, since
the benchmark's parameter mapping (bench/compare_peers.py) is only meaningful if they do."""

import json
import os
import subprocess
import sys
from pathlib import Path

import fedguard

REPO = Path(__file__).resolve().parents[2]

# Peers that compute exactly fedguard's function for these rules (compare_peers.py's mapping);
# torch.median takes the lower middle value for even n, and the peers' geometric median stops
# after a fixed number of steps, so those are not compared.
EXACT = {"krum", "multi_krum", "trimmed_mean", "bulyan"}


def test_compare_quick_writes_json(tmp_path):
    env = dict(os.environ)
    package_dir = str(Path(fedguard.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_dir, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(REPO / "bench" / "compare.py"), "--quick", "--n", "10", "--d", "1000",
           "--out-dir", str(tmp_path), "--prefix", "smoke", "--fedguard-path", package_dir]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["meta"]["nproc"] == os.cpu_count()
    assert "load average" in result["meta"]["uptime_start"]
    records = result["records"]
    rules = {r["rule"] for r in records}
    assert {"krum", "multi_krum", "median", "trimmed_mean", "bulyan", "geometric_median"} <= rules
    for r in records:
        if r["impl"].startswith("fedguard cpu"):
            assert r["status"] == "ok", r
            assert r["median_ms"] > 0 and len(r["times_ms"]) >= 1
        if r["status"] == "ok" and r["rule"] in EXACT and not r["impl"].startswith("fedguard"):
            assert r["rel_diff_vs_reference"] is not None and r["rel_diff_vs_reference"] < 1e-5, r
    assert any(f.get("median_ms") for f in result["floors"])
    table = (tmp_path / "smoke.md").read_text()
    assert "### krum" in table and "fedguard cpu" in table
