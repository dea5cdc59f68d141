"""Every feed file of ../shared/corpus through parse + normalize (issue #4 "Done when").

Skipped when ../shared/corpus is absent. Reports counts (files, parsed, ParseError,
articles) on the terminal. Besides "no exception but ParseError", every record must hold
the invariants the downstream contract promises.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.models import Article
from ingest.normalize import normalize_feed
from ingest.parse import parse

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
# in markup (text may mention "JavaScript:", and escaped "&lt;script" is text)
UNSAFE = re.compile(
    r"<(?:script|style|iframe|object|embed|form|frame|meta|link|base)\b"
    r"|<[^>]*\son[a-z]+\s*="
    r"|<[^>]*\s(?:href|src|cite|poster|action|background)\s*=\s*[\"']?\s*(?:javascript|vbscript|data):",
    re.I,
)
UNSAFE_TEXT = re.compile(r"<(?:script|style|iframe)\b|javascript:", re.I)
LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|\d{3}))?$")


def _feed_files(folder: str = "") -> list[Path]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip("../shared/corpus is absent")
    with manifest.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        CORPUS / r["path"]
        for r in rows
        if r["role"].startswith("feed") and r["path"].startswith(folder)
    ]


def _check(a: Article, where: str) -> None:
    assert a.identity, where
    assert a.published_at is not None and a.published_at.tzinfo is UTC, where
    assert a.published_at <= FETCHED_AT or a.date_source == "feed", where
    assert a.updated_at is None or a.updated_at >= a.published_at, where
    assert a.date_source in ("feed", "updated", "clamped", "first_seen"), where
    assert not UNSAFE.search(a.content_html), (where, a.content_html[:300])
    assert "<" not in a.summary or "<" in a.content_text, where
    assert len(a.summary) <= 301, where
    assert a.word_count == len(a.content_text.split()), where
    assert a.url is None or a.url.startswith(("http://", "https://")), where
    assert a.canonical_url is None or "#" not in a.canonical_url, where
    assert a.image_url is None or a.image_url.startswith(("http://", "https://")), where
    assert a.language is None or LANG.match(a.language), (where, a.language)
    assert all(e.length is None or isinstance(e.length, int) for e in a.enclosures), where
    assert all(t == t.strip() and t for t in a.tags), where
    assert all("@" not in n for n in a.authors), (where, a.authors)
    assert len(a.content_hash) == 32, where


@pytest.mark.slow
def test_every_corpus_feed_normalizes(capsys: pytest.CaptureFixture[str]) -> None:
    files = _feed_files()
    counts: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    for path in files:
        rel = str(path.relative_to(CORPUS))
        url = "http://127.0.0.1:8097/" + rel
        counts["files"] += 1
        try:
            parsed = parse(path.read_bytes(), url)
        except ParseError as exc:
            assert exc.url == url and exc.reason
            counts["parse_error"] += 1
            continue
        counts["parsed"] += 1
        formats[parsed.format] += 1
        articles = normalize_feed(parsed, feed_url=url, fetched_at=FETCHED_AT)
        assert len(articles) == len(parsed.entries)
        counts["articles"] += len(articles)
        for i, a in enumerate(articles):
            _check(a, f"{rel}#{i}")
    with capsys.disabled():
        print(
            f"\ncorpus: {counts['files']} files, {counts['parsed']} parsed, "
            f"{counts['parse_error']} ParseError, {counts['articles']} articles; "
            f"formats {dict(sorted(formats.items()))}"
        )
    assert counts["files"] > 2000
    # the known non-feeds only: HTML page, truncated JSON, RSS-in-JSON, junk, empty stubs
    assert counts["parse_error"] <= 12
    assert counts["articles"] > 8000


def test_sanitize_cases_leave_nothing_executable() -> None:
    """corpus/feedparser-tests/wellformed/sanitize/: no script, event handler or
    javascript: URL in content_html, summary or title."""
    files = _feed_files("feedparser-tests/wellformed/sanitize/")
    assert len(files) > 700
    checked = 0
    for path in files:
        url = "http://127.0.0.1:8097/" + path.name
        for a in normalize_feed(parse(path.read_bytes(), url), feed_url=url, fetched_at=FETCHED_AT):
            checked += 1
            assert not UNSAFE.search(a.content_html), (path.name, a.content_html[:300])
            for field in (a.summary, a.title):  # plain text: no markup or URL survives
                assert not UNSAFE_TEXT.search(field), (path.name, field[:300])
    assert checked > 500
