"""The project's exception tree. Every error names what it is about (feed URL, file, key).

    IngestError
    ├── ConfigError            bad config file / env var / option (names file and key)
    ├── StoreError             the database could not be opened or written (names the path)
    ├── SearchSyntaxError      a search query FTS5 cannot read (.query, .reason)
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
`raise X(...) from exc`; `in_words(exc)` says what one means without its Python class name,
which means nothing to an operator (issue #17: "_NoAnswer from 127.0.1.14: ...").
"""

from __future__ import annotations

import re

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
    "SearchSyntaxError",
    "StoreError",
    "TimeoutError_",
    "TooLargeError",
    "in_words",
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


class SearchSyntaxError(IngestError):
    """A full-text query in FTS5 syntax with a mistake in it (a usage error)."""

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        self.reason = reason
        super().__init__(f"invalid search syntax in {query!r}: {reason}")


# httpx and httpcore name their exceptions alike; matched by name along the MRO, so a private
# subclass (such as the old h11 fetcher's `_NoAnswer`, a RemoteProtocolError) reads as its parent
_WORDS = {
    "ConnectTimeout": "connect timeout",
    "ReadTimeout": "read timeout",
    "WriteTimeout": "write timeout",
    "PoolTimeout": "no free connection in time",
    "ConnectError": "cannot connect",
    "ReadError": "the connection failed while reading",
    "WriteError": "the connection failed while sending",
    "RemoteProtocolError": "the server broke the HTTP protocol",
    "LocalProtocolError": "the request could not be sent as HTTP",
    "UnsupportedProtocol": "unsupported protocol",
    "ProxyError": "the proxy refused or failed",
    "InvalidURL": "invalid URL",
    "ConnectionResetError": "the connection was reset",
    "ConnectionRefusedError": "the connection was refused",
    "BrokenPipeError": "the connection was closed while sending",
    "NetworkError": "network error",
    "TimeoutException": "timeout",
    "OSError": "system error",
}
_CLASS_NAME = re.compile(r"^_?[A-Z][A-Za-z0-9]*$")  # a bare "ConnectionResetError"
_BYTES = re.compile(r"""bytearray\(b(['"])(.*?)\1\)""")  # h11 quotes what it read so


def in_words(exc: BaseException) -> str:
    """What `exc` means, for an operator: plain words for the kind (never the class name),
    then the first text along its chain of causes that says more than a class name would
    (an errno's words: "Connection reset by peer")."""
    chain = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) and nxt not in chain:
        chain.append(nxt)
    kinds = (_WORDS[c.__name__] for e in chain for c in type(e).__mro__ if c.__name__ in _WORDS)
    kind = next(kinds, "unexpected error")
    for e in chain:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip()
        if detail and not _CLASS_NAME.match(detail):
            return f"{kind}: {_BYTES.sub(_quoted, detail)}"
    return kind


def _quoted(m: re.Match[str]) -> str:
    return f"'{m.group(2)}'"
