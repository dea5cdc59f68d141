"""ingest.identity: per-feed identity and its pathologies (issue #4 item 6)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ingest.identity import assign_identities, is_counter_guids
from ingest.models import Article

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PROTO = Article(
    feed_url="https://f.example/feed", identity="", guid=None, url=None, canonical_url=None,
    title="", authors=(), published_at=None, updated_at=None, fetched_at=NOW, summary="",
    content_html="", content_text="", language=None, tags=(), image_url=None, enclosures=(),
    word_count=0, content_hash="",
)  # fmt: skip


def art(guid: str | None, link: str | None, chash: str = "h") -> Article:
    return dataclasses.replace(PROTO, guid=guid, url=link, canonical_url=link, content_hash=chash)


def ids(*arts: Article) -> list[str]:
    return [a.identity for a in assign_identities(arts)]


def test_unique_guids() -> None:
    assert ids(art("a", "https://x/1"), art("b", "https://x/2")) == ["g:a", "g:b"]


def test_blank_guid_falls_back_to_link_then_hash() -> None:
    got = ids(art("a", "https://x/1"), art("  ", "https://x/2"), art(None, None, "c0ffee"))
    assert got == ["g:a", "u:https://x/2", "h:c0ffee"]


def test_every_item_same_guid_uses_links() -> None:
    got = ids(*(art("same", f"https://x/{i}") for i in range(4)))
    assert got == [f"u:https://x/{i}" for i in range(4)]


def test_few_repeats_keep_guids_for_the_rest() -> None:
    arts = [art(f"g{i}", f"https://x/{i}") for i in range(40)]
    arts.append(art("g0", "https://x/dup"))  # 2 of 41 items share a guid: < 5 %
    got = ids(*arts)
    assert got[1] == "g:g1"
    assert got[0] == "u:https://x/0" and got[-1] == "u:https://x/dup"


def test_repeats_over_five_percent_switch_the_feed_to_links() -> None:
    arts = [art(f"g{i}", f"https://x/{i}") for i in range(10)]
    arts.append(art("g0", "https://x/dup"))  # 2 of 11 > 5 %
    assert ids(*arts)[1] == "u:https://x/1"


def test_same_guid_same_link_falls_to_content_hash() -> None:
    got = ids(art("z", "https://x/home", "h1"), art("z", "https://x/home", "h2"))
    assert got == ["h:h1", "h:h2"]


def test_identical_items_share_one_identity() -> None:
    got = ids(art("z", "https://x/p", "h1"), art("z", "https://x/p", "h1"))
    assert got[0] == got[1]


@pytest.mark.parametrize(
    ("guids", "counter"),
    [
        (["1", "2", "3"], True),
        (["0", "1", "2", "3"], True),
        (["3", "1", "2"], True),
        (["1", "2"], False),  # too few to tell
        (["101", "102", "103"], False),  # real post ids
        (["1", "2", "4"], False),
        (["1", "2", "x"], False),
    ],
)
def test_is_counter_guids(guids: list[str], counter: bool) -> None:
    assert is_counter_guids(guids) is counter


def test_counter_guids_use_links() -> None:
    got = ids(*(art(str(i + 1), f"https://x/{i}") for i in range(3)))
    assert got == ["u:https://x/0", "u:https://x/1", "u:https://x/2"]


def test_long_keys_are_hashed_and_deterministic() -> None:
    long = "https://x/" + "a" * 500
    first = ids(art(long, None))
    assert first == ids(art(long, None))
    assert first[0].startswith("g:sha1:") and len(first[0]) == len("g:sha1:") + 40


def test_empty() -> None:
    assert assign_identities([]) == []
