"""Configuration: the operator's TOML file + INGEST_* environment -> one frozen Settings.

Precedence (highest first): command-line options, `INGEST_<SETTING>` environment variables,
the `[settings]` table of the config file, the defaults below.  Every error is a ConfigError
naming the file (or "environment") and the key.

    [settings]
    db = "data/ingest.db"
    concurrency = 20
    read_timeout = "20s"

    [[feeds]]
    url = "https://example.org/feed.xml"
    title = "Example"
    tags = ["world"]
    interval = "30m"
    username = "reader"
    password = "${EXAMPLE_PASSWORD}"      # any string may name an environment variable

The [[feeds]] tables become FeedSpecs in `ingest.feedconfig` (secrets in a feed URL move
into username / password there).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, mask_url
from .models import FeedOptions

__all__ = [
    "FeedSpec",
    "Settings",
    "env_warnings",
    "load_settings",
    "parse_duration",
]

USER_AGENT = "ingest/0.1 (+https://github.com/ingest-pipeline/ingest; news feed fetcher)"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every global setting. Each can be set in `[settings]` or as INGEST_<NAME>."""

    db: Path | str = Path("data/ingest.db")  # a SQLite file, or a postgresql:// URL
    config: Path = Path("config/feeds.toml")
    concurrency: int = 20  # feeds fetched at once
    per_host_concurrency: int = 2  # requests in flight to one host
    per_host_delay_s: float = 1.0  # minimum gap between two requests to one host
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0  # longest silence while reading
    total_timeout_s: float = 60.0  # whole request, trickling servers included
    max_body_bytes: int = 64 * 1024 * 1024  # on the wire
    max_decompressed_bytes: int = 128 * 1024 * 1024  # after gzip / brotli / deflate
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    allow_private_networks: bool = False
    # http(s):// or socks5(h):// URL (its password kept out of repr); "direct": none; "":
    # the environment's
    proxy: str = field(default="", repr=False)
    ca_bundle: str = ""  # PEM file of the CAs to trust instead of the default bundle
    http2: bool = False
    default_interval_s: int = 3600
    min_interval_s: int = 300
    max_interval_s: int = 86400
    max_backoff_s: int = 86400  # failing feeds are retried at least this often
    future_tolerance_s: int = 600  # dates further in the future are clamped to fetch time
    lease_s: int = 600  # a claimed feed is someone else's until then (killed runs expire)
    story_window_days: int = 3  # near-duplicate / same-event candidates from this window
    batch_size: int = 200  # feeds claimed per round of a run
    workers: int = 2  # processes for a run with many feeds due (each fetches, parses, stores)
    parse_workers: int = 0  # extra processes for parse + normalize only (0: none)
    log_format: str = "text"  # text | json
    log_level: str = "INFO"
    serve_host: str = "127.0.0.1"  # `ingest serve` listens here
    serve_port: int = 8080
    api_token: str | None = None  # when set, `ingest serve` wants "Authorization: Bearer <it>"
    # the public base URL of `ingest serve` a WebSub hub can reach: set, serve subscribes
    websub_callback_url: str = ""

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as the operator configured it."""

    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    options: FeedOptions = field(default_factory=FeedOptions)


# --------------------------------------------------------------------------- values

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# settings given as durations: key in the file / env -> field name
_DURATION_KEYS = {
    "per_host_delay": "per_host_delay_s",
    "connect_timeout": "connect_timeout_s",
    "read_timeout": "read_timeout_s",
    "total_timeout": "total_timeout_s",
    "default_interval": "default_interval_s",
    "min_interval": "min_interval_s",
    "max_interval": "max_interval_s",
    "max_backoff": "max_backoff_s",
    "future_tolerance": "future_tolerance_s",
    "lease": "lease_s",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE_KEYS = {"max_body", "max_body_bytes", "max_decompressed", "max_decompressed_bytes"}
_CHOICES = {"log_format": ("text", "json"), "log_level": ("DEBUG", "INFO", "WARNING", "ERROR")}
_ZERO_OK = {"parse_workers"}
_LONGEST_S = 100 * 365 * 86400  # longer durations are typos (and overflow datetime)
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_duration(value: object) -> float:
    """Seconds from 90, 1.5, "90", "90s", "15m", "2h", "1d", "1w". Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 15m or 2h, got {value!r}")
    seconds: float | None = None
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value.lower())
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None:
        raise ValueError(f"expected a duration like 30s, 15m or 2h, got {value!r}")
    if seconds > _LONGEST_S:
        raise ValueError(f"a duration of at most 100 years is expected, got {value!r}")
    return seconds


