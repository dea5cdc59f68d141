"""A loopback feed farm: N generated RSS 2.0 feeds served over many 127.x.y.z addresses.

    python -m bench.farm --feeds 1000 --opml out.opml [--slow-share 0.05 --slow-delay 0.5]

Every feed has `--items` (50) items of about 1 KB of text generated here (titles, sentences,
authors, categories, dates, guids and links made from our own word lists, nothing copied).
Feeds are spread over hosts 127.1.x.y, `--feeds-per-host` (5) to a host, so per-host politeness
in the client acts as it does on the real web; all of 127.0.0.0/8 is loopback on Linux, and the
farm binds one listener per address (never 0.0.0.0). Every tenth feed is sent without ETag /
Last-Modified; the others answer conditional requests with 304. Bodies are built once at start,
so a feed's bytes never change during a run (the "unchanged body" scenario), and gzip is sent to
clients that accept it.

Control endpoints, on any farm address:
    GET /_farm/stats               JSON counters (requests, per status, bytes, per-host peak)
    GET /_farm/reset               zero the counters
    GET /_farm/validators?on=0|1   stop / start sending validators and answering 304
    GET /_farm/news?round=N        every feed as after N rounds of news: N new items on top,
                                   its N oldest gone, new validators (0: as built)

Once listening the process prints one line `READY <control url> <opml path>` on stdout and
serves until SIGTERM / SIGINT or `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import email.utils
import hashlib
import json
import random
import re
import signal
import socket
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bench.realtext import DEFAULT_DATA, NewsDataMissingError, NewsText, load_corpus

__all__ = [
    "FarmConfig",
    "FarmFeed",
    "FarmHandle",
    "build_farm",
    "feed_address",
    "generate_feed",
    "iter_feed_urls",
    "main",
    "start_farm_thread",
    "write_opml",
]

# --------------------------------------------------------------------------- text material
# Word lists written for this project; sentences are assembled from them at random.

_NOUNS = [
    "council",
    "minister",
    "budget",
    "harbour",
    "bridge",
    "railway",
    "school",
    "hospital",
    "court",
    "election",
    "market",
    "farmers",
    "festival",
    "museum",
    "river",
    "storm",
    "drought",
    "vaccine",
    "report",
    "agency",
    "union",
    "airport",
    "committee",
    "village",
    "coastline",
    "reservoir",
    "orchestra",
    "stadium",
    "library",
    "factory",
    "startup",
    "bank",
    "treaty",
    "border",
    "summit",
    "parliament",
    "mayor",
    "senate",
    "study",
    "survey",
    "police",
    "firefighters",
    "volunteers",
    "teachers",
    "nurses",
    "pilots",
    "engineers",
    "scientists",
    "researchers",
    "judges",
    "voters",
    "tenants",
    "landlords",
    "exporters",
    "retailers",
    "investors",
    "regulators",
    "wildlife",
    "forest",
    "glacier",
    "satellite",
    "telescope",
    "battery",
    "turbine",
    "pipeline",
    "highway",
    "tunnel",
    "ferry",
    "port",
    "refinery",
]
_VERBS = [
    "approves",
    "rejects",
    "delays",
    "expands",
    "questions",
    "announces",
    "unveils",
    "reviews",
    "cuts",
    "raises",
    "warns",
    "confirms",
    "blocks",
    "backs",
    "postpones",
    "restores",
    "tests",
    "launches",
    "plans",
    "defends",
    "criticises",
    "welcomes",
    "closes",
    "reopens",
    "finances",
    "doubles",
    "halves",
    "audits",
    "extends",
    "suspends",
]
_ADJS = [
    "new",
    "local",
    "regional",
    "national",
    "rural",
    "coastal",
    "northern",
    "southern",
    "eastern",
    "western",
    "independent",
    "public",
    "private",
    "annual",
    "historic",
    "controversial",
    "costly",
    "delayed",
    "record",
    "small",
    "large",
    "early",
    "late",
    "interim",
    "final",
    "revised",
    "emergency",
    "temporary",
    "permanent",
]
_FILLER = [
    "according to officials",
    "on Tuesday",
    "after months of talks",
    "despite objections",
    "in a statement",
    "for the first time",
    "under the new rules",
    "by a narrow margin",
    "within weeks",
    "ahead of winter",
    "as prices rose",
    "amid concerns about costs",
]
_FIRST = [
    "Ada",
    "Bruno",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaia",
    "Luca",
    "Mina",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wim",
    "Xenia",
    "Yusuf",
    "Zora",
]
_LAST = [
    "Almeida",
    "Brandt",
    "Costa",
    "Duval",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Laurent",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quist",
    "Rossi",
    "Sato",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zeller",
]
_SECTIONS = [
    "Politics",
    "Economy",
    "Science",
    "Health",
    "Climate",
    "Transport",
    "Education",
    "Culture",
    "Sport",
    "Technology",
    "Business",
    "World",
    "Local",
    "Opinion",
    "Energy",
    "Justice",
]
_OUTLETS = [
    "Herald",
    "Courier",
    "Gazette",
    "Tribune",
    "Chronicle",
    "Observer",
    "Sentinel",
    "Dispatch",
    "Ledger",
    "Post",
    "Times",
    "Register",
    "Monitor",
    "Bulletin",
    "Review",
    "Journal",
    "Express",
    "Record",
    "Star",
    "Mercury",
]
_TOWNS = [
    "Northby",
    "Eastmere",
    "Westholm",
    "Southwick",
    "Lakeside",
    "Millbrook",
    "Stonebridge",
    "Ashford",
    "Clearwater",
    "Redcliff",
    "Greenhaven",
    "Oakridge",
    "Riverton",
    "Brightwater",
    "Kingsford",
    "Fairport",
    "Highgate",
    "Elmstead",
]

# A large vocabulary of made-up words (syllable pairs and triples), drawn with a Zipf-like
# law as real text is: articles share function words and common terms but each carries its
# own rarer ones, so near-duplicate detection sees as few false candidates as on real news.
_SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "ca",
    "co",
    "da",
    "de",
    "di",
    "do",
    "fa",
    "fe",
    "fi",
    "ga",
    "ge",
    "go",
    "ha",
    "he",
    "ho",
    "ka",
    "ke",
    "ki",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "pa",
    "pe",
    "pi",
    "po",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "vo",
    "za",
    "ze",
    "zo",
    "bran",
    "cor",
    "dell",
    "fen",
    "gar",
    "hol",
    "kin",
    "lor",
    "mar",
    "nor",
    "pel",
    "quin",
    "rost",
    "sten",
    "tor",
    "vel",
    "wen",
]
_FUNCTION = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "by",
    "at",
    "from",
    "it",
    "an",
    "be",
    "has",
    "have",
    "are",
    "were",
    "which",
    "said",
    "its",
    "after",
    "but",
    "not",
    "this",
    "their",
    "over",
    "more",
    "than",
    "also",
    "new",
    "two",
    "will",
    "into",
    "about",
]


def _vocabulary(size: int = 6000) -> list[str]:
    rnd = random.Random(424242)
    words: dict[str, None] = {}
    while len(words) < size:
        n = 2 if rnd.random() < 0.7 else 3
        words["".join(rnd.choice(_SYLLABLES) for _ in range(n))] = None
    return list(words)


_VOCAB = _vocabulary()
_CUM_WEIGHTS: list[float] = []
_acc = 0.0
for _rank in range(len(_VOCAB)):
    _acc += 1.0 / (_rank + 10)
    _CUM_WEIGHTS.append(_acc)


def _rfc822(dt: datetime) -> str:
    return email.utils.format_datetime(dt.astimezone(UTC), usegmt=True)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class FarmConfig:
    feeds: int = 100
    items: int = 50
    feeds_per_host: int = 5
    no_validators_every: int = 10  # every Nth feed is sent without ETag / Last-Modified
    slow_share: float = 0.0  # share of hosts that answer after `slow_delay_s`
    slow_delay_s: float = 0.5
    seed: int = 1
    port: int = 0  # 0: pick a free port on the first address, reuse it on all the others
    gzip: bool = True
    big_mb: float = 0.0  # > 0: also serve /big.xml of about this many MB
    first_octets: tuple[int, int] = (127, 1)
    base_time: datetime | None = None  # newest item date (default: see `farm_base_time`)
    # "news": items of real English news text (bench.realtext, read from `data` at start);
    # "words": the invented vocabulary below (a micro-benchmark: no real-text costs)
    text: str = "words"
    data: Path | None = None  # the newsdata folder (default: ../shared/newsdata)
    latency_s: float = 0.0  # added before every feed response (a far-away server)
    span_hours: float = 0.0  # > 0: a feed's items span at most this many hours


@dataclass(slots=True)
class FarmFeed:
    index: int
    host: str
    path: str
    title: str
    body: bytes
    gz: bytes | None
    etag: str | None
    last_modified: str | None
    slow: bool = False
    url: str = ""
    # what `_Farm.news` rebuilds the body from: its text before the items, the items
    # (newest first), the text after them
    parts: tuple[str, tuple[str, ...], str] = ("", (), "")


def feed_address(host_index: int, first_octets: tuple[int, int] = (127, 1)) -> str:
    """The loopback address of host number `host_index` (0-based): 127.1.0.1, 127.1.0.2 ..."""
    a, b = first_octets
    return f"{a}.{b}.{host_index // 254}.{host_index % 254 + 1}"


def _sentence(rnd: random.Random) -> str:
    if rnd.random() < 0.75:
        n = rnd.randint(9, 22)
        content = rnd.choices(_VOCAB, cum_weights=_CUM_WEIGHTS, k=n)
        words = [w if rnd.random() < 0.55 else f"{rnd.choice(_FUNCTION)} {w}" for w in content]
        if rnd.random() < 0.3:
            words.insert(rnd.randrange(len(words)), rnd.choice(_TOWNS))
        return " ".join(words).capitalize() + "."
    words = [
        rnd.choice(_ADJS).capitalize(),
        rnd.choice(_NOUNS),
        rnd.choice(_VERBS),
        rnd.choice(_ADJS),
        rnd.choice(_NOUNS),
        "plan" if rnd.random() < 0.5 else "proposal",
    ]
    if rnd.random() < 0.6:
        words.append(rnd.choice(_FILLER))
    if rnd.random() < 0.5:
        words += ["in", rnd.choice(_TOWNS)]
    if rnd.random() < 0.4:
        words += ["while the", rnd.choice(_NOUNS), rnd.choice(_VERBS), "its", rnd.choice(_NOUNS)]
    if rnd.random() < 0.3:
        words += [f"by {rnd.randint(2, 97)} percent"]
    return " ".join(words) + "."


def _words_item(rnd: random.Random) -> tuple[str, str]:
    """(title, description HTML) from the invented vocabulary."""
    town = rnd.choice(_TOWNS)
    rare = " ".join(rnd.choices(_VOCAB, cum_weights=_CUM_WEIGHTS, k=rnd.randint(1, 3)))
    title = (
        f"{town} {rnd.choice(_NOUNS)} {rnd.choice(_VERBS)} {rare} "
        f"{rnd.choice(_NOUNS)} {'plan' if rnd.random() < 0.5 else 'deal'}"
    ).capitalize()
    paras = []
    size = 0
    target = rnd.randint(420, 600)
    while size < target:
        para = " ".join(_sentence(rnd) for _ in range(rnd.randint(2, 4)))
        paras.append(f"<p>{para}</p>")
        size += len(para) + 7
    return title, "".join(paras)


def _item(
    rnd: random.Random,
    feed_i: int,
    n: int,
    outlet: str,
    domain: str,
    when: datetime,
    style: int,
    text: NewsText | None = None,
) -> str:
    title, html = text.item(rnd) if text is not None else _words_item(rnd)
    slug = "-".join(re.sub(r"[^a-z0-9 ]", "", title.lower()).split()[:6])
    link = f"https://{domain}/{when:%Y/%m/%d}/{slug}-{feed_i}-{n}"
    author = f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}"
    cats = rnd.sample(_SECTIONS, rnd.randint(1, 3))
    parts = [f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"]
    if style % 3 == 0:
        parts.append(f"<guid>{escape(link)}</guid>")
    else:
        parts.append(f'<guid isPermaLink="false">{domain}:{feed_i}:{n}</guid>')
    parts.append(f"<pubDate>{_rfc822(when)}</pubDate>")
    if style % 2 == 0:
        parts.append(f"<dc:creator>{escape(author)}</dc:creator>")
    else:
        email_user = author.lower().replace(" ", ".")
        parts.append(f"<author>{email_user}@{domain} ({escape(author)})</author>")
    parts.extend(f"<category>{c}</category>" for c in cats)
    if style % 4 == 1:
        parts.append(f"<description><![CDATA[{html}]]></description>")
    else:
        parts.append(f"<description>{escape(html)}</description>")
    if style % 5 == 2:
        parts.append(
            f'<enclosure url="https://img.{domain}/{feed_i}/{n}.jpg" type="image/jpeg" '
            f'length="{rnd.randint(20_000, 400_000)}"/>'
        )
    parts.append("</item>\n")
    return "".join(parts)


def generate_feed(
    index: int,
    items: int,
    base_time: datetime,
    seed: int = 1,
    self_url: str | None = None,
    text: NewsText | None = None,
    span_hours: float = 0.0,
) -> tuple[str, bytes]:
    """(title, RSS 2.0 bytes) of farm feed `index`: deterministic for (index, items, base_time,
    seed). Items are newest first, a few minutes to a few hours apart (with `span_hours`, all
    within that many hours of the first)."""
    gap_max = 240
    if span_hours > 0 and items > 1:
        # the first item is up to an hour old: the other gaps fit in the rest of the span
        gap_max = max(6, int(60 * (span_hours - 1) / (items - 1)))
    rnd = random.Random(seed * 1_000_003 + index)
    outlet, section, domain = _masthead(rnd, index)
    title = f"{outlet}: {section}"
    style = index
    when = base_time - timedelta(minutes=rnd.randint(0, 59))
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{escape(title)}</title>\n<link>https://{domain}/</link>\n"
        f"<description>{escape(section)} news from the {escape(outlet)}</description>\n"
        # many real feeds declare no language: a third of the real-text ones, whose
        # articles the reader has to detect
        + ("" if text is not None and index % 3 == 1 else "<language>en</language>\n")
        + f"<lastBuildDate>{_rfc822(when)}</lastBuildDate>\n"
    ]
    if self_url:
        out.append(
            f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>\n'
        )
    for n in range(items):
        out.append(_item(rnd, index, items - n, outlet, domain, when, style + n, text))
        when -= timedelta(minutes=rnd.randint(5, gap_max))
    out.append("</channel>\n</rss>\n")
    return title, "".join(out).encode("utf-8")


def _masthead(rnd: random.Random, index: int) -> tuple[str, str, str]:
    """(outlet, section, domain) of feed `index`, drawn first from its generator."""
    outlet = f"{rnd.choice(_TOWNS)} {rnd.choice(_OUTLETS)}"
    section = rnd.choice(_SECTIONS)
    return outlet, section, f"{outlet.lower().replace(' ', '-')}-{index}.example"


def split_feed(body: bytes) -> tuple[str, tuple[str, ...], str]:
    """A generated feed's text before its items, its items, and the text after them."""
    text = body.decode("utf-8")
    head, _, rest = text.partition("<item>")
    if not rest:
        return text, (), ""
    rest, _, tail_body = rest.rpartition("</item>\n")
    items = tuple("<item>" + it for it in rest.split("<item>"))
    items = (*items[:-1], items[-1] + "</item>\n")
    return head, items, tail_body


