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
    "in_words",
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
        super().__init__(f"{url}: {reason}")


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


class ParseError(FeedError):
    kind = "parse"


# httpx and httpcore name their exceptions alike; matched by name along the MRO, so a private
# subclass (http11's `_NoAnswer`, a RemoteProtocolError) reads as its public parent
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
    then the exception's own text when it says more than a class name would."""
    kind = next(
        (_WORDS[c.__name__] for c in type(exc).__mro__ if c.__name__ in _WORDS),
        "unexpected error",
    )
    detail = str(exc).strip()
    if not detail or _CLASS_NAME.match(detail):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError) and cause.strerror:
            detail = cause.strerror
        elif cause is not None and cause is not exc:
            return in_words(cause) if kind == "unexpected error" else kind
        else:
            return kind
    return f"{kind}: {_BYTES.sub(_quoted, detail)}"


def _quoted(m: re.Match[str]) -> str:
    return f"'{m.group(2)}'"
