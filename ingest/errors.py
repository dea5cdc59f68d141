"""The project's exception tree. Every error names what it is about (feed URL, file, key).

    IngestError
    ├── ConfigError            bad config file / env var / option (names file and key)
    ├── StoreError             the database could not be opened or written (names the path)
    └── FeedError              anything about one feed (carries .url)
        ├── FetchError         no usable HTTP response
        │   ├── NetworkError           DNS, connect, TLS, reset
        │   ├── TimeoutError_          connect / read / total timeout
        │   ├── BlockedAddressError    resolves to a private / loopback / metadata address
        │   ├── TooLargeError          body or decompressed body over the cap
        │   ├── RedirectError          too many redirects, or a loop
        │   └── HTTPStatusError        a non-success status (.status, .retry_after)
        │       ├── GoneError          410: stop polling
        │       ├── RateLimitedError   429 / 503 (with Retry-After when sent)
        │       ├── CredentialsError   401 / 407: the feed (or the proxy) needs credentials
        │       └── BotWallError       403 with a bot-protection challenge (names the wall)
        └── ParseError         the body is not a feed we can read

Foreign exceptions (httpx, lxml, json, sqlite) are translated at the boundary with
`raise X(...) from exc`.
"""

from __future__ import annotations

__all__ = [
    "BlockedAddressError",
    "BotWallError",
    "ConfigError",
    "CredentialsError",
    "FeedError",
    "FetchError",
    "GoneError",
    "HTTPStatusError",
    "IngestError",
    "NetworkError",
    "ParseError",
    "RateLimitedError",
    "RedirectError",
    "StoreError",
    "TimeoutError_",
    "TooLargeError",
    "mask_url",
]


class IngestError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(IngestError):
    """A configuration problem. `source` is the file (or "environment", "command line"),
    `key` the setting, `reason` what is wrong."""

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class StoreError(IngestError):
    """The store could not do what was asked."""


class FeedError(IngestError):
    """Something went wrong with one feed. `str(err)` is "<url>: <reason>"."""

    #: short machine-readable kind, used in metrics and `feeds list --json`
    kind = "error"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{mask_url(url)}: {reason}")


def mask_url(url: str) -> str:
    """`url` with the password of its user info replaced by "***": what any message, log
    line or listing shows of a URL that carries credentials."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or "@" not in authority:
        return url
    userinfo, _, hostport = authority.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    masked = f"{user}:***@{hostport}" if colon else f"{user}@{hostport}"
    return f"{scheme}://{masked}{rest[len(authority) :]}"


class FetchError(FeedError):
    kind = "fetch"


class NetworkError(FetchError):
    kind = "network"


class TimeoutError_(FetchError):  # noqa: N801, N818 - avoid shadowing the builtin
    kind = "timeout"


class BlockedAddressError(FetchError):
    kind = "blocked_address"


class TooLargeError(FetchError):
    kind = "too_large"


class RedirectError(FetchError):
    kind = "redirect"


class HTTPStatusError(FetchError):
    kind = "http"

    def __init__(
        self, url: str, status: int, reason: str, retry_after_s: float | None = None
    ) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(url, reason)


class GoneError(HTTPStatusError):
    kind = "gone"


class RateLimitedError(HTTPStatusError):
    kind = "rate_limited"


class BotWallError(HTTPStatusError):
    kind = "bot_wall"


class CredentialsError(HTTPStatusError):
    """401 (the feed needs credentials) or 407 (the proxy does)."""

    kind = "needs_credentials"


class ParseError(FeedError):
    kind = "parse"
