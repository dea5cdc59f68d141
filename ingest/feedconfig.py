"""A config file's [[feeds]] tables -> validated FeedSpecs (`load_feeds`; `feed_spec` for
one table, which `feeds add` uses too). Every error is a ConfigError naming the file and the
key, like `feeds[3].keep[0].pattern`.

Secrets in a feed URL (https://user:password@host/...) are moved into username / password
(`split_userinfo`), so the URL by which the feed is stored, listed and logged never carries
them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ConfigError
from .models import FeedOptions, FilterRule
from .settings import FeedSpec, check_proxy, expand_env, parse_duration, read_toml

__all__ = ["feed_spec", "load_feeds", "split_userinfo"]

_FEED_KEYS = {
    "url",
    "title",
    "tags",
    "interval",
    "min_interval",
    "max_interval",
    "allow_private_network",
    "full_text",
    "cleanup",
    "keep",
    "block",
    "username",
    "password",
    "headers",
    "cookies",
    "user_agent",
    "proxy",
}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header / cookie name
_RULE_FIELDS = ("title", "content", "url", "author", "tags", "any")


def _rules(raw: object, where: str, source: str) -> tuple[FilterRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(
            source, where, 'must be a list of rules like {field = "title", pattern = "..."}'
        )
    rules = []
    for i, item in enumerate(raw):
        key = f"{where}[{i}]"
        if isinstance(item, str):
            item = {"field": "any", "pattern": item}
        if not isinstance(item, dict):
            raise ConfigError(source, key, "must be a table or a keyword string")
        extra = set(item) - {"field", "pattern", "regex"}
        if extra:
            raise ConfigError(
                source, f"{key}.{sorted(extra)[0]}", "unknown key (expected field, pattern, regex)"
            )
        fld = item.get("field", "any")
        if fld not in _RULE_FIELDS:
            raise ConfigError(
                source, f"{key}.field", f"expected one of {', '.join(_RULE_FIELDS)}, got {fld!r}"
            )
        pattern = item.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(source, f"{key}.pattern", "must be a non-empty string")
        regex = item.get("regex", False)
        if not isinstance(regex, bool):
            raise ConfigError(source, f"{key}.regex", "must be true or false")
        if regex:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(source, f"{key}.pattern", f"invalid regex: {exc}") from None
        rules.append(FilterRule(field=fld, pattern=pattern, regex=regex))
    return tuple(rules)


def _interval(raw: object, source: str, key: str) -> int | None:
    if raw is None:
        return None
    try:
        seconds = int(parse_duration(raw))
    except ValueError as exc:
        raise ConfigError(source, key, str(exc)) from None
    if seconds < 1:
        raise ConfigError(source, key, "must be at least 1s")
    return seconds


def feed_spec(item: Mapping[str, object], source: str, where: str) -> FeedSpec:
    """Validate one [[feeds]] table (also used by `feeds add`)."""
    from .urls import validate_feed_url

    unknown = set(item) - _FEED_KEYS
    if unknown:
        raise ConfigError(
            source,
            f"{where}.{sorted(unknown)[0]}",
            f"unknown key (known: {', '.join(sorted(_FEED_KEYS))})",
        )
    url = item.get("url")
    if not isinstance(url, str):
        raise ConfigError(source, f"{where}.url", "missing (every feed needs a url)")
    try:
        url = validate_feed_url(url)
    except ValueError as exc:
        raise ConfigError(source, f"{where}.url", str(exc)) from None
    title = item.get("title")
    if title is not None and not isinstance(title, str):
        raise ConfigError(source, f"{where}.title", "must be a string")
    tags = item.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(source, f"{where}.tags", "must be a list of strings")
    flags: dict[str, bool] = {}
    for flag, default in (
        ("allow_private_network", False),
        ("full_text", False),
        ("cleanup", True),
    ):
        value = item.get(flag, default)
        if not isinstance(value, bool):
            raise ConfigError(source, f"{where}.{flag}", f"must be true or false, got {value!r}")
        flags[flag] = value
    options = FeedOptions(
        interval_s=_interval(item.get("interval"), source, f"{where}.interval"),
        min_interval_s=_interval(item.get("min_interval"), source, f"{where}.min_interval"),
        max_interval_s=_interval(item.get("max_interval"), source, f"{where}.max_interval"),
        keep=_rules(item.get("keep"), f"{where}.keep", source),
        block=_rules(item.get("block"), f"{where}.block", source),
        allow_private_network=flags["allow_private_network"],
        full_text=flags["full_text"],
        cleanup=flags["cleanup"],
    )
    options = _http_options(item, options, source, where, url)
    url = split_userinfo(url)[0]
    clean_tags = tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))
    return FeedSpec(url=url, title=title or None, tags=clean_tags, options=options)


def _http_options(
    item: Mapping[str, object], options: FeedOptions, source: str, where: str, url: str
) -> FeedOptions:
    """username / password (or the user info of `url`), headers, cookies, user_agent, proxy."""
    strings: dict[str, str | None] = {}
    for key in ("username", "password", "user_agent", "proxy"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(source, f"{where}.{key}", "must be a string")
        strings[key] = value
    _, user, password = split_userinfo(url)
    if user is not None:
        if strings["username"] is not None or strings["password"] is not None:
            raise ConfigError(
                source,
                f"{where}.url",
                "has a user:password and username / password are set too (keep one)",
            )
        strings["username"], strings["password"] = user, password
    if strings["proxy"] is not None:
        try:
            strings["proxy"] = check_proxy(strings["proxy"]) or None
        except ValueError as exc:
            raise ConfigError(source, f"{where}.proxy", str(exc)) from None
    if strings["user_agent"] is not None and not strings["user_agent"].strip():
        raise ConfigError(source, f"{where}.user_agent", "must not be empty")
    pairs: dict[str, tuple[tuple[str, str], ...]] = {}
    for key in ("headers", "cookies"):
        table = item.get(key, {})
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ConfigError(
                source, f"{where}.{key}", 'must be a table of strings, like {Name = "value"}'
            )
        for name, value in table.items():
            if not _TOKEN.fullmatch(name) or "\n" in value or "\r" in value:
                raise ConfigError(source, f"{where}.{key}.{name}", "not a valid name / value")
        pairs[key] = tuple(table.items())
    return dataclasses.replace(
        options,
        username=strings["username"],
        password=strings["password"],
        user_agent=strings["user_agent"],
        proxy=strings["proxy"],
        headers=pairs["headers"],
        cookies=pairs["cookies"],
    )


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(`url` without its user info, the user name, the password): (url, None, None) for a
    URL without any. The user info goes to username / password (HTTP basic auth), so the
    URL a feed is stored, listed and logged by never carries a secret."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    password = unquote(parts.password) if parts.password is not None else None
    return bare, unquote(parts.username or ""), password


def load_feeds(path: Path | str, environ: Mapping[str, str] | None = None) -> list[FeedSpec]:
    """The [[feeds]] of a config file, validated, ${NAME}s replaced from `environ` (default:
    the process's). Duplicate URLs are an error."""
    path = Path(path)
    doc = expand_env(read_toml(path), str(path), "", os.environ if environ is None else environ)
    feeds = doc.get("feeds", [])
    if not isinstance(feeds, list):
        raise ConfigError(str(path), "feeds", "must be an array of tables ([[feeds]])")
    specs: list[FeedSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(feeds):
        where = f"feeds[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(str(path), where, "must be a table")
        spec = feed_spec(item, str(path), where)
        if spec.url in seen:
            raise ConfigError(
                str(path), f"{where}.url", f"duplicate of feeds[{seen[spec.url]}] ({spec.url})"
            )
        seen[spec.url] = i
        specs.append(spec)
    return specs
