"""Logging: one structured line per fetch, as text (key=value) or JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from .timeutil import to_iso

if TYPE_CHECKING:
    from .pipeline import FeedOutcome

__all__ = ["fetch_fields", "log_fetch", "setup_logging"]

log = logging.getLogger("ingest")


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": to_iso_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += " " + " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        return line


def to_iso_ms(created: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _kv(value: object) -> str:
    text = "" if value is None else str(value)
    if not text or any(c in text for c in ' "='):
        return json.dumps(text, ensure_ascii=False)
    return text


def setup_logging(fmt: str = "text", level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("ingest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def fetch_fields(o: FeedOutcome) -> dict[str, Any]:
    return {
        "url": o.url,
        "outcome": o.outcome,
        "status": o.status,
        "bytes": o.bytes,
        "new": o.new,
        "updated": o.updated,
        "duration_ms": round(o.duration_s * 1000),
        "next_poll": to_iso(o.decision.next_poll_at),
        "reason": o.decision.reason,
        "worker": os.getpid(),
        **({"error": o.error, "error_kind": o.error_kind} if o.error else {}),
    }


def log_fetch(o: FeedOutcome) -> None:
    """The one log line per fetch: url, status, bytes, new, updated, duration, next poll, reason."""
    level = logging.WARNING if o.outcome == "error" else logging.INFO
    log.log(level, "fetch", extra={"fields": fetch_fields(o)})
