"""Opt-in full-text extraction for summary-only feeds (FeedOptions.full_text).

    extract(page_html, url) -> (content_html, content_text) | None

trafilatura (the optional `fulltext` extra) is imported on first use only, so runs that
never extract do not pay for it. The extracted HTML goes through the same nh3 sanitizer
and boilerplate cleanup as feed content. The page fetch itself is the pipeline's job.
"""

from __future__ import annotations

from .text import cleanup, html_to_text, sanitize

__all__ = ["MIN_TEXT_CHARS", "extract"]

MIN_TEXT_CHARS = 200  # less than this is a teaser or a consent wall, not the article


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
