"""The Prometheus metrics of a served version, with ``prometheus-client`` (the ecosystem's library).

Every series carries ``model`` and ``version`` labels, the process collector's too, so one Prometheus can
scrape several versions side by side. Two kinds:

* counted on the request's path, each a dict lookup and an increment: requests by endpoint and status, the
  latency histogram, rows scored, errors by kind, requests in flight, labelled feedback rows;
* read at scrape time from the window's last snapshot (``statistics.Snapshot``, made off the request path):
  MLWatcher's statistics per input and output, the values' frequencies, unseen categories, PSI and verdict
  per input, the training statistics they are compared with, accuracy, AUC and the rate of each predicted
  class.

Each server has its own registry (no global state: two servers in one test process do not collide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jupyter_mlops.monitor import drift
from jupyter_mlops.serving.statistics import NUMERIC_STATS, Snapshot

PREFIX = "mlops_serving"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ENDPOINTS = frozenset({"/invocations", "/ping", "/health", "/version", "/feedback", "/metrics", "/monitoring"})
OTHER_ENDPOINT = "other"

BAD_PAYLOAD = "bad_payload"            # not JSON, not a format MLflow reads, unsupported content type
SCHEMA_VIOLATION = "schema_violation"  # columns or types the model's signature refuses
MODEL_EXCEPTION = "model_exception"    # the model raised
PAYLOAD_TOO_LARGE = "payload_too_large"
TIMEOUT = "timeout"                    # MLflow's own request timeout (504)
BAD_FEEDBACK = "bad_feedback"          # a /feedback body that cannot be read
UNKNOWN_FEEDBACK_ID = "unknown_feedback_id"
ERROR_KINDS = (BAD_PAYLOAD, SCHEMA_VIOLATION, MODEL_EXCEPTION, PAYLOAD_TOO_LARGE, TIMEOUT, BAD_FEEDBACK,
               UNKNOWN_FEEDBACK_ID)
VERDICTS = (drift.OK, drift.WARN, drift.DRIFT, drift.UNKNOWN)


def endpoint_label(path: str) -> str:
    """The endpoint label of a request path: one of ours, else ``other`` (bounded label values)."""
    return path if path in ENDPOINTS else OTHER_ENDPOINT


class ServingMetrics:
    """The registry of one server and the request-path counters, children bound once per label set."""

    def __init__(self, model: str, version: str, info: Mapping[str, str],
                 snapshot: Callable[[], tuple[Snapshot | None, Any]]) -> None:
        self.labels = {"model": model, "version": version}
        self.registry = CollectorRegistry()
        base = ("model", "version")
        r = self.registry
        Gauge(f"{PREFIX}_model_info", "The served version and where it came from (value 1)",
              [*base, *info], registry=r).labels(model, version, *info.values()).set(1)
        self._requests = Counter(f"{PREFIX}_requests", "HTTP requests by endpoint and status",
                                 [*base, "endpoint", "status"], registry=r)
        self._latency = Histogram(f"{PREFIX}_request_duration_seconds", "Time from request to the response's "
                                  "last byte, by endpoint", [*base, "endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter(f"{PREFIX}_rows", "Rows scored by /invocations", base, registry=r).labels(model, version)
        self._errors = Counter(f"{PREFIX}_errors", "Refused or failed requests by kind", [*base, "kind"], registry=r)
        self.in_flight = Gauge(f"{PREFIX}_requests_in_flight", "Requests being answered now", base,
                               registry=r).labels(model, version)
        self.feedback_rows = Counter(f"{PREFIX}_feedback_rows", "Rows whose true label arrived by /feedback",
                                     base, registry=r).labels(model, version)
        self.dropped_rows = Counter(f"{PREFIX}_window_dropped_rows", "Scored rows left out of the window's "
                                    "statistics because the monitor fell behind", base,
                                    registry=r).labels(model, version)
        for kind in ERROR_KINDS:  # every kind exported from the start: rate() needs the zero
            self._errors.labels(model, version, kind)
        for endpoint in ("/invocations", "/feedback"):
            self._latency.labels(model, version, endpoint)
        self._request_children: dict[tuple[str, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        r.register(LabelledCollector(ProcessCollector(registry=None), self.labels))
        r.register(WindowCollector(self.labels, snapshot))

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, str(status))
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._requests.labels(*self.labels.values(), *key)
        child.inc()
        latency = self._latency_children.get(endpoint)
        if latency is None:
            latency = self._latency_children[endpoint] = self._latency.labels(*self.labels.values(), endpoint)
        latency.observe(seconds)

    def error(self, kind: str) -> None:
        self._errors.labels(*self.labels.values(), kind).inc()


class LabelledCollector(Collector):
    """Another collector's metrics with constant labels added (the process collector has none of its own)."""

    def __init__(self, inner: Collector, labels: Mapping[str, str]) -> None:
        self._inner, self._labels = inner, dict(labels)

    def collect(self) -> Iterable[Metric]:
        for family in self._inner.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                out.add_sample(s.name, {**s.labels, **self._labels}, s.value, s.timestamp)
            yield out


