"""What a final HTTP response stands for (pure, table-tested): the error of a status, the
bot-protection wall that answered, the seconds a Retry-After asks for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from .errors import (
    BotWallError,
    CredentialsError,
    FeedError,
    GoneError,
    HTTPStatusError,
    RateLimitedError,
)

__all__ = ["PROXY_AUTH", "SNIFF_BYTES", "detect_bot_wall", "parse_retry_after", "status_error"]

SNIFF_BYTES = 64 * 1024  # how much of an error page is read to recognise a bot wall


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date. None when
    absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


# (header name, predicate on its lower-cased value, wall name)
_WALL_HEADERS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("cf-mitigated", lambda v: "challenge" in v, "Cloudflare"),
    ("x-vercel-mitigated", lambda v: "challenge" in v, "Vercel"),
    ("x-amzn-waf-action", lambda v: v in ("challenge", "captcha"), "AWS WAF"),
    ("x-datadome", lambda v: True, "DataDome"),
    ("x-sucuri-block", lambda v: True, "Sucuri"),
    ("server", lambda v: v.startswith("ddos-guard"), "DDoS-Guard"),
)
# (marker in the first bytes of the page, lower-cased, wall name)
_WALL_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"cf-browser-verification", "Cloudflare"),
    (b"_cf_chl_opt", "Cloudflare"),
    (b"/cdn-cgi/challenge-platform/", "Cloudflare"),
    (b"<title>just a moment...</title>", "Cloudflare"),
    (b"<title>attention required! | cloudflare</title>", "Cloudflare"),
    (b"captcha-delivery.com", "DataDome"),
    (b"sucuri website firewall", "Sucuri"),
    (b"incapsula incident id", "Imperva Incapsula"),
    (b"_incapsula_resource", "Imperva Incapsula"),
    (b"px-captcha", "PerimeterX (HUMAN)"),
    (b"ddos-guard", "DDoS-Guard"),
    (b"awswafintegration", "AWS WAF"),
    (b"vercel security checkpoint", "Vercel"),
    (b"checking your browser before accessing", "a browser check"),
)


def detect_bot_wall(status: int, headers: Mapping[str, str], body_head: bytes) -> str | None:
    """The name of the bot-protection wall that answered, or None. `headers` lower-cased.

    A challenge comes as 403 / 429 / 503 (Cloudflare, DataDome, ...), 202 or 405 (AWS WAF),
    and occasionally as a 200 HTML page; a real feed never carries these markers."""
    for name, pred, wall in _WALL_HEADERS:
        value = headers.get(name)
        if value is not None and pred(value.lower()) and (status >= 400 or status == 202):
            return wall
    if status < 400 and status != 202:
        ctype = headers.get("content-type", "")
        if "html" not in ctype:
            return None
    head = body_head[:SNIFF_BYTES].lower()
    for marker, wall in _WALL_MARKERS:
        if marker in head:
            return wall
    return None


PROXY_AUTH = (
    "HTTP 407: proxy needs credentials (put user:password in the proxy URL; if they are"
    " there, the proxy refused them)"
)


def status_error(url: str, status: int, reason: str, headers: Mapping[str, str],
                  body_head: bytes, sent_auth: bool = False) -> FeedError | None:  # fmt: skip
    """The error a final response stands for (None for success / 304). `sent_auth`: the
    request carried the feed's credentials."""
    retry = parse_retry_after(headers.get("retry-after"))
    wall = detect_bot_wall(status, headers, body_head)
    if wall is not None:
        return BotWallError(
            url, status, f"HTTP {status}: blocked by a {wall} bot challenge", retry_after_s=retry
        )
    if status < 300 or status == 304:
        return None
    if status == 410:
        return GoneError(url, status, "HTTP 410 Gone: the server says the feed was removed")
    if status == 401:
        why = (
            "the username / password sent were refused"
            if sent_auth
            else "set username and password for this feed"
        )
        return CredentialsError(url, status, f"HTTP 401: needs credentials ({why})")
    if status == 407:
        return CredentialsError(url, status, PROXY_AUTH)
    if status in (429, 503):
        hint = f", Retry-After {retry:.0f} s" if retry is not None else ""
        what = "Too Many Requests" if status == 429 else "Service Unavailable"
        return RateLimitedError(url, status, f"HTTP {status} {what}{hint}", retry_after_s=retry)
    phrase = f" {reason}" if reason else ""
    return HTTPStatusError(url, status, f"HTTP {status}{phrase}", retry_after_s=retry)
