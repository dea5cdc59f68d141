"""Opt-in full-text extraction for summary-only feeds (FeedOptions.full_text).

    extract(page_html, url) -> (content_html, content_text) | None

    fill_thin(fetcher, pairs, known, feed) -> the pipeline's new thin articles, extracted

trafilatura (the optional `fulltext` extra) is imported on first use only, so runs that
never extract do not pay for it. The extracted HTML goes through the same nh3 sanitizer
and boilerplate cleanup as feed content. Pages are fetched through the run's Fetcher (its
guards and politeness).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from .dedupe import signature
from .errors import FeedError
from .models import Article, Feed
from .text import cleanup, html_to_text, sanitize

if TYPE_CHECKING:
    from .fetch import Fetcher

__all__ = ["FULL_TEXT_MIN_WORDS", "MIN_TEXT_CHARS", "extract", "fill_thin"]

log = logging.getLogger("ingest")

MIN_TEXT_CHARS = 200  # less than this is a teaser or a consent wall, not the article
FULL_TEXT_MIN_WORDS = 150  # below this, an opted-in feed's article gets its page extracted


def extract(html: bytes | str, url: str) -> tuple[str, str] | None:
    """Main text of an article page as (sanitized content_html, content_text), or None when
    trafilatura is missing or finds nothing useful."""
    try:
        import trafilatura
    except ImportError:
        return None
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    if not html.strip():
        return None
    try:
        out = trafilatura.extract(
            html,
            url=url,
            output_format="html",
            include_comments=False,
            include_tables=True,
            include_images=True,
            include_links=True,
            favor_precision=True,
            deduplicate=True,
        )
    except Exception:  # trafilatura raises assorted errors on odd pages
        return None
    if not out:
        return None
    content_html = cleanup(sanitize(str(out), url))
    text = html_to_text(content_html)
    if len(text) < MIN_TEXT_CHARS:
        return None
    return content_html, text


async def fill_thin(
    fetcher: Fetcher, pairs: list[tuple[Article, bytes | None]], known: set[str], feed: Feed
) -> list[tuple[Article, bytes | None]]:
    """Opt-in (FeedOptions.full_text): replace thin articles (new ones only) by the text
    extracted from their page, fetched by the run's `fetcher`, and sign them again."""
    out = []
    for article, sig in pairs:
        if (
            article.filtered
            or article.identity in known
            or not article.url
            or article.word_count >= FULL_TEXT_MIN_WORDS
        ):
            out.append((article, sig))
            continue
        try:
            page = await fetcher.get_page(
                article.url,
                allow_private=feed.options.allow_private_network,
                options=feed.options,
            )
            extracted = extract(page, article.url)
        except FeedError as exc:
            log.warning("full text: %s", exc)
            extracted = None
        if extracted:
            html, text = extracted
            article = dataclasses.replace(
                article,
                content_html=html,
                content_text=text,
                word_count=len(text.split()),
                extra={**article.extra, "full_text": "extracted"},
            )
            sig = signature(article.title, article.content_text).to_bytes()
        out.append((article, sig))
    return out
