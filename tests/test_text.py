"""ingest.text: sanitize, HTML -> text, summaries, boilerplate cleanup (issue #4 items 2-3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.text import (
    cleanup,
    first_image,
    html_to_text,
    is_debris,
    sanitize,
    summarize,
    text_to_html,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
BASE = "https://news.example.org/world/story.html"


@pytest.mark.parametrize(
    ("html", "absent", "present"),
    [
        ("<p>a<script>alert(1)</script>b</p>", ["script", "alert"], ["<p>ab</p>"]),
        ("<style>p{color:red}</style><p>x</p>", ["style", "color"], ["<p>x</p>"]),
        (
            '<p onclick="evil()" onmouseover="x()">t</p>',
            ["onclick", "onmouseover", "evil"],
            ["<p>t</p>"],
        ),
        ('<a href="javascript:alert(1)">x</a>', ["javascript"], [">x</a>"]),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', ["javascript", "JaVaScRiPt"], [">x</a>"]),
        ('<img src="data:image/png;base64,AAAA">', ["data:"], ["<img>"]),
        ('<iframe src="https://evil.example/"></iframe><p>k</p>', ["iframe", "evil"], ["<p>k</p>"]),
        ('<p style="background:url(javascript:x)">s</p>', ["style", "javascript"], ["<p>s</p>"]),
        ("<object data='x.swf'></object><embed src='y.swf'>", ["object", "embed", "swf"], []),
        ("<form action='/x'><input name=q></form>", ["form", "input"], []),
        ("<!-- secret --><b>c</b>", ["secret"], ["<b>c</b>"]),
        ('<a href="/about">us</a>', [], ['href="https://news.example.org/about"']),
        ('<img src="pic.jpg" alt="A">', [], ['src="https://news.example.org/world/pic.jpg"']),
        ('<a href="#note">n</a>', [], ['href="#note"']),
        ('<a href="mailto:desk@example.org">m</a>', [], ['href="mailto:desk@example.org"']),
    ],
)
def test_sanitize(html: str, absent: list[str], present: list[str]) -> None:
    out = sanitize(html, BASE)
    for bad in absent:
        assert bad not in out
    for good in present:
        assert good in out


def test_sanitize_base_with_hostile_scheme_is_not_used() -> None:
    assert "javascript" not in sanitize('<a href="x">x</a>', "javascript:alert(1)//")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("line<br>next<br/>last", "line\nnext\nlast"),
        ("<p>a &amp; b &lt;c&gt; &#8217; &eacute;</p>", "a & b <c> ’ é"),
        ("<ul><li>x</li><li>y</li></ul>", "x\n\ny"),
        ("<p>  lots   of\n\t space  </p>", "lots of space"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ("<h2>Head</h2>Body <b>bold</b> <i>it</i>", "Head\n\nBody bold it"),
        ("<pre>a\n  b</pre><p>c\nd</p>", "a\nb\n\nc d"),
        ("plain &amp; simple", "plain & simple"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_text_to_html_escapes_and_paragraphs() -> None:
    assert text_to_html("a < b\n\nsecond\nline") == "<p>a &lt; b</p><p>second<br>line</p>"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short text", 300, "short text"),
        ("one two three four five six", 15, "one two three…"),
        ("  spaced\n\nout  ", 300, "spaced out"),
    ],
)
def test_summarize(text: str, limit: int, expected: str) -> None:
    assert summarize(text, limit) == expected


def test_first_image() -> None:
    assert first_image('<p>x</p><img src="https://a.example/i.jpg?a=1&amp;b=2">') == (
        "https://a.example/i.jpg?a=1&b=2"
    )
    assert first_image("<p>no image</p>") is None


@pytest.mark.parametrize(
    "line",
    [
        "Related News", "Related Stories", "Load more", "Read more", "Read More »",
        "Share this", "Share on Facebook", "Subscribe", "Subscribe to our newsletter",
        "Click here to read the full story", "Advertisement", "Continue reading",
        "See also", "Skip to content", "Scroll to continue with content", "3 Comments",
        "The post Hello appeared first on Example Blog.",
    ],
)  # fmt: skip
def test_debris_lines(line: str) -> None:
    assert is_debris(line)


@pytest.mark.parametrize(
    "line",
    [
        "Read more about the vote in our explainer published on Monday.",
        "Subscribers will get the new features next week, the company said.",
        "Related parties were not named.",
        "He said he would click here and there.",
        "Share prices fell 3 per cent.",
    ],
)
def test_real_sentences_are_not_debris(line: str) -> None:
    assert not is_debris(line)


def test_cleanup_drops_repeated_caption_and_debris() -> None:
    html = (
        "<figure><img src='https://a.example/x.jpg'><figcaption>The minister at the podium"
        "</figcaption></figure><p>The minister at the podium</p><p>Body text of the story.</p>"
        "<p>Related News</p><p>More body text.</p><p><a href='/more'>Load more</a></p>"
    )
    out = cleanup(sanitize(html, BASE))
    text = html_to_text(out)
    assert text.count("The minister at the podium") == 1
    assert "Related News" not in text and "Load more" not in text
    assert "Body text of the story." in text and "More body text." in text
    assert "<img" in out


def test_cleanup_keeps_short_repeats_and_loose_text() -> None:
    html = "<p>Yes.</p><p>Yes.</p>Related News<br>tail"
    assert cleanup(html) == html


def test_seed_article_caption_once_no_debris() -> None:
    path = SHARED / "seed-article.txt"
    if not path.exists():
        pytest.skip("../shared/seed-article.txt is absent")
    paras = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    html = "".join(f"<p>{p}</p>" for p in paras)
    text = html_to_text(cleanup(sanitize(html, BASE)))
    caption = "UN Secretary general Antonio Guterres with Zelenskiy in Kyiv"
    assert text.count(caption) == 1
    assert "Related News" not in text
    assert "Load more" not in text
    assert "Russia fired two missiles into Kyiv" in text
    assert text.rstrip().endswith("stepping up its military assault in the Donbas.")
    # every real paragraph survives
    assert len(text.split("\n\n")) == len(paras) - 3


@pytest.mark.parametrize(
    "junk",
    [
        '<img src="https://feeds.feedburner.com/~ff/x?d=abc">',
        '<img src="https://feedads.g.doubleclick.net/~at/x/0/di">',
        '<img src="https://a.example/track.gif" width="1" height="1">',
        '<img src="https://stats.wordpress.com/b.gif?x=1">',
        '<img src="https://secure.gravatar.com/avatar/abc">',
    ],
)
def test_first_image_skips_trackers_and_ads(junk: str) -> None:
    assert first_image(junk) is None
    assert (
        first_image(junk + '<img src="https://a.example/photo.jpg">')
        == "https://a.example/photo.jpg"
    )
