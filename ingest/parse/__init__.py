"""Feed bytes -> ParsedFeed (pure: no I/O), by one of two paths.

    fast_parse(body, url, headers) -> ParsedFeed | None      lxml, well-formed RSS 2.0 / Atom 1.0;
                                                             None on any doubt
    parse(body, url, headers) -> ParsedFeed                  feedparser: every format; raises
                                                             errors.ParseError for a non-feed
    iter_fast_parse(body, url, headers)                      fast_parse streamed (big feeds)
    fallback_reason(body, url, headers) -> str | None        why fast_parse declines (diagnostics)

The pipeline calls `fast_parse(...) or parse(...)`: both give the same ParsedFeed for a
document the fast path takes (tests/test_fastparse_differential.py).

    _fallback.py     the feedparser path (and JSON Feed): parse()
    _guards.py       before any parser: gzip without Content-Encoding, entity bombs, HTML pages
    _shared.py       what both paths share: sentinel document base, skipHours / skipDays,
                     non-English dates, value readers
    _fast.py         the lxml path's reader: encoding checks, tree and streaming walks
    _fast_rss.py     RSS channel, items, Media RSS        _fast_atom.py   Atom feed, entries
    _fast_values.py  element text -> value as feedparser makes it; dates, authors, keys
"""

from ._fallback import parse
from ._fast import fallback_reason, fast_parse, iter_fast_parse

__all__ = ["fallback_reason", "fast_parse", "iter_fast_parse", "parse"]