def news_item(
    feed: FarmFeed,
    k: int,
    items: int,
    base_time: datetime,
    seed: int = 1,
    text: NewsText | None = None,
) -> str:
    """The `k`-th item of news (1, 2, ...) published on feed `feed` after it was built:
    numbered past its `items` built ones, `k` x 10 minutes after `base_time`."""
    outlet, _, domain = _masthead(random.Random(seed * 1_000_003 + feed.index), feed.index)
    rnd = random.Random(f"news:{seed}:{feed.index}:{k}")
    when = base_time + timedelta(minutes=10 * k)
    return _item(rnd, feed.index, items + k, outlet, domain, when, feed.index + items + k, text)


def _big_feed(mb: float, base_time: datetime, seed: int) -> bytes:
    """One RSS document of about `mb` megabytes (items of ~1 KB)."""
    rnd = random.Random(seed)
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Big farm feed</title>'
        "<link>https://big.example/</link><description>A very large feed</description>\n"
    )
    parts = [head]
    size = len(head)
    n = 0
    when = base_time
    target = int(mb * 1_000_000)
    while size < target:
        item = _item(rnd, 0, n, "Big", "big.example", when, n)
        parts.append(item)
        size += len(item.encode())
        n += 1
        when -= timedelta(seconds=rnd.randint(10, 300))
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def farm_base_time(cfg: FarmConfig) -> datetime:
    """The newest built item's date: half an hour ago (three rounds of news, ten minutes
    apart, are then still in the past)."""
    if cfg.base_time is not None:
        return cfg.base_time
    return (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)


