"""Real parts for the push-sink tests: a loopback webhook receiver, a feed farm, configs,
and consumers of the real Redis and NATS JetStream at 127.0.0.1 (names unique per test)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
SECRET = "s3cret-for-tests"


def free_port() -> int:
    """A loopback port nothing listens on (a sink that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["items"])

    def signed_by(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-ingest-signature-256", ""))


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; answers `statuses` in turn
    (then 200); with `hang` set, holds every request open until it is cleared."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    got_one: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.deliveries.append(Delivery(headers, body))
                receiver.got_one.set()
                while receiver.hang.is_set():
                    threading.Event().wait(0.05)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (killed while this one hung)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def keys(self) -> list[str]:
        return [item["key"] for d in self.deliveries for item in d.items]

    def stop(self) -> None:
        self.hang.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def write_config(path: Path, sinks: list[dict[str, Any]]) -> Path:
    """A config file with these [[sinks]] tables (values: str, int, bool)."""
    lines = []
    for sink in sinks:
        lines.append("[[sinks]]")
        for key, value in sink.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ Redis


def redis_entries(stream: str) -> list[dict[str, str]]:
    """Every entry of the Redis stream, fields decoded."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return [fields for _id, fields in client.xrange(stream)]
    finally:
        client.close()


def redis_delete(stream: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(stream)
    finally:
        client.close()


# ------------------------------------------------------------------ NATS JetStream


def nats_stream(subject: str) -> str:
    """Create a JetStream stream on `subject` (a duplicate window for Nats-Msg-Id)."""
    from nats.js.api import StreamConfig

    name = subject.replace(".", "_")

    async def make() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().add_stream(
                StreamConfig(name=name, subjects=[subject], duplicate_window=600.0)
            )
        finally:
            await nc.close()

    asyncio.run(make())
    return name


def nats_messages(stream: str) -> list[tuple[str, dict[str, Any]]]:
    """(Nats-Msg-Id, article) of every message in the stream, in order."""

    async def read() -> list[tuple[str, dict[str, Any]]]:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                if info.state.messages == 0:
                    break
                msg = await js.get_msg(stream, seq)
                out.append((msg.headers["Nats-Msg-Id"], json.loads(msg.data)))
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def nats_delete(stream: str) -> None:
    async def drop() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:
            pass
        finally:
            await nc.close()

    asyncio.run(drop())
