"""Monitoring (docs/monitoring.md): Page-Hinkley against river's implementation as an oracle,
the result's metrics and alerts, the Prometheus exposition (promtool, and a real Prometheus
server scraping the Python endpoint on the loopback), `fedguard round --metrics-out`, and
`fedguard monitor` on a log that grows while it runs, then after a restart."""

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

import fedguard
from fedguard.update_log import UpdateLogWriter


def tiny_round(rng, n=5, d=8, scale=1.0):
    return (scale * (1 + 0.1 * rng.normal(size=(n, d)))).astype(np.float32)


def ph_config(delta, threshold, alpha, min_instances, mode):
    direction = {"up": "up", "down": "down", "both": "both"}[mode]
    return {"aggregator": {"rule": "mean"},
            "monitoring": {"detectors": [{"metric": "server_x", "method": "page_hinkley", "direction": direction,
                                          "delta": delta, "lambda": threshold, "alpha": alpha,
                                          "min_instances": min_instances,
                                          "baseline": {"mean": 0.0, "scale": 1.0}}]}}


@pytest.mark.parametrize("delta,threshold,alpha,min_instances,mode", [
    (0.005, 5.0, 1.0, 30, "both"),
    (0.1, 3.0, 1.0, 1, "up"),
    (0.05, 4.0, 0.999, 10, "down"),
    (0.2, 2.0, 0.99, 5, "both"),
])
def test_page_hinkley_matches_river(delta, threshold, alpha, min_instances, mode):
    river_drift = pytest.importorskip("river.drift", reason="river is not installed (bootstrap installs it)")
    rng = np.random.default_rng(7)
    stream = np.concatenate([rng.normal(0, 1, 150), rng.normal(2.5, 1, 100), rng.normal(-1.5, 1, 150),
                             rng.normal(0, 1, 100)])
    ph = river_drift.PageHinkley(min_instances=min_instances, delta=delta, threshold=threshold, alpha=alpha,
                                 mode=mode)
    expected, statistics = [], {}
    for t, x in enumerate(stream):
        ph.update(float(x))
        if ph.drift_detected:
            expected.append(t)
            statistics[t] = (ph._sum_increase - ph._min_increase, ph._max_decrease - ph._sum_decrease)
    assert expected, "the oracle stream should contain detectable changes"

    engine = fedguard.Engine(ph_config(delta, threshold, alpha, min_instances, mode))
    updates = tiny_round(rng)
    got = []
    for t, x in enumerate(stream):
        r = engine.process_round(updates, server_metrics={"x": float(x)})
        for a in r.alerts:
            assert a["metric"] == "server_x" and a["method"] == "page_hinkley" and a["round"] == t
            up, down = statistics.get(t, (math.nan, math.nan))
            assert a["statistic"] == pytest.approx(up if a["direction"] == "up" else down, rel=1e-9, abs=1e-9)
            assert a["threshold"] == threshold
            got.append(t)
    assert got == expected


def test_result_has_metrics_and_alerts_and_refuses_nan():
    rng = np.random.default_rng(1)
    engine = fedguard.Engine({"aggregator": {"rule": "mean"},
                              "monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum",
                                                            "warmup": 5}]}})
    alerts = []
    for t in range(12):
        r = engine.process_round(tiny_round(rng, scale=1.0 if t < 8 else 5.0), server_metrics={"loss": 1.0})
        assert r.metrics["server_loss"] == 1.0 and r.metrics["clients"] == 5
        alerts += r.alerts
    assert alerts and alerts[0]["round"] == 8 and alerts[0]["metric"] == "aggregate_norm"
    j = json.loads(r.to_json())
    assert isinstance(j["metrics"], dict) and isinstance(j["alerts"], list)
    r = engine.process_round(tiny_round(rng), server_metrics={"loss": float("nan")})
    assert r.metrics_refused == ["server_loss"] and math.isnan(r.metrics["server_loss"])
    assert engine.alert_counts()["aggregate_norm/cusum"] >= 1
    off = fedguard.Engine({"monitoring": False}).process_round(tiny_round(rng))
    assert off.metrics == {} and off.alerts == [] and json.loads(off.to_json())["alerts"] == []


def promtool():
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed (Debian package prometheus; bootstrap installs it)")
    return exe