def item_text(cfg: FarmConfig) -> NewsText | None:
    """The real-text source of a "news" farm (None for "words"); raises NewsDataMissingError."""
    if cfg.text == "words":
        return None
    corpus = load_corpus(cfg.data or DEFAULT_DATA)
    return NewsText(corpus, feeds=max(1, cfg.feeds), items=cfg.items, seed=cfg.seed)


def build_farm(cfg: FarmConfig, port: int, text: NewsText | None = None) -> list[FarmFeed]:
    """Every feed of the farm with its body, validators and URL (bodies built here, once)."""
    base = farm_base_time(cfg)
    slow_rnd = random.Random(cfg.seed + 7)
    n_hosts = max(1, -(-cfg.feeds // cfg.feeds_per_host))
    slow_hosts = {h for h in range(n_hosts) if slow_rnd.random() < cfg.slow_share}
    last_modified = _rfc822(base)
    feeds: list[FarmFeed] = []
    for i in range(cfg.feeds):
        h = i // cfg.feeds_per_host
        host = feed_address(h, cfg.first_octets)
        path = f"/feeds/{i}.xml"
        url = f"http://{host}:{port}{path}"
        title, body = generate_feed(i, cfg.items, base, cfg.seed, url, text, cfg.span_hours)
        validators = not (cfg.no_validators_every and i % cfg.no_validators_every == 9)
        etag = f'"{hashlib.sha1(body).hexdigest()[:20]}"' if validators else None
        feeds.append(
            FarmFeed(
                index=i,
                host=host,
                path=path,
                title=title,
                body=body,
                gz=zlib.compress(body, 6, wbits=31) if cfg.gzip else None,
                etag=etag,
                last_modified=last_modified if validators else None,
                slow=h in slow_hosts,
                url=url,
                parts=split_feed(body),
            )
        )
    if cfg.big_mb > 0:
        host = feed_address(0, cfg.first_octets)
        body = _big_feed(cfg.big_mb, base, cfg.seed)
        feeds.append(
            FarmFeed(
                index=-1,
                host=host,
                path="/big.xml",
                title="Big farm feed",
                body=body,
                gz=zlib.compress(body, 6, wbits=31) if cfg.gzip else None,
                etag=f'"{hashlib.sha1(body).hexdigest()[:20]}"',
                last_modified=last_modified,
                url=f"http://{host}:{port}/big.xml",
            )
        )
    return feeds


def write_opml(feeds: list[FarmFeed], path: Path | str) -> None:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<opml version="2.0"><head><title>Loopback feed farm</title></head><body>',
    ]
    lines += [
        f'<outline type="rss" text={quoteattr(f.title)} title={quoteattr(f.title)} '
        f"xmlUrl={quoteattr(f.url)}/>"
        for f in feeds
    ]
    lines.append("</body></opml>\n")
    Path(path).write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------- server


@dataclass(slots=True)
class _Stats:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0
    conditional: int = 0
    gzip: int = 0
    connections: int = 0
    inflight: dict[str, int] = field(default_factory=dict)
    peak_per_host: int = 0

    def as_json(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        del d["inflight"]
        d["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        return d


class _Farm:
    def __init__(
        self, feeds: list[FarmFeed], cfg: FarmConfig, text: NewsText | None = None
    ) -> None:
        self.cfg = cfg
        self.text = text
        self.feeds = {(f.host, f.path): f for f in feeds}
        self.by_path = {f.path: f for f in feeds}
        self.validators = True
        self.stats = _Stats()
        self.base_time = farm_base_time(cfg)

    def news(self, rounds: int) -> None:
        """Every list feed as after `rounds` rounds of news: that many new items on top
        (newest first), as many of its oldest gone, new ETag and Last-Modified (feeds sent
        without validators stay without). Deterministic: both tools of the bench see the
        same bodies for the same round. 0: the feeds as built."""
        for f in self.feeds.values():
            head, items, tail = f.parts
            if f.index < 0 or not items:
                continue  # the big feed stays as it is
            n = min(max(0, rounds), len(items))
            news = [
                news_item(f, k, len(items), self.base_time, self.cfg.seed, self.text)
                for k in range(n, 0, -1)
            ]
            f.body = (head + "".join(news) + "".join(items[: len(items) - n]) + tail).encode()
            f.gz = zlib.compress(f.body, 6, wbits=31) if self.cfg.gzip else None
            if f.etag is not None:
                f.etag = f'"{hashlib.sha1(f.body).hexdigest()[:20]}"'
                f.last_modified = _rfc822(self.base_time + timedelta(minutes=10 * n))

    def respond(
        self, host: str, method: str, target: str, headers: dict[str, str]
    ) -> tuple[bytes, float]:
        """(response bytes, delay before sending)."""
        path, _, query = target.partition("?")
        st = self.stats
        if path.startswith("/_farm/"):
            if path == "/_farm/reset":
                self.stats = _Stats()
            elif path == "/_farm/validators":
                self.validators = query.rsplit("=", 1)[-1] not in ("0", "off", "false")
            elif path == "/_farm/news":
                rounds = query.rsplit("=", 1)[-1]
                self.news(int(rounds) if rounds.isdigit() else 0)
            payload = json.dumps({"validators": self.validators, **self.stats.as_json()}).encode()
            return _response(200, "application/json", payload, {}), 0.0
        st.requests += 1
        feed = self.feeds.get((host, path))
        if feed is None or method not in ("GET", "HEAD"):
            code = 404 if feed is None else 405
            st.by_status[code] = st.by_status.get(code, 0) + 1
            return _response(code, "text/plain", b"not here\n", {}), 0.0
        delay = self.cfg.latency_s + (self.cfg.slow_delay_s if feed.slow else 0.0)
        extra: dict[str, str] = {}
        if self.validators and feed.etag:
            extra["ETag"] = feed.etag
            assert feed.last_modified
            extra["Last-Modified"] = feed.last_modified
            inm = headers.get("if-none-match")
            ims = headers.get("if-modified-since")
            if inm is not None or ims is not None:
                st.conditional += 1
            if (inm is not None and feed.etag in inm) or (
                inm is None and ims == feed.last_modified
            ):
                st.by_status[304] = st.by_status.get(304, 0) + 1
                return _response(304, None, b"", extra), delay
        body = feed.body
        if feed.gz is not None and "gzip" in headers.get("accept-encoding", ""):
            body = feed.gz
            extra["Content-Encoding"] = "gzip"
            st.gzip += 1
        extra["Vary"] = "Accept-Encoding"
        st.by_status[200] = st.by_status.get(200, 0) + 1
        st.bytes_sent += len(body)
        if method == "HEAD":
            return _response(
                200, "application/rss+xml; charset=utf-8", b"", extra, len(body)
            ), delay
        return _response(200, "application/rss+xml; charset=utf-8", body, extra), delay


_REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
}


def _response(
    code: int, ctype: str | None, body: bytes, extra: dict[str, str], length: int | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'OK')}", "Server: ingest-bench-farm"]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    if code != 304:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Conn(asyncio.Protocol):
    def __init__(self, farm: _Farm, host: str) -> None:
        self.farm = farm
        self.host = host
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.farm.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                transport.close()
            return
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4 :]
        request_line, *header_lines = head.split("\r\n")
        try:
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            transport.write(_response(400, "text/plain", b"bad request\n", {"Connection": "close"}))
            transport.close()
            return
        headers: dict[str, str] = {}
        for line in header_lines:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        data, delay = self.farm.respond(self.host, method, target, headers)
        st = self.farm.stats
        st.inflight[self.host] = n = st.inflight.get(self.host, 0) + 1
        st.peak_per_host = max(st.peak_per_host, n)
        self.busy = True

        def send() -> None:
            self.busy = False
            st.inflight[self.host] = max(0, st.inflight.get(self.host, 1) - 1)
            if transport.is_closing():
                return
            transport.write(data)
            if close:
                transport.close()
            elif self.buf:
                self._next()

        if delay > 0:
            asyncio.get_running_loop().call_later(delay, send)
        else:
            send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(
    feeds: list[FarmFeed],
    cfg: FarmConfig,
    port: int,
    hosts: list[str],
    ready: asyncio.Future[_Farm] | None = None,
    stop: asyncio.Event | None = None,
    text: NewsText | None = None,
) -> None:
    farm = _Farm(feeds, cfg, text)
    loop = asyncio.get_running_loop()
    servers = []
    for host in hosts:
        sock = _listen(host, port)
        servers.append(await loop.create_server(lambda h=host: _Conn(farm, h), sock=sock))  # type: ignore[misc]
    if ready is not None:
        ready.set_result(farm)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        for s in servers:
            s.close()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _hosts(feeds: list[FarmFeed]) -> list[str]:
    return list(dict.fromkeys(f.host for f in feeds))


