"""What to do with a search that SQLite FTS5 rejects (pure, table-tested).

Plain text that merely is not FTS5 (`covid-19`, `U.S. election`, `Breaking: storm`, a stray
quote pasted with a headline) is searched as its words. A query that uses FTS5's operators
(AND / OR / NOT / NEAR, parentheses, `*`, `^`) and is wrong is the operator's mistake: it is
reported with a hint instead of being searched as something else (`NOT storm` found nothing,
saying only "no matches").
"""

from __future__ import annotations

import re

__all__ = ["any_words", "plain_words", "syntax_hint"]

_OPERATOR = re.compile(r"\b(?:AND|OR|NOT|NEAR)\b")
_SYNTAX_CHARS = frozenset("()*^")


def plain_words(query: str) -> str | None:
    """The FTS5 query that searches `query`'s words as they are, or None when `query` is
    written in FTS5 syntax (an error in it is to be reported, not reinterpreted)."""
    if _OPERATOR.search(query) or _SYNTAX_CHARS & set(query):
        return None
    words = query.split()
    return " ".join('"' + w.replace('"', '""') + '"' for w in words) if words else None


def any_words(query: str) -> str | None:
    """`query`'s words (letters and digits) as FTS5 phrases, whatever else it holds (None: no
    word in it): what a filter that must not fail (the HTTP API's `q`) searches when FTS5
    rejects `query`."""
    words = re.findall(r"\w+", query)
    return " ".join(f'"{w}"' for w in words) if words else None


def syntax_hint(query: str) -> str:
    """A hint for a query FTS5 rejected."""
    first = query.split()[0] if query.split() else ""
    if first in ("AND", "OR", "NOT"):
        return f"{first} joins two terms, e.g. `rain {first} storm`"
    if query.count("(") != query.count(")"):
        return "parentheses do not match"
    return 'put words in double quotes to search them as they are, e.g. `"NOT" storm`'
