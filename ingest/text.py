"""Entry HTML -> safe HTML, plain text, summaries and boilerplate cleanup (pure).

    sanitize(html, base)   nh3 allow-list; relative href/src resolved against `base`
    cleanup(html)          conservative boilerplate removal (repeated blocks, page debris)
    html_to_text(html)     block-aware plain text, entities decoded, no markup
    text_to_html(text)     plain text -> escaped <p> paragraphs
    summarize(text)        first ~300 characters, cut at a word boundary

Everything works on nh3's output, which is well-formed (every element closed, attributes
quoted, `<` `>` `&` escaped in text), so the later steps can use precompiled regexes instead
of re-parsing with lxml: that keeps the per-entry cost low (issue #6).
"""

from __future__ import annotations

import html as _html
import re
import threading
from urllib.parse import urljoin

import nh3

__all__ = [
    "ALLOWED_TAGS",
    "URL_SCHEMES",
    "cleanup",
    "collapse_ws",
    "first_image",
    "html_to_text",
    "is_debris",
    "sanitize",
    "summarize",
    "text_to_html",
    "xml_safe",
]

# What XML 1.0 cannot carry: C0 controls but tab, newline and carriage return, lone
# surrogates (a JSON Feed's "\ud800") and U+FFFE / U+FFFF. Fuzzing found them in titles,
# summaries, authors and tags of feeds that feedparser recovered (issue #17); an Atom or RSS
# export of such a record would not be well-formed, and a lone surrogate cannot be stored.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (see _NOT_XML)."""
    return _NOT_XML.sub("", text) if _NOT_XML.search(text) else text


# No script/style/iframe/object/embed/form/input, no event handlers, no style attribute.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "article", "aside", "audio", "b", "bdi", "bdo",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd",
        "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins",
        "kbd", "li", "main", "mark", "nav", "ol", "p", "picture", "pre", "q", "rp", "rt",
        "ruby", "s", "samp", "section", "small", "source", "span", "strike", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt",
        "u", "ul", "var", "video", "wbr",
    }
)  # fmt: skip
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "hreflang", "title"},
    "abbr": {"title"},
    "acronym": {"title"},
    "audio": {"src", "controls"},
    "blockquote": {"cite"},
    "col": {"span"},
    "colgroup": {"span"},
    "del": {"cite", "datetime"},
    "img": {"src", "alt", "title", "width", "height"},
    "ins": {"cite", "datetime"},
    "ol": {"start", "reversed"},
    "q": {"cite"},
    "source": {"src", "type"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "time": {"datetime"},
    "video": {"src", "poster", "controls", "width", "height"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_TAGS = set(ALLOWED_TAGS)
_SCHEMES = set(URL_SCHEMES)
_URL_ATTRS = frozenset({"href", "src", "cite", "poster"})
_DROP_CONTENT = {"script", "style", "template", "noscript", "title", "head"}


def sanitize(html: str, base: str | None = None) -> str:
    """Allow-list sanitize `html` (nh3); resolve relative URLs against `base`.

    Removed: script/style (with their content), iframes/objects/forms (tag only), every
    attribute not listed (so every on* handler and style), URLs whose scheme is not http,
    https or mailto (javascript:, data:, vbscript: ...), comments.
    """
    if not html:
        return ""
    # One reusable nh3.Cleaner: nh3.clean() converts the allow-lists to Rust on every call,
    # which cost more than the cleaning itself (issue #6). The base the
    # attribute filter resolves against travels in a thread-local: the filter runs inside
    # clean(), in the calling thread.
    _state.base = base
    try:
        return _CLEANER.clean(html).strip()
    finally:
        _state.base = None


def _attr(tag: str, attr: str, value: str) -> str | None:
    if attr in _URL_ATTRS:
        value = value.strip()
        base: str | None = _state.base
        if base and value and not value.startswith(("#", "http://", "https://")):
            try:
                value = urljoin(base, value)
            except ValueError:
                return None
            # a base with a hostile scheme must not smuggle one in
            scheme = value.split(":", 1)[0].lower() if ":" in value else ""
            if scheme and scheme not in URL_SCHEMES:
                return None
    return value


class _State(threading.local):
    base: str | None = None


_state = _State()
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_DROP_CONTENT,
    attributes=_ALLOWED_ATTRIBUTES,
    attribute_filter=_attr,
    url_schemes=_SCHEMES,
    strip_comments=True,
    link_rel="noopener noreferrer",
)


# --------------------------------------------------------------------------- text

_BLOCK = (
    "address|article|aside|blockquote|caption|center|dd|details|div|dl|dt|figcaption|"
    "figure|footer|h[1-6]|header|hgroup|hr|li|main|nav|ol|p|pre|section|summary|table|"
    "tbody|tfoot|thead|tr|ul"
)
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCK})\b[^>]*>", re.I)
_BR = re.compile(r"<br\b[^>]*>", re.I)
_CELL = re.compile(r"</t[dh]>", re.I)
_TAG = re.compile(r"<[^>]*>")
# Horizontal whitespace: each run of these (and spaces) becomes one space. _tidy finds them
# with `in` / str.replace and regexes that start with a literal, not with a character-class
# regex: that tests every character of the text in the regex engine, which made _tidy the
# slowest step of normalize (issue #6).
_HS_ASCII = "\t\r\f\v"
_HS = _HS_ASCII + "\u00a0" + "".join(map(chr, range(0x2000, 0x200C))) + "\u202f\u205f\u3000"
_PRE = re.compile(r"(<pre\b[^>]*>.*?</pre>)", re.I | re.S)


