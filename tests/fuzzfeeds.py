"""Hypothesis strategies that write feed documents (issue #17): RSS 2.0, Atom 1.0, RDF (RSS
1.0) and JSON Feed, valid or broken, in odd encodings, with huge fields, hostile HTML,
absurd dates and repeated guids. Used by tests/test_fuzz_pipeline.py.

Profiles: "ci" (the default: a few examples, derandomized, so `make test` stays fast and
deterministic) and "fuzz" (`make fuzz`: many examples, random; FUZZ_EXAMPLES sets how many).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=timedelta(seconds=10),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=timedelta(seconds=30),  # slower than this on one document is a finding too
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FEED_URL = "https://feeds.example.org/news/feed.xml"

# -- pieces ---------------------------------------------------------------------------------

HOSTILE_HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href=" JaVaScRiPt:alert(1)">spaced</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<iframe src="https://evil.example/"></iframe>',
    '<div style="background:url(javascript:alert(1))" onclick="x()">styled</div>',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"/>',
    '<math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    "<style>body{display:none}</style>",
    '<object data="evil.swf"></object><embed src="evil.swf">',
    '<form action="https://evil.example/"><input name=x></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<!-- <script>alert(1)</script> -->",
    '<img src="//cdn.example/x.png"><img src="/rel.png"><img src="rel2.png">',
    '<a href="/relative/path">rel</a> <a href="#frag">frag</a> <a href="?q=1">query</a>',
    '<a href="mailto:jo@example.org">mail</a>',
    "<p>unclosed <b>bold <i>italic</p>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",  # escaped once
    "&amp;lt;p&amp;gt;double escaped&amp;lt;/p&amp;gt;",
    "<noscript><p>hidden</p></noscript>",
    '<a href="http://">empty host</a><img src="https:///nohost.png">',
    "<table><tr><td>cell</td></tr></table><pre>  keep   spaces </pre>",
    "\u202e\u200b\u00a0\ufeff zero-width and bidi",
]

DATES = [
    "Mon, 30 Nov 2026 10:00:00 GMT",
    "Mon, 30 Nov 2026 10:00:00 +0530",
    "2026-11-30T10:00:00Z",
    "2026-11-30T10:00:00+14:00",
    "2026-11-30T10:00:00-12:00",
    "2026-11-30 10:00:00",  # no offset
    "2026-11-30",
    "30 Nov 2026",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sat, 01 Jan 0001 00:00:00 GMT",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "2026-02-30T10:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-30T25:61:61Z",
    "Mon, 30 Nov 2026 10:00:00 +9999",
    "2026-11-30T10:00:00+99:99",
    "99999999999999999999",
    "-1",
    "yesterday",
    "",
    "   ",
    "Mon, 30 Nov 2026 10:00:00 XYZ",
    "1e308",
    "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0663\u0660",  # Arabic-Indic digits
]

LINKS = [
    "https://news.example.org/a/1",
    "http://news.example.org/a/2?utm_source=x&id=3#frag",
    "/relative/story",
    "story.html",
    "//cdn.example.org/proto-relative",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://",
    "https:///no-host",
    "http://exa mple.org/space",
    "http://[::1]/v6",
    "http://xn--nxasmq6b.example/idn",
    "https://例え.テスト/パス",
    "mailto:jo@example.org",
    "ftp://files.example.org/x",
    "   https://padded.example.org/x   ",
    "",
    "http://news.example.org:99999/bad-port",
    "http://[bad-ipv6/x",
]

GUIDS = ["", "g1", "g1", "same", "https://news.example.org/a/1", " g1 ", "tag:example.org,2026:1"]

ENCODINGS = ["utf-8", "iso-8859-1", "windows-1252", "utf-16", "shift_jis", "koi8-r", "ascii"]

_simple = st.sampled_from("abcdefghijklmnopqrstuvwxyz ABC.,;:!?'\"&<>")
plain = st.text(  # any character XML can carry (no controls; surrogates cannot be encoded)
    alphabet=st.one_of(_simple, st.characters(blacklist_categories=("Cs", "Cc"))), max_size=80
)
dirty = st.text(  # with control characters: not well-formed, for the recovering parser
    alphabet=st.one_of(_simple, st.characters(blacklist_categories=("Cs",))), max_size=40
)


@st.composite
def html_fragment(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(st.sampled_from(HOSTILE_HTML), plain), max_size=6))
    return " ".join(parts)


@st.composite
def huge(draw: st.DrawFn) -> str:
    """A field of 50-200 thousand characters."""
    unit = draw(st.sampled_from(["word ", "<p>para</p>", "é", "<b>", "&amp;", "x" * 1000]))
    return unit * (draw(st.integers(50_000, 200_000)) // len(unit))


# huge fields are one draw in twelve: each costs the parsers tens of milliseconds
field_text = st.one_of(*[plain] * 6, *[html_fragment()] * 4, dirty, st.just(""), huge())


@dataclass
class Item:
    guid: str | None
    link: str | None
    title: str | None
    content: str | None
    date: str | None
    updated: str | None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    enclosure: str | None = None


items = st.builds(
    Item,
    guid=st.one_of(st.none(), st.sampled_from(GUIDS), plain),
    link=st.one_of(st.none(), st.sampled_from(LINKS)),
    title=st.one_of(st.none(), field_text),
    content=st.one_of(st.none(), field_text),
    date=st.one_of(st.none(), st.sampled_from(DATES)),
    updated=st.one_of(st.none(), st.sampled_from(DATES)),
    authors=st.lists(
        st.one_of(plain, st.sampled_from(["jo@x.org (Jo Smith)", "Jo <jo@x.org>", "a@b.c"])),
        max_size=3,
    ),
    tags=st.lists(plain, max_size=4),
    enclosure=st.one_of(st.none(), st.sampled_from(LINKS)),
)


# -- documents ------------------------------------------------------------------------------


def _e(s: str | None) -> str:
    return escape(s or "")


def rss20(title: str, entries: list[Item], cdata: bool) -> str:
    out = [
        f'<rss version="2.0"><channel><title>{_e(title)}</title><link>https://news.example.org/</link>'
    ]
    for it in entries:
        out.append("<item>")
        if it.guid is not None:
            out.append(f'<guid isPermaLink="false">{_e(it.guid)}</guid>')
        if it.link is not None:
            out.append(f"<link>{_e(it.link)}</link>")
        if it.title is not None:
            out.append(f"<title>{_e(it.title)}</title>")
        if it.content is not None:
            body = it.content.replace("]]>", "]]&gt;")
            out.append(
                f"<description><![CDATA[{body}]]></description>"
                if cdata
                else f"<description>{_e(it.content)}</description>"
            )
        if it.date is not None:
            out.append(f"<pubDate>{_e(it.date)}</pubDate>")
        for a in it.authors:
            out.append(f"<author>{_e(a)}</author>")
        for t in it.tags:
            out.append(f"<category>{_e(t)}</category>")
        if it.enclosure is not None:
            out.append(f'<enclosure url={quoteattr(it.enclosure)} type="image/jpeg" length="-5"/>')
        out.append("</item>")
    out.append("</channel></rss>")
    return "".join(out)


def atom10(title: str, entries: list[Item], cdata: bool) -> str:
    out = [
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{_e(title)}</title><id>urn:x</id><updated>2026-11-30T10:00:00Z</updated>"
    ]
    for it in entries:
        out.append("<entry>")
        if it.guid is not None:
            out.append(f"<id>{_e(it.guid)}</id>")
        if it.link is not None:
            out.append(f'<link rel="alternate" href={quoteattr(it.link)}/>')
        if it.title is not None:
            out.append(f'<title type="html">{_e(it.title)}</title>')
        if it.content is not None:
            out.append(f'<content type="html">{_e(it.content)}</content>')
        if it.date is not None:
            out.append(f"<published>{_e(it.date)}</published>")
        if it.updated is not None:
            out.append(f"<updated>{_e(it.updated)}</updated>")
        for a in it.authors:
            out.append(f"<author><name>{_e(a)}</name></author>")
        for t in it.tags:
            out.append(f"<category term={quoteattr(t)}/>")
        if it.enclosure is not None:
            out.append(f'<link rel="enclosure" href={quoteattr(it.enclosure)} length="x"/>')
        out.append("</entry>")
    out.append("</feed>")
    return "".join(out)


def rdf(title: str, entries: list[Item], cdata: bool) -> str:
    out = [
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f'<channel rdf:about="https://news.example.org/"><title>{_e(title)}</title></channel>'
    ]
    for it in entries:
        about = quoteattr(it.guid or it.link or "")
        out.append(f"<item rdf:about={about}>")
        if it.link is not None:
            out.append(f"<link>{_e(it.link)}</link>")
        if it.title is not None:
            out.append(f"<title>{_e(it.title)}</title>")
        if it.content is not None:
            out.append(f"<content:encoded>{_e(it.content)}</content:encoded>")
        if it.date is not None:
            out.append(f"<dc:date>{_e(it.date)}</dc:date>")
        for a in it.authors:
            out.append(f"<dc:creator>{_e(a)}</dc:creator>")
        for t in it.tags:
            out.append(f"<dc:subject>{_e(t)}</dc:subject>")
        out.append("</item>")
    out.append("</rdf:RDF>")
    return "".join(out)


def jsonfeed(title: str, entries: list[Item], odd: bool) -> str:
    def item(it: Item) -> dict[str, object]:
        d: dict[str, object] = {}
        if it.guid is not None:
            d["id"] = it.guid if not odd else [it.guid]  # odd: wrong JSON types
        if it.link is not None:
            d["url"] = it.link
        if it.title is not None:
            d["title"] = it.title
        if it.content is not None:
            d["content_html"] = it.content
        if it.date is not None:
            d["date_published"] = it.date if not odd else 12345
        if it.updated is not None:
            d["date_modified"] = it.updated
        if it.authors:
            d["authors"] = [{"name": a} for a in it.authors] if not odd else it.authors
        if it.tags:
            d["tags"] = it.tags if not odd else ",".join(it.tags)
        if it.enclosure is not None:
            d["attachments"] = [
                {"url": it.enclosure, "mime_type": "audio/mpeg", "size_in_bytes": -1}
            ]
        return d

    if odd and entries:  # a lone surrogate: valid JSON, not valid text
        entries = [Item(**{**entries[0].__dict__, "title": "lone \udc80 half"}), *entries[1:]]
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "items": [item(it) for it in entries],
    }
    return json.dumps(doc, ensure_ascii=bool(odd))


WRITERS = {"rss20": rss20, "atom10": atom10, "rdf": rdf, "json": jsonfeed}


@dataclass
class Document:
    """One generated feed body and the headers it is served with."""

    kind: str
    body: bytes
    headers: dict[str, str]
    broken: str | None  # how it was broken on purpose (None: well-formed)


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="xmlcharrefreplace")


@st.composite
def documents(draw: st.DrawFn) -> Document:
    kind = draw(st.sampled_from(sorted(WRITERS)))
    entries = draw(st.lists(items, max_size=6))
    # duplicate guids on purpose, now and then
    if entries and draw(st.booleans()):
        entries += [entries[0]] * draw(st.integers(1, 2))
    title = draw(plain)
    text = WRITERS[kind](title, entries, draw(st.booleans()))
    headers: dict[str, str] = {}
    # half the documents are plain UTF-8, as most feeds are (and as the fast path takes them)
    odd_encoding = kind != "json" and draw(st.booleans())
    actual = draw(st.sampled_from(ENCODINGS)) if odd_encoding else "utf-8"
    declared = (
        draw(st.sampled_from([*ENCODINGS, None, "x-no-such-charset"]))
        if odd_encoding
        else draw(st.sampled_from(["utf-8", None]))
    )
    if kind != "json":
        decl = (
            f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
        )
        text = decl + text
    body = _encode(text, actual)
    if odd_encoding and draw(st.booleans()):
        charset = draw(st.sampled_from([*ENCODINGS, "bogus"]))
        ctype = draw(
            st.sampled_from(["application/rss+xml", "text/xml", "application/json", "text/html"])
        )
        headers["content-type"] = f"{ctype}; charset={charset}"
    if odd_encoding and draw(st.integers(0, 4)) == 0:
        body = b"\xef\xbb\xbf" + body  # a byte order mark
    broken = None
    how = draw(st.sampled_from(["none"] * 6 + ["truncate", "garbage", "bare-amp", "nul", "html"]))
    if how == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif how == "garbage":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=64)) + body[at:]
    elif how == "bare-amp":
        body = body.replace(b"&amp;", b"&", 3)
    elif how == "nul":
        body = body.replace(b">", b">\x00", 2)
    elif how == "html":
        body = b"<!DOCTYPE html><html><body>" + body + b"</body></html>"
    if how != "none":
        broken = how
    return Document(kind, body, headers, broken)
