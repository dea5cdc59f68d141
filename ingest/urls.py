"""URL helpers: validating feed URLs and canonicalizing article URLs (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "is_web_url", "validate_feed_url"]


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL a browser could open: a host, a valid port, no space. Fuzzing
    found "http://", "https:///path", a port of 99999 and "http://[bad" in stored records
    (issue #17)."""
    if not url.startswith(("http://", "https://")) or " " in url:
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return False
    return bool(parts.hostname)


MAX_FEED_URL = 2048  # the longest URL browsers, sitemaps and most servers reliably take


def _shown(url: str) -> str:
    return repr(url if len(url) <= 80 else url[:60] + "…" + url[-10:])


def validate_feed_url(url: str) -> str:
    """Return the feed URL normalized (stripped; scheme and host in lower case, no default
    port, no fragment: the server never sees one), or raise ValueError saying what is wrong
    with it."""
    url = url.strip()
    if not url:
        raise ValueError("empty URL")
    if len(url) > MAX_FEED_URL:
        raise ValueError(
            f"invalid URL {_shown(url)}: {len(url)} characters, at most {MAX_FEED_URL}"
        )
    bad = next((c for c in url if c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F), None)
    if bad is not None:
        what = "whitespace" if bad.isspace() else "a control character"
        raise ValueError(
            f"invalid URL {_shown(url)}: contains {what} ({bad!r} at position "
            f"{url.index(bad)}); percent-encode it (%20 for a space)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {_shown(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {_shown(url)}: only http and https feeds can be fetched")
    if not parts.hostname:
        raise ValueError(f"invalid URL {_shown(url)}: no host")
    netloc = parts.netloc.rpartition("@")
    host = netloc[2].lower()
    if port is not None and port == _DEFAULT_PORTS[scheme]:
        host = host.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc[0] + netloc[1] + host, parts.path, parts.query, ""))


# --------------------------------------------------------------------------- canonical URLs

# Query parameters that only track the click, never select content. Exact names (lower case)
# and prefixes. Everything else is kept: ?id=, ?p=, ?page=, ?v= select the article.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
        "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid",
        "s_cid", "cmpid", "ncid", "ocid", "ito", "icid", "wt.mc_id", "wt_mc_id", "wt_mc", "wt_zmc", "ns_mchannel",
        "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "sr_share", "at_medium",
        "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "spm",
        "share", "smid", "cmp", "guccounter", "guce_referrer", "guce_referrer_sig",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "ga_", "hmb_", "pk_", "piwik_", "mtm_", "matomo_", "__twitter_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


# http(s), a lower-case host name without port or user, a path of plain characters and no
# query or fragment: the shape most article links have. For these, canonical_url's general
# path (urlsplit, .port, .hostname) changes nothing but a trailing dot in the host and an
# empty path; the fast path gives the same result without it (issue #6).
_PLAIN_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9.\-]+)(?P<path>/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?"
)


# ... and the same with a query of plain name=value pairs (?id=12&utm_source=rss), which
# w3lib.url.canonicalize_url would only sort: done here without it (issue #6)
_PLAIN_QUERY_URL = re.compile(
    r"(?P<head>https?://[a-z0-9\-]+(?:\.[a-z0-9\-]+)*)(?P<path>/[A-Za-z0-9\-._~/]*)?"
    r"\?(?P<query>[A-Za-z0-9\-._~]+(?:=[A-Za-z0-9\-._~]*)?(?:&[A-Za-z0-9\-._~]+(?:=[A-Za-z0-9\-._~]*)?)*)"
)


def _has_dot_segment(path: str) -> bool:
    """A "." or ".." segment: w3lib resolves those."""
    return "/./" in path or "/../" in path or path.endswith(("/.", "/.."))


def _plain_query_url(head: str, path: str, query: str) -> str:
    """canonical_url of a _PLAIN_QUERY_URL match: tracking parameters dropped, the others
    sorted by name then value, a bare name given "=", as w3lib does."""
    pairs = [
        (k, v) for k, _, v in (p.partition("=") for p in query.split("&")) if not _is_tracking(k)
    ]
    if not pairs:
        return head + path
    pairs.sort()
    return f"{head}{path}?{'&'.join(f'{k}={v}' for k, v in pairs)}"


def _canonicalize_url() -> Callable[..., str]:
    from w3lib.url import canonicalize_url  # imported on first use: most URLs never need it

    return canonicalize_url


def _is_tracking(name: str) -> bool:
    n = name.lower()
    return n in _TRACKING_EXACT or n.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """A stable form of an article URL for matching the same page across feeds and fetches.

    Scheme and host lowercased, default port, fragment, userinfo and tracking parameters
    (utm_*, fbclid, gclid, mc_cid, mc_eid, ... see `_TRACKING_EXACT`) dropped; the remaining
    query parameters kept and sorted, percent-encoding normalized (w3lib.url.canonicalize_url).
    http and https stay distinct. A URL that cannot be parsed is returned stripped.
    """
    m = _PLAIN_URL.fullmatch(url)
    if m:  # the common shape, already canonical but for a trailing dot in the host
        host = m["host"]
        if host.endswith("."):
            return f"{m['scheme']}://{host.rstrip('.')}{m['path'] or '/'}"
        return url if m["path"] else url + "/"
    m = _PLAIN_QUERY_URL.fullmatch(url)
    if m and not _has_dot_segment(m["path"] or ""):
        return _plain_query_url(m["head"], m["path"] or "/", m["query"])
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    path = parts.path or "/"
    if not query and path.isascii() and "%" not in path and " " not in path:
        return f"{scheme}://{netloc}{path}"  # nothing for w3lib to normalize (fast path)
    try:
        return _canonicalize_url()(
            urlunsplit((scheme, netloc, path, query, "")), keep_blank_values=True
        )
    except ValueError:
        return urlunsplit((scheme, netloc, path, query, ""))
