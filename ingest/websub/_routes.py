"""The callback routes a hub calls, `/websub/{callback_id}` (one URL per subscription;
outside the bearer token and the OpenAPI document: hubs carry neither):

    GET   verification of intent (WebSub §5.3): the challenge echoed for a request this
          subscriber made, 404 otherwise; a denial (§5.2) is noted
    POST  content distribution (§7): checked with X-Hub-Signature, then parse | normalize |
          dedupe | store; a bad or missing signature is acknowledged (2xx, §8) and ignored
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ingest.settings import Settings
from ingest.timeutil import utcnow

from ._decide import signature_ok, verify
from ._push import store_pushed

__all__ = ["PREFIX", "router"]

log = logging.getLogger("ingest.websub")
PREFIX = "/websub/"

router = APIRouter(include_in_schema=False)


def _store(request: Request):  # type: ignore[no-untyped-def]
    from ingest.serve.stores import store_for

    return store_for(request)


@router.get(PREFIX + "{callback_id}")
def verify_intent(callback_id: str, request: Request) -> Response:
    q = request.query_params
    store = _store(request)
    sub = store.subscription(callback_id)
    mode = q.get("hub.mode", "")
    verdict = verify(
        sub, mode, q.get("hub.topic", ""), q.get("hub.lease_seconds"), q.get("hub.reason"),
        utcnow(),
    )  # fmt: skip
    if verdict.status != 200 or sub is None:
        log.warning("websub: verification refused (%s): %s", callback_id[:6], verdict.why)
        return PlainTextResponse("no such request\n", status_code=404)
    if verdict.save is not None:
        store.save_subscription(verdict.save)
    if verdict.drop:
        store.drop_subscription(sub.feed_url)
    log.info("websub: %s: %s verified by %s", sub.feed_url, mode, sub.hub)
    return PlainTextResponse(q.get("hub.challenge", ""))


async def _body(request: Request, cap: int) -> bytes | None:
    """The request's body, or None past `cap` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


@router.post(PREFIX + "{callback_id}")
async def distribute(callback_id: str, request: Request) -> Response:
    settings: Settings = request.app.state.websub.settings
    body = await _body(request, settings.max_body_bytes)
    if body is None:
        return PlainTextResponse("too large\n", status_code=413)
    return await run_in_threadpool(_deliver, request, callback_id, body)


def _deliver(request: Request, callback_id: str, body: bytes) -> Response:
    settings: Settings = request.app.state.websub.settings
    store = _store(request)
    sub = store.subscription(callback_id)
    feed = store.get_feed(sub.feed_url) if sub is not None else None
    if sub is None or feed is None:  # 410: the hub may drop the subscription (§7)
        return PlainTextResponse("no such subscription\n", status_code=410)
    ok, why = signature_ok(request.headers.get("x-hub-signature"), body, sub.secret)
    if not ok:
        log.warning("websub: push for %s ignored: %s", sub.feed_url, why)
        return Response(status_code=202)
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() == "content-type"}
    store_pushed(store, feed, body, headers, settings)
    return Response(status_code=202)
