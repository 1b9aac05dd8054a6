"""Monitoring exposition for long-running servers (docs/monitoring.md, "Exposition").

The metrics and the change-point detectors run in C++ inside the engine (each
``RoundResult`` has ``metrics`` and ``alerts``). This module only exposes them: an opt-in
Prometheus pull endpoint built on ``prometheus_client`` (its HTTP server; nothing hand-rolled),
serving the last round's metrics under the same names as ``fedguard round --metrics-prom``:

    server = fedguard.monitoring.serve(9464)            # 127.0.0.1:9464/metrics
    result = engine.process_round(updates)
    server.update(result, engine)                       # after each round
    ...
    server.close()

``prometheus_client`` is imported on demand (``pip install prometheus_client``).
"""

import math
import threading
from typing import Any, Optional

__all__ = ["MetricsServer", "serve", "metric_help"]


def metric_help(key: str) -> str:
    """The HELP text of a metric (the C++ exposition's wording, shortened)."""
    fixed = {
        "clients": "Updates in the round.",
        "accepted": "Clients accepted in the round.",
        "rejected": "Clients rejected in the round.",
        "rejected_fraction": "Share of the round's clients rejected.",
        "aggregate_norm": "L2 norm of the round's aggregate.",
        "previous_aggregate_norm": "L2 norm of the previous round's aggregate.",
        "aggregate_cosine": "Cosine between this round's aggregate and the previous one.",
        "new_client_fraction": "Share of the round's client ids never seen before.",
        "detect_baseline_widened": "Clients judged with their own norm or sign baseline.",
        "detect_baseline_spared": (
            "Clients beyond the round's norm or sign cut kept by their own baseline."
        ),
        "detect_norm_loners": (
            "Loners whose norm alone fired, judged by the other signals instead."
        ),
    }
    return fixed.get(key, f"fedguard round metric {key}.")


class MetricsServer:
    """A Prometheus endpoint serving the last round's metrics (a ``prometheus_client``
    collector on its own registry, served by ``prometheus_client.start_http_server``).

    Exposes ``fedguard_round``, one gauge ``fedguard_<metric>`` per finite metric,
    ``fedguard_alerts_total{metric,method}`` (counter, from ``Engine.alert_counts()``) and
    ``fedguard_alert{metric,method}`` (1 when the detector fired in the last round).
    """

    def __init__(self, port: int = 0, address: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self._lock = threading.Lock()
        self._round: Optional[int] = None
        self._metrics: dict = {}
        self._alert_counts: dict = {}
        self._fired: set = set()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        self.address = address
        self.port = int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/metrics"

    def update(self, result: Any, engine: Any = None, round: Optional[int] = None) -> None:
        """Publishes a round: its metrics and alerts; with ``engine``, the round number
        (``engine.rounds_processed - 1`` unless ``round`` is given) and the alert counts."""
        counts = dict(engine.alert_counts()) if engine is not None else None
        if round is None and engine is not None:
            round = engine.rounds_processed - 1
        with self._lock:
            self._metrics = {k: float(v) for k, v in result.metrics.items() if math.isfinite(v)}
            self._fired = {(a["metric"], a["method"]) for a in result.alerts}
            if counts is not None:
                self._alert_counts = counts
            self._round = round

    def collect(self):  # the prometheus_client collector protocol
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            metrics, fired, counts, rnd = dict(self._metrics), set(self._fired), dict(self._alert_counts), self._round
        if rnd is not None:
            yield GaugeMetricFamily("fedguard_round", "Index of the round these metrics describe.", value=rnd)
        for key, value in sorted(metrics.items()):
            yield GaugeMetricFamily(f"fedguard_{key}", metric_help(key), value=value)
        if counts:
            total = CounterMetricFamily("fedguard_alerts", "Alerts raised by a change-point detector.",
                                        labels=["metric", "method"])
            alert = GaugeMetricFamily("fedguard_alert", "1 when the detector raised an alert in the last round.",
                                      labels=["metric", "method"])
            for key, count in sorted(counts.items()):
                metric, method = key.rsplit("/", 1)
                total.add_metric([metric, method], count)
                alert.add_metric([metric, method], 1.0 if (metric, method) in fired else 0.0)
            yield total
            yield alert

    def close(self) -> None:
        """Stops the HTTP server."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve(port: int = 0, address: str = "127.0.0.1") -> MetricsServer:
    """Starts the pull endpoint on ``address:port`` (port 0: a free one, see ``.port``).
    Bind to a non-loopback address only where the network is trusted: the endpoint has no
    authentication."""
    return MetricsServer(port, address)
