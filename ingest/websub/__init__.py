"""WebSub (W3C, https://www.w3.org/TR/websub/): feeds whose hub pushes new entries.

When `websub_callback_url` is set, `ingest serve` is the subscriber:

    feed names a hub (_links.hub_links: Link header, <link rel="hub">, JSON Feed hubs)
      | subscribe          POST to the hub: topic, a callback URL of its own, a secret
      | hub verifies       GET callback?hub.challenge=... echoed (_routes.verify_intent)
      | hub pushes         POST callback, X-Hub-Signature checked (_decide.signature_ok)
      | parse | normalize | dedupe | store   the pipeline's functions (_push.store_pushed)
      | renew before the lease ends; unsubscribe when the feed is removed (_decide.plan)

The feed is meanwhile polled at its maximum interval (`schedule.while_pushed`, through
`Feed.push_until`) and on its normal schedule again once the lease lapses.

_links.py       where a feed names its hub and topic (pure)
_decide.py      plan, verify, signature_ok (pure)
_subscriber.py  the background task of serve (the shell around plan)
_routes.py      the callback routes
_push.py        a pushed body into the store
"""

from __future__ import annotations

from ._decide import Action, Timing, Verdict, plan, signature_ok, verify
from ._links import Advert, hub_links, link_header
from ._subscriber import LEASE_S, Subscriber, WebSubConfig

__all__ = [
    "LEASE_S",
    "Action",
    "Advert",
    "Subscriber",
    "Timing",
    "Verdict",
    "WebSubConfig",
    "hub_links",
    "link_header",
    "plan",
    "signature_ok",
    "verify",
]
