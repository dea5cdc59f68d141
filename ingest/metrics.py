"""Prometheus metrics and the /metrics + /healthz endpoint of the daemon."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .errors import ConfigError

if TYPE_CHECKING:
    from .pipeline import FeedOutcome
    from .sinks import SinkBacklog, SinkResult

__all__ = ["Metrics"]


class Metrics:
    """The daemon's metrics, on a private registry, and a tiny HTTP server for them."""

    def __init__(self, healthy_within_s: float = 120.0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fetches = Counter("ingest_fetches", "Feed fetches by outcome", ["outcome"], registry=r)
        self.errors = Counter("ingest_fetch_errors", "Failed fetches by kind", ["kind"], registry=r)
        self.latency = Histogram(
            "ingest_fetch_duration_seconds",
            "Time to fetch, parse and store one feed",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.bytes = Counter("ingest_fetch_bytes", "Bytes read from feeds", registry=r)
        self.articles = Counter("ingest_articles", "Articles written", ["kind"], registry=r)
        self.feeds = Gauge("ingest_feeds", "Feeds by status", ["status"], registry=r)
        self.queue_lag = Gauge(
            "ingest_queue_lag_seconds", "How late the most overdue feed is", registry=r
        )
        self.last_tick = Gauge("ingest_last_tick_timestamp", "End of the last tick", registry=r)
        self.sink_backlog = Gauge(
            "ingest_sink_backlog", "Articles waiting in a push sink's outbox", ["sink"], registry=r
        )
        self.sink_dead = Gauge(
            "ingest_sink_dead_letters", "A push sink's dead letters", ["sink"], registry=r
        )
        self.sink_delivered = Counter(
            "ingest_sink_delivered", "Articles delivered to a push sink", ["sink"], registry=r
        )
        self.sink_failures = Counter(
            "ingest_sink_failures", "Failed delivery attempts per push sink", ["sink"], registry=r
        )
        self.healthy_within_s = healthy_within_s
        self._last_tick_mono = time.monotonic()
        self._server: ThreadingHTTPServer | None = None

    def observe(self, o: FeedOutcome) -> None:
        self.fetches.labels(o.outcome).inc()
        if o.error_kind:
            self.errors.labels(o.error_kind).inc()
        self.latency.observe(o.duration_s)
        self.bytes.inc(o.bytes)
        self.articles.labels("new").inc(o.new)
        self.articles.labels("updated").inc(o.updated)

    def tick_done(self, feeds_by_status: dict[str, int], lag_s: float) -> None:
        for status in ("ok", "error", "gone", "disabled"):
            self.feeds.labels(status).set(feeds_by_status.get(status, 0))
        self.queue_lag.set(max(0.0, lag_s))
        self.last_tick.set(time.time())
        self._last_tick_mono = time.monotonic()

    def sinks_done(self, results: list[SinkResult], backlogs: list[SinkBacklog]) -> None:
        for r in results:
            self.sink_delivered.labels(r.sink).inc(r.delivered)
            if r.error is not None:
                self.sink_failures.labels(r.sink).inc()
        for b in backlogs:
            self.sink_backlog.labels(b.sink).set(b.pending)
            self.sink_dead.labels(b.sink).set(b.dead)

    def health(self) -> tuple[bool, dict[str, object]]:
        age = time.monotonic() - self._last_tick_mono
        ok = age <= self.healthy_within_s
        return ok, {"status": "ok" if ok else "stalled", "last_tick_age_s": round(age, 1)}

    def serve(self, host: str, port: int) -> int:
        """Start serving in a thread; returns the bound port (useful with port 0)."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    body = generate_latest(metrics.registry)
                    self._send(200, CONTENT_TYPE_LATEST, body)
                elif self.path.split("?")[0] == "/healthz":
                    ok, data = metrics.health()
                    self._send(200 if ok else 503, "application/json", json.dumps(data).encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                "command line",
                "--metrics-port",
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another daemon "
                "running? choose another port)",
            ) from None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