# --------------------------------------------------------------------------- in-process handle


@dataclass(slots=True)
class FarmHandle:
    """A farm running in a background thread (for tests and the harness)."""

    feeds: list[FarmFeed]
    port: int
    _loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event
    _thread: threading.Thread
    _farm: _Farm

    @property
    def control_url(self) -> str:
        return f"http://{self.feeds[0].host}:{self.port}/_farm/stats"

    def stats(self) -> dict[str, object]:
        return self._farm.stats.as_json()

    def set_validators(self, on: bool) -> None:
        self._loop.call_soon_threadsafe(setattr, self._farm, "validators", on)

    def reset(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self._farm, "stats", _Stats())

    def news(self, rounds: int) -> None:
        """`_Farm.news`, on the farm's loop; returns once the feeds are rebuilt."""
        done = threading.Event()

        def apply() -> None:
            try:
                self._farm.news(rounds)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(30)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def start_farm_thread(cfg: FarmConfig) -> FarmHandle:
    """Build the farm and serve it from a daemon thread; returns once it is listening."""
    port = cfg.port or _free_port(feed_address(0, cfg.first_octets))
    text = item_text(cfg)
    feeds = build_farm(cfg, port, text)
    hosts = _hosts(feeds)
    loop = asyncio.new_event_loop()
    started: threading.Event = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        fut: asyncio.Future[_Farm] = loop.create_future()
        box["stop"] = stop

        def done(f: asyncio.Future[_Farm]) -> None:
            box["farm"] = f.result()
            started.set()

        fut.add_done_callback(done)
        try:
            loop.run_until_complete(_serve(feeds, cfg, port, hosts, fut, stop, text))
        except BaseException as exc:  # reported to the starting thread
            box["error"] = exc
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="feed-farm", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in box:
        raise RuntimeError(f"feed farm failed to start: {box['error']}")
    farm = box["farm"]
    stop = box["stop"]
    assert isinstance(farm, _Farm) and isinstance(stop, asyncio.Event)
    return FarmHandle(feeds, port, loop, stop, thread, farm)