def _parse_size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            unit = m.group(2).lower() if m.group(2) else None
            return int(float(m.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"expected a size like 15MiB or 5000000, got {value!r}")


def check_proxy(value: str) -> str:
    """A `proxy` value as given, or ValueError: "direct", or a proxy URL with a host."""
    value = value.strip()
    if value in ("", "direct"):
        return value
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"invalid proxy URL: {exc}") from None
    if parts.scheme.lower() not in _PROXY_SCHEMES or not parts.hostname:
        raise ValueError(
            f"expected direct or a proxy URL ({', '.join(s + '://host:port' for s in _PROXY_SCHEMES)}),"
            f" got {mask_url(value)!r}"
        )
    if parts.scheme.lower().startswith("socks"):
        _need("socksio", "a socks5:// proxy", "socks")
    return value


def _need(module: str, what: str, extra: str) -> None:
    """ValueError when the optional `module` (of the `extra`) is not installed."""
    if importlib.util.find_spec(module) is None:
        raise ValueError(
            f"{what} needs the {module} package: pip install 'httpx[{extra}]' (or 'ingest[{extra}]')"
        )


def _check_ca_bundle(value: str) -> str:
    if value and not Path(value).expanduser().is_file():
        raise ValueError(f"no such file: {value}")
    return str(Path(value).expanduser()) if value else value


def expand_env(value: object, source: str, key: str, environ: Mapping[str, str]) -> Any:
    """`value` with every ${NAME} in its strings (in lists and tables too) replaced by the
    environment variable NAME. An unset variable is a ConfigError naming file, key and
    variable."""
    if isinstance(value, str):
        if "${" not in value:
            return value

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in environ:
                raise ConfigError(
                    source, key, f"environment variable {name} is not set (named as ${{{name}}})"
                )
            return environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, list):
        return [expand_env(v, source, f"{key}[{i}]", environ) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: expand_env(v, source, f"{key}.{k}" if key else k, environ) for k, v in value.items()
        }
    return value


def _coerce(name: str, raw: object, from_env: bool) -> object:
    """Turn a file/env value into the typed value of Settings field `name`."""
    f = {f.name: f for f in dataclasses.fields(Settings)}[name]
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        if isinstance(raw, bool):
            flag = raw
        elif isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            flag = raw.strip().lower() in _TRUE
        else:
            raise ValueError(f"expected true or false, got {raw!r}")
        if name == "http2" and flag:
            _need("h2", "http2 = true", "http2")
        return flag
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
            value = int(raw)
        else:
            raise ValueError(f"expected a whole number, got {raw!r}")
        lowest = 0 if name in _ZERO_OK else 1
        if value < lowest:
            raise ValueError(f"must be at least {lowest}, got {value}")
        return value
    if kind == "float":
        return parse_duration(raw)
    if kind.startswith("Path"):
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"expected a file path, got {raw!r}")
        if kind == "Path | str" and "://" in raw:  # a URL: Path() would fold its '//'
            return raw.strip()
        return Path(raw).expanduser()
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {raw!r}")
    choices = _CHOICES.get(name)
    if choices:
        value_s = raw.upper() if name == "log_level" else raw.lower()
        if value_s not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value_s
    if name == "proxy":
        return check_proxy(raw)
    if name == "ca_bundle":
        return _check_ca_bundle(raw)
    if name == "websub_callback_url":
        parts = urlsplit(raw.strip())
        if raw.strip() and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"expected the server's public http(s) base URL, got {raw!r}")
        return raw.strip().rstrip("/")
    return raw


