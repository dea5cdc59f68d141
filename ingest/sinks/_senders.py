"""One sender per sink type: `send(batch)` delivers (item, record) pairs or raises
SinkError with the reason in words. Each is a thin shell over its client library
(httpx through the project's guarded transport, redis-py, nats-py), imported only when a
sink of its type is configured.

    webhook  POST {"sink", "items": [{"key", "kind", "article"}]} as JSON, signed with
             X-Ingest-Signature-256: sha256=<HMAC-SHA256 of the body, hex> when `secret`
    redis    XADD <stream> [MAXLEN ~ n] key=<key> kind=<kind> article=<JSON>, one an article
    nats     JetStream publish to <subject>, the article JSON, header Nats-Msg-Id: <key>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ingest.errors import IngestError, in_words
from ingest.models import ArticleRecord

from ._config import SinkSpec, shown_url
from .types import OutboxItem

if TYPE_CHECKING:
    from ingest.settings import Settings

__all__ = ["SIGNATURE_HEADER", "Sender", "SinkError", "make_sender", "sign"]

SIGNATURE_HEADER = "X-Ingest-Signature-256"
Batch = Sequence[tuple[OutboxItem, ArticleRecord]]


class SinkError(IngestError):
    """A delivery attempt failed; str() is the reason, in words."""


class Sender(Protocol):
    async def send(self, batch: Batch) -> None: ...

    async def aclose(self) -> None: ...


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _why(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused") where
    the chain of causes has them (client libraries wrap them in long messages)."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        if isinstance(cur, OSError) and (cur.errno or cur.strerror):
            return os.strerror(cur.errno) if cur.errno else str(cur.strerror)
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return in_words(exc)


def _article_json(record: ArticleRecord) -> str:
    return json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":"))


def make_sender(spec: SinkSpec, settings: Settings) -> Sender:
    if spec.type == "webhook":
        return _Webhook(spec, settings)
    if spec.type == "redis":
        return _Redis(spec)
    return _Nats(spec)


class _Webhook:
    def __init__(self, spec: SinkSpec, settings: Settings) -> None:
        import httpx

        from ingest.transport import TLS, GuardedTransport

        self.spec = spec
        self.allow_private = spec.allow_private_network or settings.allow_private_networks
        self.proxy = settings.proxy or None
        tls = TLS(settings.ca_bundle, os.environ)
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(tls, per_host=1),
            timeout=httpx.Timeout(spec.timeout_s),
            headers={"User-Agent": settings.user_agent},
            follow_redirects=False,
            trust_env=False,  # the transport reads the proxy variables itself
        )

    async def send(self, batch: Batch) -> None:
        import httpx

        from ingest.transport import ALLOW_PRIVATE, PROXY

        items = [
            f'{{"key":{json.dumps(item.key)},"kind":"{item.kind}","article":{_article_json(r)}}}'
            for item, r in batch
        ]
        body = f'{{"sink":{json.dumps(self.spec.name)},"items":[{",".join(items)}]}}'.encode()
        headers = {"Content-Type": "application/json"}
        if self.spec.secret:
            headers[SIGNATURE_HEADER] = sign(self.spec.secret, body)
        request = self.client.build_request(
            "POST",
            self.spec.url,
            content=body,
            headers=headers,
            extensions={ALLOW_PRIVATE: self.allow_private, PROXY: self.proxy},
        )
        try:
            response = await self.client.send(request)
            await response.aclose()
        except httpx.HTTPError as exc:
            raise SinkError(f"{shown_url(self.spec.url)}: {in_words(exc)}") from exc
        except Exception as exc:  # netguard's refusal (a private address) among others
            raise SinkError(f"{shown_url(self.spec.url)}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SinkError(f"{shown_url(self.spec.url)} answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self.client.aclose()


class _Redis:
    def __init__(self, spec: SinkSpec) -> None:
        import redis.asyncio

        self.spec = spec
        self.client: Any = redis.asyncio.Redis.from_url(
            spec.url,
            socket_timeout=spec.timeout_s,
            socket_connect_timeout=spec.timeout_s,
            retry_on_timeout=False,
        )

    async def send(self, batch: Batch) -> None:
        import redis

        pipe = self.client.pipeline(transaction=False)  # one round trip for the batch
        for item, record in batch:
            fields = {"key": item.key, "kind": item.kind, "article": _article_json(record)}
            pipe.xadd(self.spec.stream, fields, maxlen=self.spec.maxlen, approximate=True)
        try:
            await pipe.execute()
        except redis.ConnectionError as exc:
            raise SinkError(f"{shown_url(self.spec.url)}: cannot connect: {_why(exc)}") from exc
        except (redis.RedisError, OSError) as exc:
            raise SinkError(f"{shown_url(self.spec.url)}: {in_words(exc)}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


class _Nats:
    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.nc: Any = None
        self.js: Any = None
        self.last_error: Exception | None = None

    async def _connect(self) -> Any:
        import nats

        async def keep(exc: Exception) -> None:  # reported by `send`, not logged
            self.last_error = exc

        if self.js is None:
            # one more try, 0.1 s later, then NoServersError (0 would mean: try forever)
            self.nc = await nats.connect(
                self.spec.url,
                connect_timeout=self.spec.timeout_s,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=keep,
            )
            self.js = self.nc.jetstream(timeout=self.spec.timeout_s)
        return self.js

    async def send(self, batch: Batch) -> None:
        try:
            js = await self._connect()
            for item, record in batch:
                await js.publish(
                    self.spec.subject,
                    _article_json(record).encode(),
                    headers={"Nats-Msg-Id": item.key, "Ingest-Kind": item.kind},
                )
        except Exception as exc:
            import nats.errors

            reason = str(exc) or in_words(exc)
            if isinstance(exc, nats.errors.NoServersError | OSError):
                reason = f"cannot connect: {_why(self.last_error or exc)}"
            elif isinstance(exc, nats.js.errors.NoStreamResponseError):
                reason = f"no JetStream stream takes subject {self.spec.subject}"
            raise SinkError(f"{shown_url(self.spec.url)}: {reason}") from exc

    async def aclose(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
