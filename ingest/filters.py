"""Per-feed keep / block rules (pure).

A rule (models.FilterRule) matches a field of the normalized article case-insensitively,
as a keyword (substring) or, with `regex = true`, as a regular expression (re.search):

    title    the title             content  the content text (and the summary)
    url      url and canonical_url author   every author name
    tags     every tag             any      all of the above

Decision: a feed with keep rules keeps only articles that match at least one of them; then
any matching block rule drops the article. A dropped article is still returned by
normalize_feed with `filtered` set to the reason, e.g. "block rule title~'sponsored'" or
"no keep rule matched", so the store can record what was filtered and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from .models import Article, FeedOptions, FilterRule

__all__ = ["describe", "filter_reason", "rule_matches"]


@lru_cache(maxsize=512)
def _compiled(pattern: str, regex: bool) -> re.Pattern[str]:
    return re.compile(pattern if regex else re.escape(pattern), re.I)


def _values(article: Article, fld: str) -> Iterator[str]:
    if fld in ("title", "any"):
        yield article.title
    if fld in ("content", "any"):
        yield article.content_text
        yield article.summary
    if fld in ("url", "any"):
        yield article.url or ""
        yield article.canonical_url or ""
    if fld in ("author", "any"):
        yield from article.authors
    if fld in ("tags", "any"):
        yield from article.tags


def rule_matches(rule: FilterRule, article: Article) -> bool:
    """True when `rule` matches the article."""
    try:
        rx = _compiled(rule.pattern, rule.regex)
    except re.error:  # settings validates regexes; a rule made in code may not be
        return False
    return any(rx.search(v) for v in _values(article, rule.field) if v)


def describe(kind: str, rule: FilterRule) -> str:
    """ "block rule title~'sponsored'" (keyword) / "block rule any~/^ad:/" (regex)."""
    pat = f"/{rule.pattern}/" if rule.regex else repr(rule.pattern)
    return f"{kind} rule {rule.field}~{pat}"


def filter_reason(article: Article, options: FeedOptions) -> str | None:
    """Why the feed's rules drop `article`, or None when it is kept."""
    if options.keep and not any(rule_matches(r, article) for r in options.keep):
        return "no keep rule matched"
    for rule in options.block:
        if rule_matches(rule, article):
            return describe("block", rule)
    return None
