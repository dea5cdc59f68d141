"""The subscriber's background task in `ingest serve`: each tick, `plan` says what to do
about each feed and this does it (fetch a feed to find its hub, ask the hub to subscribe,
renew or unsubscribe, forget). The hub's answers arrive at the callback routes (_routes.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.errors import FeedError
from ingest.models import Feed, FeedOptions, Subscription
from ingest.settings import Settings
from ingest.timeutil import utcnow
from storage import Store

from ._decide import Action, Timing, plan
from ._links import hub_links

if TYPE_CHECKING:
    from ingest.fetch import Fetcher

__all__ = ["LEASE_S", "Subscriber", "WebSubConfig"]

log = logging.getLogger("ingest.websub")

LEASE_S = 10 * 86400  # the lease asked for; the hub decides (WebSub §5.1)


@dataclass(frozen=True, slots=True)
class WebSubConfig:
    """What `ingest serve` needs to subscribe: the settings (websub_callback_url set), how
    often the subscriber looks (`tick_s`), and its timing rules."""

    settings: Settings
    tick_s: float = 60.0
    timing: Timing = field(default_factory=Timing)
    lease_s: int = LEASE_S

    def callback(self, callback_id: str) -> str:
        return f"{self.settings.websub_callback_url}/websub/{callback_id}"


class Subscriber:
    """Runs `plan` every `tick_s` against its own store; `run` until cancelled."""

    def __init__(self, opener: Callable[[], Store], config: WebSubConfig) -> None:
        self.config = config
        self._open = opener
        self._store: Store | None = None
        self._leading: bool | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._open()
        return self._store

    async def run(self) -> None:
        from ingest.fetch import Fetcher

        async with Fetcher(self.config.settings) as fetcher:
            try:
                while True:
                    try:
                        await self.tick(fetcher)
                    except Exception:  # a store hiccup: the next tick tries again
                        log.exception("websub: tick failed")
                    await asyncio.sleep(self.config.tick_s)
            finally:
                if self._store is not None:
                    self._store.close()

    async def tick(self, fetcher: Fetcher) -> list[Action]:
        store = self.store
        leads = store.lead_subscriptions()
        if leads != self._leading:
            self._leading = leads
            log.info(
                "websub: %s",
                "this process subscribes for the store"
                if leads
                else "another process subscribes for this store: this one only answers hubs",
            )
        if not leads:
            return []
        actions = plan(store.feeds(), store.subscriptions(), utcnow(), self.config.timing)
        for action in actions:
            await self._do(action, fetcher)
        return actions

    async def _do(self, action: Action, fetcher: Fetcher) -> None:
        sub = action.sub
        if action.kind == "forget":
            self.store.drop_subscription(action.feed_url)
            log.info("websub: %s: subscription forgotten", action.feed_url)
        elif action.kind == "look":
            assert action.feed is not None
            await self._look(action.feed, sub, fetcher)
        elif action.kind in ("renew", "unsubscribe"):
            assert sub is not None
            await self._ask(sub, action.kind, fetcher, action.feed)

    async def _look(self, feed: Feed, sub: Subscription | None, fetcher: Fetcher) -> None:
        now = utcnow()
        base = Subscription(
            feed.url, sub.callback_id if sub else secrets.token_urlsafe(18), "nohub",
            checked_at=now,
        )  # fmt: skip
        result = await fetcher.fetch(Feed(url=feed.url, options=feed.options))
        if result.error is not None:
            why = result.error.reason if isinstance(result.error, FeedError) else str(result.error)
            self._save(dataclasses.replace(base, state="failed", error=f"feed: {why}"))
            return
        advert = hub_links(result.body or b"", result.headers, feed.url)
        if advert is None:
            self._save(base)
            return
        fresh = dataclasses.replace(
            base, state="pending", hub=advert.hubs[0], topic=advert.topic,
            secret=secrets.token_hex(32),
        )  # fmt: skip
        await self._ask(fresh, "subscribe", fetcher, feed)

    async def _ask(self, sub: Subscription, mode: str, fetcher: Fetcher, feed: Feed | None) -> None:
        """POST the request to the hub (subscribe, a renewal, unsubscribe) and note it."""
        assert sub.hub and sub.topic
        cfg = self.config
        hub_mode = "unsubscribe" if mode == "unsubscribe" else "subscribe"
        form = {
            "hub.mode": hub_mode,
            "hub.topic": sub.topic,
            "hub.callback": cfg.callback(sub.callback_id),
        }
        if hub_mode == "subscribe":
            form |= {"hub.secret": sub.secret or "", "hub.lease_seconds": str(cfg.lease_s)}
        options = feed.options if feed is not None else FeedOptions()
        # a removed feed's options are gone: a hub that verified the subscription was asked
        # through the address guard under them, so it may be asked again
        allow = options.allow_private_network or (feed is None and sub.state == "active")
        # noted before asking: the hub may verify before its answer to the POST arrives
        start = utcnow()
        state = "unsubscribing" if mode == "unsubscribe" else sub.state
        self.store.save_subscription(dataclasses.replace(sub, state=state, requested_at=start))
        try:
            status, text = await fetcher.post_form(
                sub.hub, form, allow_private=allow, options=options
            )
            why = None if 200 <= status < 300 else f"hub {sub.hub} answered HTTP {status}: {text}"
        except FeedError as exc:
            why = f"hub {sub.hub}: {exc.reason}"
        if why is None:
            log.info("websub: %s: %s asked of %s", sub.feed_url, mode, sub.hub)
            return
        log.warning("websub: %s: %s failed: %s", sub.feed_url, mode, why)
        current = self.store.subscription(sub.callback_id)
        if current is None:
            return
        if mode == "unsubscribe":  # the hub will not hear of it: the lease lapses
            self.store.drop_subscription(sub.feed_url)
        elif current.state == "active":  # a renewal: active until the lease ends, retried
            self._save(dataclasses.replace(current, error=why))
        elif current.state == "pending":
            self._save(dataclasses.replace(current, state="failed", checked_at=start, error=why))

    def _save(self, sub: Subscription) -> None:
        self.store.save_subscription(sub)
        if sub.state in ("nohub", "failed"):
            log.info("websub: %s: %s", sub.feed_url, sub.error or "names no hub")
