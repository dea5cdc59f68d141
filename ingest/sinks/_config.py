"""`[[sinks]]` of the config file -> validated SinkSpecs (one ConfigError line per problem,
naming the file, the sink and the key)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ingest.errors import ConfigError, mask_url
from ingest.settings import expand_env, parse_duration, read_toml

__all__ = ["SINK_TYPES", "SinkSpec", "load_sinks", "shown_url", "sink_specs"]

SINK_TYPES = ("webhook", "redis", "nats")
_COMMON = {"type", "name", "url", "batch_size", "timeout", "max_attempts", "retry_backoff"}
_KEYS = {
    "webhook": _COMMON | {"secret", "allow_private_network"},
    "redis": _COMMON | {"stream", "maxlen"},
    "nats": _COMMON | {"subject"},
}
_SCHEMES = {
    "webhook": ("http", "https"),
    "redis": ("redis", "rediss", "unix"),
    "nats": ("nats", "tls"),
}
_Bad = Callable[[str, str], ConfigError]  # (key, reason) -> the error naming the sink
_PACKAGES = {"redis": ("redis", "redis"), "nats": ("nats", "nats")}  # sink type: module, extra


def shown_url(url: str) -> str:
    """`url` as messages and listings show it: the password of its user info and the values
    of its query (webhook URLs often carry a token there) as "***"."""
    masked = mask_url(url)
    base, sep, query = masked.partition("?")
    if not sep:
        return masked
    query, hash_, fragment = query.partition("#")
    pairs = [f"{k}=***" if eq else k for k, eq, _ in (p.partition("=") for p in query.split("&"))]
    return f"{base}?{'&'.join(pairs)}{hash_}{fragment}"


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One push sink as configured. `url` and `secret` may carry secrets: shown masked."""

    name: str
    type: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)  # webhook: HMAC-SHA256 key
    allow_private_network: bool = False  # webhook: may reach loopback / private addresses
    stream: str | None = None  # redis
    maxlen: int | None = None  # redis: approximate trimming of the stream
    subject: str | None = None  # nats
    batch_size: int = 100  # articles per request (webhook) or round trip
    timeout_s: float = 5.0  # one delivery attempt takes at most this long
    max_attempts: int = 10  # failures before an item moves to the dead letters
    retry_backoff_s: float = 30.0  # the first retry's delay, doubled each time (cap: 1 h)

    @property
    def target(self) -> str:
        """Where it delivers, secrets masked ("redis://:***@host:6379/0 stream news")."""
        where = {"redis": f" stream {self.stream}", "nats": f" subject {self.subject}"}
        return shown_url(self.url) + where.get(self.type, "")


def load_sinks(path: Path | str, environ: Mapping[str, str] | None = None) -> list[SinkSpec]:
    """The [[sinks]] of the config file at `path` (none when it does not exist), ${NAME}s
    replaced from `environ` (default: the process's)."""
    path = Path(path)
    if not path.exists():
        return []
    env = os.environ if environ is None else environ
    doc = expand_env(read_toml(path), str(path), "", env)
    return sink_specs(doc.get("sinks", []), str(path))


def sink_specs(raw: object, source: str) -> list[SinkSpec]:
    """Validate the `sinks` array of a config document read from `source`."""
    if not isinstance(raw, list):
        raise ConfigError(source, "sinks", "must be an array of tables ([[sinks]])")
    specs: list[SinkSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        spec = _one(item, source, i)
        if spec.name in seen:
            raise ConfigError(
                source,
                f"sinks[{i}] ({spec.name}).name",
                f"duplicate of sinks[{seen[spec.name]}]'s name: give each sink its own name",
            )
        seen[spec.name] = i
        specs.append(spec)
    return specs


def _one(item: object, source: str, i: int) -> SinkSpec:
    if not isinstance(item, dict):
        raise ConfigError(source, f"sinks[{i}]", "must be a table")
    kind = item.get("type")
    if kind not in SINK_TYPES:
        raise ConfigError(
            source, f"sinks[{i}].type", f"expected one of {', '.join(SINK_TYPES)}, got {kind!r}"
        )
    name = item.get("name", kind)
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(source, f"sinks[{i}].name", f"must be a short text, got {name!r}")
    name = name.strip()
    where = f"sinks[{i}] ({name})"

    def bad(key: str, reason: str) -> ConfigError:
        return ConfigError(source, f"{where}.{key}", reason)

    unknown = set(item) - _KEYS[kind]
    if unknown:
        known = ", ".join(sorted(_KEYS[kind]))
        raise bad(sorted(unknown)[0], f"unknown key for a {kind} sink (known: {known})")
    module, extra = _PACKAGES.get(kind, ("", ""))
    if module and importlib.util.find_spec(module) is None:
        raise bad(
            "type", f"a {kind} sink needs the {module} package: pip install 'ingest[{extra}]'"
        )
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise bad("url", f"missing (a {kind} sink needs a url)")
    url = url.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise bad("url", f"invalid URL {shown_url(url)!r}: {exc}") from None
    schemes = _SCHEMES[kind]
    if parts.scheme.lower() not in schemes or not (parts.hostname or parts.scheme == "unix"):
        shown = " or ".join(f"{s}://" for s in schemes)
        raise bad("url", f"expected a {shown} URL with a host, got {shown_url(url)!r}")
    texts: dict[str, str | None] = {}
    for key in ("secret", "stream", "subject"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad(key, "must be a non-empty string")
        texts[key] = value
    if kind == "redis" and texts["stream"] is None:
        raise bad("stream", "missing (a redis sink needs the stream to XADD to)")
    if kind == "nats" and texts["subject"] is None:
        raise bad("subject", "missing (a nats sink needs the subject to publish to)")
    private = item.get("allow_private_network", False)
    if not isinstance(private, bool):
        raise bad("allow_private_network", f"must be true or false, got {private!r}")
    numbers = {k: _count(item, k, bad) for k in ("batch_size", "max_attempts", "maxlen")}
    seconds = {k: _seconds(item, k, bad) for k in ("timeout", "retry_backoff")}
    defaults = SinkSpec(name=name, type=kind, url=url)
    return SinkSpec(
        name=name,
        type=kind,
        url=url,
        secret=texts["secret"],
        allow_private_network=private,
        stream=texts["stream"],
        maxlen=numbers["maxlen"],
        subject=texts["subject"],
        batch_size=numbers["batch_size"] or defaults.batch_size,
        timeout_s=seconds["timeout"] or defaults.timeout_s,
        max_attempts=numbers["max_attempts"] or defaults.max_attempts,
        retry_backoff_s=(
            defaults.retry_backoff_s if seconds["retry_backoff"] is None
            else seconds["retry_backoff"]
        ),
    )  # fmt: skip


def _count(item: Mapping[str, object], key: str, bad: _Bad) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(key, f"must be a whole number of at least 1, got {value!r}")
    return value


def _seconds(item: Mapping[str, object], key: str, bad: _Bad) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise bad(key, str(exc)) from None
    if key == "timeout" and seconds <= 0:
        raise bad(key, "must be more than 0s")
    return seconds