def _apply(values: Mapping[str, object], source: str, from_env: bool) -> dict[str, object]:
    """Validate a mapping of setting names -> raw values into Settings field values."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    out: dict[str, object] = {}
    for key, raw in values.items():
        label = f"INGEST_{key.upper()}" if from_env else key
        try:
            if key in _DURATION_KEYS or (key.endswith("_s") and key in fields):
                name = _DURATION_KEYS.get(key, key)
                seconds = parse_duration(raw)
                ftype = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
                out[name] = int(seconds) if ftype == "int" else seconds
                continue
            if key in _SIZE_KEYS:
                name = key if key.endswith("_bytes") else key + "_bytes"
                out[name] = _parse_size(raw)
                continue
            if key not in fields:
                if from_env:
                    continue  # named by env_warnings: other programs' INGEST_* are no error
                raise ValueError(_unknown(key))
            out[key] = _coerce(key, raw, from_env)
        except ValueError as exc:
            raise ConfigError(source, label, str(exc)) from None
    return out


def _public_names() -> list[str]:
    """The settings as the operator writes them (`max_body`, not `max_body_bytes`)."""
    by_field = {name: key for key, name in _DURATION_KEYS.items()}
    names = {by_field.get(f.name, f.name) for f in dataclasses.fields(Settings)} - {"config"}
    return sorted(n.removesuffix("_bytes") for n in names)


def _closest(key: str) -> str | None:
    close = difflib.get_close_matches(key.lower(), _public_names(), n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown(key: str) -> str:
    guess = _closest(key)
    hint = f"did you mean {guess}? " if guess else ""
    return f"unknown setting ({hint}known: {', '.join(_public_names())})"


def _accepted(key: str) -> bool:
    fields = {f.name for f in dataclasses.fields(Settings)}
    return key in fields or key in _DURATION_KEYS or key in _SIZE_KEYS


def env_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line for each INGEST_* variable that names no setting (a typo would otherwise
    be ignored without a word), with the closest setting's variable."""
    out = []
    for var in sorted(environ):
        key = var[len("INGEST_") :].lower()
        if not var.startswith("INGEST_") or var == "INGEST_CONFIG" or _accepted(key):
            continue
        guess = _closest(key)
        hint = f" (did you mean INGEST_{guess.upper()}?)" if guess else ""
        out.append(f"environment: {var} is not a setting{hint}; ignored")
    return out


def _env_settings(environ: Mapping[str, str]) -> dict[str, object]:
    raw = {
        k[len("INGEST_") :].lower(): v
        for k, v in environ.items()
        if k.startswith("INGEST_") and k != "INGEST_CONFIG"
    }
    return _apply(raw, "environment", from_env=True)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, "is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path),
            None,
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); TOML files are UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), None, exc.strerror or str(exc)) from None


def load_settings(
    config: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    *,
    require_file: bool = False,
) -> Settings:
    """Build Settings from defaults < config file < environment < overrides.

    `config` defaults to $INGEST_CONFIG, else config/feeds.toml. A missing default file is
    fine (an empty config); a missing file that was asked for is an error.
    """
    env = os.environ if environ is None else environ
    asked = config is not None or "INGEST_CONFIG" in env or require_file
    path = (
        Path(config) if config is not None else Path(env.get("INGEST_CONFIG", "config/feeds.toml"))
    )
    values: dict[str, object] = {"config": path}
    if path.exists() or asked:
        doc = expand_env(read_toml(path), str(path), "", env)
        table = doc.get("settings", {})
        if not isinstance(table, dict):
            raise ConfigError(str(path), "settings", "must be a table ([settings])")
        unknown = set(doc) - {"settings", "feeds"}
        if unknown:
            raise ConfigError(
                str(path),
                sorted(unknown)[0],
                "unknown top-level key (expected [settings] and [[feeds]])",
            )
        values.update(_apply(table, str(path), from_env=False))
    values.update(_env_settings(env))
    if overrides:
        values.update(
            _apply({k: v for k, v in overrides.items() if v is not None}, "command line", False)
        )
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.min_interval_s > settings.max_interval_s:
        raise ConfigError(str(path), "min_interval", "must not exceed max_interval")
    return settings