class WindowCollector(Collector):
    """The window's snapshot as gauges, read at scrape time (the snapshot is made by the monitor thread)."""

    def __init__(self, labels: Mapping[str, str], snapshot: Callable[[], tuple[Snapshot | None, Any]]) -> None:
        self._labels = dict(labels)
        self._snapshot = snapshot

    def _family(self, name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=[*self._labels, *extra])

    def collect(self) -> Iterable[Metric]:
        snap, reference = self._snapshot()
        if snap is None:
            return
        base = list(self._labels.values())

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
            g = self._family(name, doc)
            if value is not None:
                g.add_metric(base, value)
            return g

        yield gauge("window_rows", "Rows the sliding window stands for", snap.window_rows)
        yield gauge("window_sample_rows", "Rows of the window's seeded reservoir sample", snap.sample_rows)
        yield gauge("window_scored_rows", "Rows the window has taken in since it was made (restarts included)",
                    snap.total_rows)
        for side, stats, label in (("input", snap.input_stats, "column"), ("output", snap.output_stats, "output")):
            yield from self._stats(side, label, stats, base)
        if reference is not None:
            yield from self._training(reference, base)
        for side, result, label in (("input", snap.drift, "column"), ("output", snap.output_drift, "output")):
            if result is not None:
                yield from self._drift(side, label, result, base)
        quality = snap.quality
        yield gauge("feedback_labelled_rows", "Labelled rows in the feedback window", quality.get("labelled_rows"))
        yield gauge("feedback_accuracy", "Share of labelled rows predicted right", quality.get("accuracy"))
        yield gauge("feedback_auc", "ROC AUC of the positive class's probability on labelled rows", quality.get("auc"))
        rates = self._family("predicted_class_rate", "Share of each predicted class among the window's rows",
                             ("class",))
        for value, rate in quality.get("predicted_class_rate", {}).items():
            rates.add_metric([*base, value], rate)
        yield rates

    def _stats(self, side: str, label: str, stats: Mapping[str, dict], base: list[str]) -> Iterable[Metric]:
        stat = self._family(f"{side}_stat", f"MLWatcher statistics of each {side} over the window's sample",
                            (label, "stat"))
        freq = self._family(f"{side}_value_frequency", f"Frequency of each frequent value of a discrete {side}",
                            (label, "value"))
        unseen = self._family(f"{side}_unseen_fraction", f"Share of rows whose {side} category training never had",
                              (label,))
        for name, s in stats.items():
            for key in (*NUMERIC_STATS, "nulls", "null_fraction"):
                if s.get(key) is not None:
                    stat.add_metric([*base, name, key], float(s[key]))
            for value, f in s.get("frequencies", {}).items():
                freq.add_metric([*base, name, value], f)
            if "unseen_fraction" in s:
                unseen.add_metric([*base, name], s["unseen_fraction"])
        yield from (stat, freq, unseen)

    def _training(self, reference: Any, base: list[str]) -> Iterable[Metric]:
        for side, fields, label in (("input", reference.fields, "column"), ("output", reference.outputs, "output")):
            g = self._family(f"{side}_training_stat", f"The same statistics of each {side} on the training data",
                             (label, "stat"))
            for name, f in fields.items():
                for key in NUMERIC_STATS:
                    if f.get(key) is not None:
                        g.add_metric([*base, name, key], float(f[key]))
            yield g

    def _drift(self, side: str, label: str, result: drift.InputDrift, base: list[str]) -> Iterable[Metric]:
        psi = self._family(f"{side}_drift_psi", f"PSI of each {side} against training (0.1 warn, 0.2 drift)",
                           (label,))
        verdict = self._family(f"{side}_drift_verdict", f"Drift verdict of each {side} (1 for the current one)",
                               (label, "verdict"))
        for c in result.columns:
            if c.psi is not None:
                psi.add_metric([*base, c.name], c.psi)
            for v in VERDICTS:
                verdict.add_metric([*base, c.name, v], 1.0 if c.verdict == v else 0.0)
        yield from (psi, verdict)
