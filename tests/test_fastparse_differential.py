"""The lxml fast path against the feedparser path over every well-formed file of ../shared/corpus.

For each file where `fast_parse` takes the document, the ParsedFeed must equal the feedparser
path's (all fields but `parser`), and so must the normalized Article records (issue #6).
"""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from ingest.errors import ParseError
from ingest.normalize import normalize_feed
from ingest.parse import fallback_reason, fast_parse, parse

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
URL = "http://127.0.0.1:8097/tests/feed.xml"
FETCHED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HEADER_SETS: dict[str, dict[str, str] | None] = {
    "no-headers": None,
    "rss+xml-utf8": {"content-type": "application/rss+xml; charset=utf-8"},
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


@cache
def well_formed_files() -> tuple[Path, ...]:
    """Every corpus file lxml reads as well-formed XML (no recovery, no entities resolved)."""
    out: list[Path] = []
    strict = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    skip = {"LICENSE", "MANIFEST.tsv", "README.md", "SOURCES.md"}
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name in skip or path.suffix == ".json":
            continue
        try:
            etree.fromstring(path.read_bytes(), strict)
        except etree.XMLSyntaxError:
            continue
        out.append(path)
    return tuple(out)


def _compare(path: Path, headers: dict[str, str] | None) -> bool:
    """True when the fast path took the file (and then asserts equality)."""
    body = path.read_bytes()
    fast = fast_parse(body, URL, headers)
    if fast is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            slow = parse(body, URL, headers)
        except ParseError as exc:  # pragma: no cover - would be a fast-path bug
            raise AssertionError(
                f"{path}: fast path read a document feedparser rejects: {exc}"
            ) from exc
    rel = path.relative_to(CORPUS)
    assert dataclasses.replace(fast, parser="feedparser") == slow, f"ParsedFeed differs: {rel}"
    fast_articles = normalize_feed(fast, feed_url=URL, fetched_at=FETCHED)
    slow_articles = normalize_feed(slow, feed_url=URL, fetched_at=FETCHED)
    assert fast_articles == slow_articles, f"normalized records differ: {rel}"
    return True


@pytest.mark.slow
@pytest.mark.parametrize("headers", list(HEADER_SETS), ids=list(HEADER_SETS))
def test_fast_path_equals_feedparser_path_on_corpus(
    headers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = well_formed_files()
    taken = sum(_compare(p, HEADER_SETS[headers]) for p in files)
    with capsys.disabled():
        print(f"\n[fastparse/{headers}] fast path took {taken} of {len(files)} well-formed files")
    assert taken > 0


def test_fast_path_takes_most_real_world_rss_and_atom() -> None:
    """Coverage floor on the real-world captures (news sites, blogs, podcasts)."""
    strict = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    total = taken = 0
    for path in well_formed_files():
        if "realworld" not in path.parts:
            continue
        body = path.read_bytes()
        root = etree.fromstring(body, strict)
        if etree.QName(root).localname not in ("rss", "feed"):
            continue
        total += 1
        taken += fallback_reason(body, URL, HEADER_SETS["rss+xml-utf8"]) is None
    assert total > 100
    assert taken / total >= 0.45, f"fast path took only {taken} of {total}"
