"""Feed bytes -> ParsedFeed (pure: no I/O), by one of two paths.

    fast_parse(body, url, headers) -> ParsedFeed | None      lxml, well-formed RSS 2.0 / Atom 1.0;
                                                             None on any doubt
    parse(body, url, headers) -> ParsedFeed                  feedparser: every format; raises
                                                             errors.ParseError for a non-feed
    iter_fast_parse(body, url, headers)                      fast_parse streamed (big feeds)
    fallback_reason(body, url, headers) -> str | None        why fast_parse declines (diagnostics)

The pipeline calls `fast_parse(...) or parse(...)`: both give the same ParsedFeed for a
document the fast path takes (tests/test_fastparse_differential.py).
"""

from ._fallback import parse
from ._fast import fallback_reason, fast_parse, iter_fast_parse

__all__ = ["fallback_reason", "fast_parse", "iter_fast_parse", "parse"]