def collapse_ws(text: str) -> str:
    """All runs of whitespace -> one space, stripped."""
    if len(text) > 40 and text.isascii() and _is_collapsed_ascii(text):
        return text  # already collapsed: no need to split a long text into words
    return " ".join(text.split())


def _is_collapsed_ascii(text: str) -> bool:
    """True when ASCII `text` is its own collapse_ws: none of the characters str.split()
    separates words at but single spaces between words."""
    return not (
        text[0] == " "
        or text[-1] == " "
        or "\n" in text
        or "\t" in text
        or "\r" in text
        or "\x0b" in text
        or "\x0c" in text
        or "\x1c" in text
        or "\x1d" in text
        or "\x1e" in text
        or "\x1f" in text
        or "  " in text
    )


def html_to_text(html: str) -> str:
    """Plain text of (sanitized, well-formed) HTML: block elements become paragraph breaks,
    <br> a line break, table cells a space; entities decoded; whitespace collapsed."""
    if not html:
        return ""
    if "<" not in html:
        return _tidy(_html.unescape(html))
    # source newlines are spaces, except inside <pre>: each \r or \n becomes a space here
    # (a run of them becomes a run of spaces, which _tidy collapses to one)
    if "<pre" in html:
        s = "".join(part if i % 2 else _src_nl(part) for i, part in enumerate(_PRE.split(html)))
    else:
        s = _src_nl(html)
    s = _BR.sub("\n", s)
    s = _CELL.sub(" ", s)
    s = _BLOCK_TAG.sub("\n\n", s)
    s = _TAG.sub("", s)
    return _tidy(_html.unescape(s))


def _src_nl(s: str) -> str:
    if "\n" in s:
        s = s.replace("\n", " ")
    if "\r" in s:
        s = s.replace("\r", " ")
    return s


def _tidy(s: str) -> str:
    """Each run of horizontal whitespace -> one space, spaces around a newline dropped, 3+
    newlines -> 2, stripped."""
    for c in _HS_ASCII if s.isascii() else _HS:
        if c in s:
            s = s.replace(c, " ")
    # the regexes start with a literal: the engine skips to it quickly (a str.replace loop
    # was slower on long non-ASCII text)
    if "  " in s:
        s = _SPACES.sub(" ", s)
    if "\n" in s:
        s = _SPACE_NL.sub("\n", s)
        s = _NL_SPACE.sub("\n", s)
        s = _MANY_NL.sub("\n\n", s)
    return s.strip()


_SPACES = re.compile("  +")
_SPACE_NL = re.compile(" \n")
_NL_SPACE = re.compile("\n ")
_MANY_NL = re.compile("\n\n\n+")


_PARA_SPLIT = re.compile(r"\n\s*\n")


def text_to_html(text: str) -> str:
    """Plain text -> HTML: blank-line separated paragraphs in <p>, single newlines as <br>."""
    paras = [p.strip() for p in _PARA_SPLIT.split(text.strip()) if p.strip()]
    return "".join(
        "<p>" + _html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paras
    )