def check_metrics(text):
    p = subprocess.run([promtool(), "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode() + "\n" + text


def test_exposition_passes_promtool():
    rng = np.random.default_rng(2)
    engine = fedguard.Engine({"filters": [{"rule": "norm_bound", "max_ratio": 3}], "aggregator": {"rule": "mean"}})
    for _ in range(3):
        r = engine.process_round(tiny_round(rng), server_metrics={"loss": 0.5, "accuracy": 0.9})
    check_metrics(engine.prometheus_text(r))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as f:
        return f.read().decode()


def test_prometheus_scrapes_the_python_endpoint(tmp_path):
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed (bootstrap installs it)")
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian package prometheus; bootstrap installs it)")
    from fedguard import monitoring

    rng = np.random.default_rng(3)
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}})
    with monitoring.serve(0, "127.0.0.1") as server:
        for _ in range(3):
            r = engine.process_round(tiny_round(rng))
            server.update(r, engine)
        text = http_get(server.url)
        assert "fedguard_aggregate_norm" in text and "fedguard_round 2.0" in text
        check_metrics(text)

        web = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          "scrape_configs:\n  - job_name: fedguard\n    static_configs:\n"
                          f"      - targets: ['127.0.0.1:{server.port}']\n")
        log = open(tmp_path / "prometheus.log", "wb")
        proc = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{web}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            query = urllib.parse.urlencode({"query": "fedguard_aggregate_norm"})
            deadline, value = time.monotonic() + 60, None
            while time.monotonic() < deadline and value is None:
                time.sleep(0.5)
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
                try:
                    answer = json.loads(http_get(f"http://127.0.0.1:{web}/api/v1/query?{query}"))
                except OSError:
                    continue
                results = answer.get("data", {}).get("result", [])
                if answer.get("status") == "success" and results:
                    value = float(results[0]["value"][1])
            assert value is not None, "Prometheus never returned fedguard_aggregate_norm: " + \
                (tmp_path / "prometheus.log").read_text()[-3000:]
            assert value == pytest.approx(r.metrics["aggregate_norm"], rel=1e-12)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
            log.close()


def test_round_command_streams_metrics(cli, tmp_path):
    rng = np.random.default_rng(4)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"aggregator": {"rule": "mean"}}))
    state, out, prom = tmp_path / "s.bin", tmp_path / "m.jsonl", tmp_path / "fedguard.prom"
    for t in range(3):
        np.save(tmp_path / "u.npy", tiny_round(rng))
        p = subprocess.run([cli, "round", "--updates", str(tmp_path / "u.npy"), "--config", str(config),
                            "--state", str(state), "--metrics-out", str(out), "--metrics-prom", str(prom),
                            "--server-metric", f"loss={1.0 / (t + 1)}", "--out", str(tmp_path / "r.json")],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["round"] for x in lines] == [0, 1, 2]
    assert lines[2]["metrics"]["server_loss"] == pytest.approx(1 / 3) and lines[2]["alerts"] == []
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["alerts"] == [] and "aggregate_cosine" in result["metrics"]
    assert "fedguard_round 2\n" in prom.read_text()
    if shutil.which("promtool"):
        check_metrics(prom.read_text())
    bad = subprocess.run([cli, "round", "--updates", str(tmp_path / "u.npy"), "--config", str(config),
                          "--server-metric", "loss"], capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"NAME=VALUE" in bad.stderr


def write_rounds(writer, rng, rounds, scale_of):
    for t in rounds:
        writer.append(t, tiny_round(rng, n=6, d=16, scale=scale_of(t)), client_ids=[f"c{i}" for i in range(6)])


def test_monitor_follows_a_growing_log_and_resumes(cli, tmp_path):
    log_dir, state = tmp_path / "log", tmp_path / "state.bin"
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"aggregator": {"rule": "mean"},
                                  "monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum",
                                                                "direction": "up", "warmup": 5}]}}))
    rng = np.random.default_rng(5)
    scale_of = lambda t: 1.0 if t < 10 else 6.0  # noqa: E731: a step at round 10
    writer = UpdateLogWriter(str(log_dir))
    write_rounds(writer, rng, range(0, 4), scale_of)
    proc = subprocess.Popen([cli, "monitor", str(log_dir), "--config", str(config), "--state", str(state),
                             "--poll", "0.05", "--max-wait", "4", "--progress", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for t in range(4, 12):  # appended while the monitor runs
            time.sleep(0.15)
            write_rounds(writer, rng, [t], scale_of)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    lines = [x for x in out.decode().splitlines() if x.startswith("round ")]
    assert [int(x.split()[1]) for x in lines] == list(range(12)), out.decode()
    assert "alert aggregate_norm cusum up" in out.decode()
    first_alerts = out.decode().count("alert aggregate_norm")

    # Restart: the rounds done are not redone and their alerts not repeated; new rounds are.
    write_rounds(writer, rng, range(12, 14), scale_of)
    p = subprocess.run([cli, "monitor", str(log_dir), "--config", str(config), "--state", str(state),
                        "--no-follow"], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    lines = [x for x in p.stdout.decode().splitlines() if x.startswith("round ")]
    assert [int(x.split()[1]) for x in lines] == [12, 13], p.stdout.decode()
    assert b"resuming at log round index 12" in p.stderr
    again = subprocess.run([cli, "monitor", str(log_dir), "--config", str(config), "--state", str(state),
                            "--no-follow"], capture_output=True, timeout=60)
    assert [x for x in again.stdout.decode().splitlines() if x.startswith("round ")] == []
    assert first_alerts >= 1
