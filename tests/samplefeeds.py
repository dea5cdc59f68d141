"""Sample feeds written by the project for tests: deterministic, our own words."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

WORDS = [
    "harbour",
    "council",
    "river",
    "budget",
    "school",
    "storm",
    "ferry",
    "bridge",
    "station",
    "market",
    "festival",
    "museum",
    "library",
    "farmers",
    "rail",
    "tunnel",
    "election",
    "mayor",
    "hospital",
    "teachers",
    "workers",
    "union",
    "weather",
    "forecast",
    "coast",
    "island",
    "village",
    "city",
    "county",
    "minister",
    "court",
    "judge",
    "police",
    "fire",
    "crews",
    "volunteers",
    "engineers",
    "residents",
    "visitors",
    "students",
    "families",
    "drivers",
    "pilots",
    "sailors",
    "announced",
    "said",
    "reported",
    "voted",
    "opened",
    "closed",
    "repaired",
    "delayed",
    "approved",
    "rejected",
    "expanded",
    "reduced",
    "measured",
    "warned",
    "promised",
    "planned",
    "built",
    "replaced",
    "restored",
    "moved",
]


def sentence(rng: random.Random, n: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def item_text(rng: random.Random, paragraphs: int = 4) -> list[str]:
    return [" ".join(sentence(rng) for _ in range(3)) for _ in range(paragraphs)]


def rss(title: str, link: str, items: list[dict[str, str]]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(title)}</title><link>{escape(link)}</link>"
        "<description>test feed</description>",
    ]
    for it in items:
        parts.append(
            "<item>"
            f"<title>{escape(it['title'])}</title>"
            f"<link>{escape(it['link'])}</link>"
            f'<guid isPermaLink="false">{escape(it["guid"])}</guid>'
            f"<pubDate>{it['date']}</pubDate>"
            f"<content:encoded><![CDATA[{it['html']}]]></content:encoded>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def make_items(
    seed: int, n: int, start: int = 0, site: str = "https://site.example"
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    base = datetime(2026, 11, 20, tzinfo=UTC)
    items = []
    for i in range(start, start + n):
        rng_i = random.Random(f"{seed}-{i}")
        items.append(
            {
                "title": sentence(rng_i, 7).rstrip("."),
                "link": f"{site}/{seed}/story-{i}",
                "guid": f"{seed}-{i}",
                "date": format_datetime(base + timedelta(hours=i + rng.random())),
                "html": "".join(f"<p>{p}</p>" for p in item_text(rng_i)),
            }
        )
    return items


def opml(urls: list[str]) -> bytes:
    outlines = "".join(
        f'<outline text="feed {i}" xmlUrl="{escape(u)}"/>' for i, u in enumerate(urls)
    )
    return f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>'.encode()
