"""Write tests/golden/<name>.expected.json from the current parse + normalize output.

    .venv/bin/python tests/golden/make_golden.py [name ...]

Each expected file names its corpus source (../shared/corpus/<path>); the feed itself is not
copied into the repository. Review every changed file by hand before committing it: the
golden test only proves the output did not change, the review proves it is right.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xxhash

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from ingest.models import Article, ParsedFeed  # noqa: E402
from ingest.normalize import normalize_feed  # noqa: E402
from ingest.parse import parse  # noqa: E402

CORPUS = HERE.parents[2] / "shared" / "corpus"
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
TEXT_HEAD = 160  # long text is kept as head + length + hash: reviewable, little copied text

# name -> (corpus path, articles kept, what the case is about)
CASES: dict[str, tuple[str, int, str]] = {
    "rss20-bbc": ("realworld/feed-rs/feed-rs/fixture/rss2/rss_2.0_bbc.xml", 5, "RSS 2.0 news (BBC), media:thumbnail"),
    "atom-heise": ("realworld/rss-parser/test/input/heise.atom", 4, "Atom 1.0 news (heise), German"),
    "rdf-lautde-latin1": ("realworld/laminas-feed/test/Reader/Integration/_files/laut.de-rdf.xml", 4, "RSS 1.0 / RDF, ISO-8859-1"),
    "jsonfeed10": ("realworld/atoma/tests/json_feed/jsonfeed.org.json", 5, "JSON Feed 1.0"),
    "jsonfeed11": ("realworld/feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_elastic_1.1.json", 5, "JSON Feed 1.1, authors, attachments"),
    "mediarss-youtube": ("realworld/feed-rs/feed-rs/fixture/atom/atom_mediarss_youtube_1.xml", 5, "Atom + Media RSS (YouTube)"),
    "mediarss-guardian": ("realworld/rss-parser/test/input/guardian.rss", 3, "RSS 2.0 + media:content (Guardian)"),
    "podcast-spreaker": ("realworld/feed-rs/feed-rs/fixture/rss2/rss_2.0_spreaker.xml", 5, "podcast: enclosures, itunes"),
    "xmlbase-atom": ("realworld/feed-rs/feed-rs/fixture/atom/atom_xml_base.xml", 5, "Atom xml:base on feed and entry"),
    "xmlbase-rss-item": ("realworld/node-feedparser/test/feeds/rss-with-item-scoped-html-base.xml", 5, "RSS item-scoped xml:base"),
    "encoding-uol-latin1": ("realworld/rss-parser/test/input/uolNoticias.rss", 3, "no XML declaration, Latin-1 bytes"),
    "encoding-windows1251": ("realworld/miniflux-v2/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml", 3, "windows-1251, Russian"),
    "guid-dupes": ("realworld/node-feedparser/test/feeds/guid-dupes.xml", 10, "two guid elements in one item; feedflare image skipped"),
    "atom-xhtml": ("realworld/atoma/tests/atom/rfc-more-extensive.xml", 5, "Atom xhtml content, RFC 4287 example"),
    "feedburner-origlink": ("realworld/feedjira/spec/sample_feeds/TechCrunch.xml", 3, "feedburner:origLink, feed-ad images"),
    "podcast-nightvale": ("realworld/feedjira/spec/sample_feeds/itunes_feedburner.xml", 3, "podcast via feedburner, itunes fields"),
    "author-long-tld": ("realworld/feed-rs/feed-rs/fixture/rss2/rss_2.0_relurl_1.xml", 2, "author e-mail with a long top-level domain (.industries)"),
    "relative-html-no-base": ("realworld/node-feedparser/test/feeds/rss-with-relative-html-urls-no-base.xml", 1, "relative links in HTML, no xml:base: the item link is the base"),
}  # fmt: skip


def _xxh(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8"))


def _head(text: str) -> str:
    return text if len(text) <= TEXT_HEAD else text[:TEXT_HEAD] + "…"


def record(a: Article) -> dict[str, Any]:
    """The golden view of an article (JSON-friendly; long bodies cut, lengths kept)."""
    return {
        "identity": a.identity,
        "guid": a.guid,
        "url": a.url,
        "canonical_url": a.canonical_url,
        "title": a.title,
        "authors": list(a.authors),
        "published_at": a.published_at.isoformat() if a.published_at else None,
        "updated_at": a.updated_at.isoformat() if a.updated_at else None,
        "date_source": a.date_source,
        "published_raw": a.published_raw,
        "summary_head": _head(a.summary),
        "summary_len": len(a.summary),
        "summary_xxh64": _xxh(a.summary),
        "content_html_head": _head(a.content_html),
        "content_html_len": len(a.content_html),
        "content_html_xxh64": _xxh(a.content_html),
        "content_text_head": _head(a.content_text),
        "content_text_len": len(a.content_text),
        "language": a.language,
        "tags": list(a.tags),
        "image_url": a.image_url,
        "enclosures": [{"url": e.url, "type": e.type, "length": e.length} for e in a.enclosures],
        "word_count": a.word_count,
        "content_hash": a.content_hash,
        "extra": dict(a.extra),
    }


def feed_view(p: ParsedFeed) -> dict[str, Any]:
    return {
        "format": p.format,
        "parser": p.parser,
        "title": p.title,
        "link": p.link,
        "language": p.language,
        "entries": len(p.entries),
        "ttl_minutes": p.ttl_minutes,
        "sy_update_period": p.sy_update_period,
        "sy_update_frequency": p.sy_update_frequency,
        "bozo": p.bozo is not None,
    }


def build(name: str) -> dict[str, Any]:
    path, keep, note = CASES[name]
    url = "https://feeds.example.test/" + Path(path).name
    parsed = parse((CORPUS / path).read_bytes(), url)
    articles = normalize_feed(parsed, feed_url=url, fetched_at=FETCHED_AT)
    return {
        "source": path,
        "note": note,
        "feed_url": url,
        "fetched_at": FETCHED_AT.isoformat(),
        "feed": feed_view(parsed),
        "articles_kept": keep,
        "articles": [record(a) for a in articles[:keep]],
    }


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        out = HERE / f"{name}.expected.json"
        out.write_text(
            json.dumps(build(name), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        print("wrote", out.relative_to(HERE.parents[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