def summarize(text: str, limit: int = 300) -> str:
    """`text` collapsed to one line and cut to at most `limit` characters at a word
    boundary, with "…" when cut."""
    # collapse_ws of a prefix of `text` is a prefix of collapse_ws(text): when it is already
    # longer than `limit`, the rest of a long text need not be collapsed
    s = collapse_ws(text[: 2 * limit]) if len(text) > 2 * limit else ""
    if len(s) <= limit:
        s = collapse_ws(text)
        if len(s) <= limit:
            return s
    cut = s[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


_IMG = re.compile(r"<img\b[^>]*>", re.I)
_IMG_SRC = re.compile(r"\bsrc=\"([^\"]+)\"", re.I)
_PIXEL = re.compile(r"\b(?:width|height)=\"[01]\"", re.I)
# feed-ad, share-button and tracking images that are not the article's picture
_NOT_A_PICTURE = re.compile(
    r"feeds\.feedburner\.com/~|feedads\.|doubleclick\.net|feedblitz\.com/|"
    r"stats\.wordpress\.com|pixel\.wp\.com|/pixel\b|[/.]gravatar\.com/|"
    r"(?:facebook|twitter|linkedin)\.com/(?:share|sharer|intent)|/(?:spacer|blank|1x1)\.gif",
    re.I,
)


def first_image(html: str) -> str | None:
    """The src of the first picture-like <img> in sanitized HTML (entities decoded):
    1x1 pixels, feed ads, share buttons and tracking images are skipped."""
    if "<img" not in html:
        return None
    for tag in _IMG.finditer(html):
        m = _IMG_SRC.search(tag.group(0))
        if not m or _PIXEL.search(tag.group(0)):
            continue
        src = _html.unescape(m.group(1))
        if not _NOT_A_PICTURE.search(src):
            return src
    return None


# --------------------------------------------------------------------------- cleanup

# Stock page debris that scrapers and CMS templates leave in feed content. Matched against
# a whole block's text only (casefolded, punctuation at the ends stripped), so a sentence
# that merely contains "read more" is kept.
_DEBRIS = re.compile(
    r"""^(?:
        related(?:\s+(?:news|stories|articles|posts|content|coverage|topics|reading|links))?
      | (?:see|read|view)\s+(?:also|more)(?:\s+(?:news|stories|articles|here|on\s+this))?
      | more\s+(?:news|stories|on\s+this\s+story|from\s+\S+(?:\s+\S+)?)
      | (?:continue|keep)\s+reading(?:\s+.{0,40})?
      | read\s+(?:the\s+)?(?:full|whole|rest\s+of\s+the)\s+(?:story|article|post)(?:\s+.{0,40})?
      | load(?:ing)?\s+more(?:\s+(?:news|stories|articles|comments))?
      | show\s+more | see\s+all | view\s+all
      | share(?:\s+(?:this|on\s+\w+|via\s+\w+))?(?:\s+(?:article|story|post|page))?
      | (?:share|follow\s+us)\s+on\s+(?:facebook|twitter|x|linkedin|whatsapp)(?:\s*(?:,|and|or)\s*\w+)*
      | tweet(?:\s+this)? | email\s+this(?:\s+(?:article|story))? | print(?:\s+this)?(?:\s+(?:article|story|page))?
      | subscribe(?:\s+(?:now|today|here|to\s+(?:our|the)\s+.{0,40}))?
      | sign\s+up\s+(?:for|to)\s+.{0,50}newsletter.{0,20}
      | (?:click|tap)\s+here\b.{0,80}
      | advertisement | advertising | sponsored(?:\s+content)? | ad
      | scroll\s+to\s+continue(?:\s+with\s+content)?
      | (?:skip|jump)\s+to\s+(?:main\s+)?content
      | comments?(?:\s*\(\d+\))? | leave\s+a\s+comment | \d+\s+comments?
      | the\s+post\s+.{1,200}\s+appeared\s+first\s+on\s+.{1,100}
      | (?:photo|image|video)\s*:?\s*(?:getty\s+images|reuters|ap|afp)?
    )$""",
    re.X | re.I,
)
_EDGE_PUNCT = " \t\n.:;!?»›>|•·-–—()[]"
# Leaf blocks the cleanup may remove: these cannot nest in well-formed HTML (nh3 output).
_LEAF = re.compile(
    r"<(p|figcaption|h[1-6]|li|dt|dd|caption)\b[^>]*>([^<]*(?:<(?!/\1>)[^<]*)*)</\1>", re.I
)
_EMPTY_WRAPPER = re.compile(r"<(figure|div|ul|ol|section|aside)\b[^>]*>\s*</\1>", re.I)
_MIN_REPEAT_LEN = 12  # shorter repeated blocks ("Yes.", "* * *") are kept


def is_debris(text: str) -> bool:
    """True when a block's whole text is stock page debris ("Related News", "Load more")."""
    t = collapse_ws(text)
    return len(t) <= 200 and _is_debris(t)


def _is_debris(collapsed: str) -> bool:
    t = collapsed.strip(_EDGE_PUNCT)
    return bool(t) and _DEBRIS.match(t) is not None


def cleanup(html: str) -> str:
    """Conservative boilerplate removal on sanitized HTML.

    - a paragraph / caption / heading / list item whose text repeats an earlier block of the
      same article (>= 12 characters, compared case- and whitespace-insensitively) is dropped:
      the caption that CMS exports print twice is kept once;
    - a block whose whole text is stock debris (see `is_debris`) is dropped;
    - wrappers left empty by that are removed.
    Text outside such blocks is never touched.
    """
    if not html or "<" not in html:
        return html
    seen: set[str] = set()
    changed = False

    def _block(m: re.Match[str]) -> str:
        nonlocal changed
        inner = m.group(2)
        if "<img" in inner:  # an image block is content even with a debris-like caption
            return m.group(0)
        text = _TAG.sub(" ", inner) if "<" in inner else inner
        text = collapse_ws(_html.unescape(text) if "&" in text else text)
        if not text:
            return m.group(0)
        if len(text) <= 200 and _is_debris(text):
            changed = True
            return ""
        if len(text) >= _MIN_REPEAT_LEN:
            key = text.casefold()
            if key in seen:
                changed = True
                return ""
            seen.add(key)
        return m.group(0)

    out = _LEAF.sub(_block, html)
    if changed:
        out = _EMPTY_WRAPPER.sub("", out)
    return out.strip()