# --------------------------------------------------------------------------- command line


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.farm", description=__doc__.split("\n")[0])
    p.add_argument("--feeds", type=int, default=100)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--feeds-per-host", type=int, default=5)
    p.add_argument("--no-validators-every", type=int, default=10)
    p.add_argument("--slow-share", type=float, default=0.0, help="share of slow hosts")
    p.add_argument("--slow-delay", type=float, default=0.5, help="their delay in seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-gzip", action="store_true")
    p.add_argument("--big-mb", type=float, default=0.0, help="also serve /big.xml of this size")
    p.add_argument("--second-octet", type=int, default=1, help="hosts are 127.N.x.y")
    p.add_argument("--opml", type=Path, default=Path("farm.opml"))
    p.add_argument(
        "--text",
        choices=("news", "words"),
        default="news",
        help="news: real English news text from --data; words: the invented vocabulary",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the newsdata folder")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before every response")
    p.add_argument(
        "--span-hours", type=float, default=48.0, help="a feed's items span this many hours"
    )
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    cfg = FarmConfig(
        feeds=a.feeds,
        items=a.items,
        feeds_per_host=a.feeds_per_host,
        no_validators_every=a.no_validators_every,
        slow_share=a.slow_share,
        slow_delay_s=a.slow_delay,
        seed=a.seed,
        port=a.port,
        gzip=not a.no_gzip,
        big_mb=a.big_mb,
        first_octets=(127, a.second_octet),
        text=a.text,
        data=a.data,
        latency_s=a.latency,
        span_hours=a.span_hours,
    )
    port = cfg.port or _free_port(feed_address(0, cfg.first_octets))
    try:
        text = item_text(cfg)
    except NewsDataMissingError as exc:
        print(f"NODATA {exc}", flush=True)
        return 3
    feeds = build_farm(cfg, port, text)
    if not feeds:
        print("nothing to serve: give --feeds N or --big-mb M", file=sys.stderr)
        return 2
    write_opml(feeds, a.opml)
    hosts = _hosts(feeds)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.call_later(a.max_seconds, stop.set)
        fut: asyncio.Future[_Farm] = loop.create_future()
        fut.add_done_callback(
            lambda _f: print(
                f"READY http://{hosts[0]}:{port}/_farm/stats {a.opml} "
                f"feeds={len(feeds)} hosts={len(hosts)}",
                flush=True,
            )
        )
        await _serve(feeds, cfg, port, hosts, fut, stop, text)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def iter_feed_urls(opml: Path) -> Iterator[str]:
    """The xmlUrl of every outline of an OPML file written by `write_opml`."""
    for m in re.finditer(r'xmlUrl="([^"]+)"', opml.read_text(encoding="utf-8")):
        yield m.group(1)


if __name__ == "__main__":
    raise SystemExit(main())
