"""Push sinks: new and revised articles pushed to a webhook, a Redis stream or a
NATS JetStream subject, at least once, with an idempotency key (article id + content hash).

    [[sinks]] in the config (_config.load_sinks)      -> SinkSpec
    the store's write -> outbox rows, same transaction (storage.interface.Outbox)
    after a run / a daemon pass: deliver (_deliver)   -> outbox | records | send | ack

A sink that is down never fails ingestion: its items wait in the outbox (backlog in
`ingest stats`, `ingest sinks status` and the daemon's metrics), are retried with backoff and
after `max_attempts` failures move to the dead letters (`ingest sinks retry`).
"""

from __future__ import annotations

from ._config import SINK_TYPES, SinkSpec, load_sinks, sink_specs
from ._deliver import SinkResult, deliver, retry_delay
from ._senders import SIGNATURE_HEADER, SinkError, sign
from .types import OutboxItem, SinkBacklog, idempotency_key

__all__ = [
    "SIGNATURE_HEADER",
    "SINK_TYPES",
    "OutboxItem",
    "SinkBacklog",
    "SinkError",
    "SinkResult",
    "SinkSpec",
    "deliver",
    "idempotency_key",
    "load_sinks",
    "retry_delay",
    "sign",
    "sink_specs",
]
