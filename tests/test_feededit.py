"""The pure decisions behind `feeds add`, `feeds set` and `feeds sync` (ingest.feededit),
the words the CLI prints (ingest.cli_text) and what a rejected search means
(storage.fts_query)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.cli_text import next_poll_short, next_poll_text, plural
from ingest.feededit import (
    FeedEdit,
    StoredFeed,
    SyncPlan,
    apply_edit,
    describe_changes,
    given_options,
    plan_sync,
)
from ingest.models import FeedOptions, FilterRule
from ingest.settings import FeedSpec
from storage.fts_query import any_words, plain_words, syntax_hint

URL = "https://a.example/rss"
TAGGED = FeedSpec(
    URL, "A", ("world", "uk"), FeedOptions(interval_s=7200, allow_private_network=True)
)


@pytest.mark.parametrize(
    ("edit", "tags", "options", "changes"),
    [
        (FeedEdit(), ("world", "uk"), TAGGED.options, []),
        (FeedEdit(add_tags=("world",)), ("world", "uk"), TAGGED.options, []),
        (
            FeedEdit(add_tags=("europe",)),
            ("world", "uk", "europe"),
            TAGGED.options,
            ["tags: world, uk -> world, uk, europe"],
        ),
        (
            FeedEdit(remove_tags=("uk", "nope")),
            ("world",),
            TAGGED.options,
            ["tags: world, uk -> world"],
        ),
        (
            FeedEdit(options={"interval_s": 600}),
            ("world", "uk"),
            FeedOptions(interval_s=600, allow_private_network=True),
            ["interval: 2 h -> 10 min"],
        ),
        (
            FeedEdit(options={"interval_s": None, "full_text": True}),
            ("world", "uk"),
            FeedOptions(allow_private_network=True, full_text=True),
            ["interval: 2 h -> adaptive", "full_text: off -> on"],
        ),
    ],
)
def test_an_edit_changes_only_what_it_names(
    edit: FeedEdit, tags: tuple[str, ...], options: FeedOptions, changes: list[str]
) -> None:
    new = apply_edit(TAGGED, edit)
    assert (new.url, new.title, new.tags, new.options) == (URL, "A", tags, options)
    assert describe_changes(TAGGED, new) == changes


def test_describe_changes_names_titles_and_rules() -> None:
    rule = FilterRule(field="title", pattern="x")
    new = FeedSpec(URL, "B", TAGGED.tags, FeedOptions(keep=(rule,), min_interval_s=60))
    assert describe_changes(TAGGED, new) == [
        "title: A -> B",
        "interval: 2 h -> adaptive",
        "min_interval: global -> 60 s",
        "allow_private_network: on -> off",
        "keep: none -> 1 rule",
    ]


def test_secrets_are_never_described() -> None:
    before = FeedSpec(URL, options=FeedOptions(username="u", password="old"))
    after = FeedSpec(URL, options=FeedOptions(username="u", password="new", headers=(("X", "t"),)))
    assert describe_changes(before, after) == ["password: changed", "headers: none -> set"]
    assert given_options(after.options) == {
        "username": "u",
        "password": "new",
        "headers": (("X", "t"),),
    }


def _stored(url: str, source: str, **kw: object) -> StoredFeed:
    return StoredFeed(FeedSpec(url, **kw), source)  # type: ignore[arg-type]


STORED = [
    _stored("https://c1/", "config"),
    _stored("https://c2/", "config", title="Own title"),
    _stored("https://gone-from-config/", "config"),
    _stored("https://hand/", "cli"),
    _stored("https://opml/", "opml"),
]
SPECS = [
    FeedSpec("https://c1/", tags=("new",)),
    FeedSpec("https://c2/"),  # no title in the config: the feed's own stays, no update
    FeedSpec("https://hand/"),  # the config adopts a hand-added feed: unchanged, kept
    FeedSpec("https://c3/"),
]


@pytest.mark.parametrize(
    ("removal", "remove", "kept"),
    [
        ("config", ("https://gone-from-config/",), ("https://opml/",)),
        ("all", ("https://gone-from-config/", "https://opml/"), ()),
        ("none", (), ("https://gone-from-config/", "https://opml/")),
    ],
)
def test_plan_sync(removal: str, remove: tuple[str, ...], kept: tuple[str, ...]) -> None:
    plan = plan_sync(STORED, SPECS, removal=removal)  # type: ignore[arg-type]
    assert plan == SyncPlan(add=(SPECS[3],), update=(SPECS[0],), remove=remove, kept=kept)


def test_an_empty_config_removes_every_config_feed_and_only_those() -> None:
    plan = plan_sync(STORED, [])
    assert plan.remove == ("https://c1/", "https://c2/", "https://gone-from-config/")
    assert plan.kept == ("https://hand/", "https://opml/")


NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "next_at", "reason", "text"),
    [
        ("disabled", None, "x", "never while disabled (`ingest feeds enable URL` polls it again)"),
        ("gone", NOW, "410 Gone", "never: the feed is gone (410); `ingest feeds enable URL` polls it again"),
        ("ok", None, None, "now: never polled"),
        ("ok", None, "settings changed", "now: settings changed"),
        ("ok", NOW - timedelta(minutes=5), "fixed 1 h", "now (due since 2026-12-04T11:55:00Z): fixed 1 h"),
        ("error", NOW + timedelta(minutes=25), "error #2 backoff 10 min",
         "in 25 min (2026-12-04T12:25:00Z): error #2 backoff 10 min"),
    ],
)  # fmt: skip
def test_next_poll_text(
    status: str, next_at: datetime | None, reason: str | None, text: str
) -> None:
    assert next_poll_text(status, next_at, reason, NOW) == text


def test_next_poll_short_and_plurals() -> None:
    assert [next_poll_short(s, None) for s in ("ok", "error", "disabled", "gone")] == [
        "now",
        "now",
        "disabled",
        "gone",
    ]
    assert next_poll_short("ok", "2026-12-04T12:00:00Z") == "2026-12-04T12:00:00Z"
    assert [plural(n, "feed") for n in (0, 1, 2)] == ["0 feeds", "1 feed", "2 feeds"]
    assert (
        plural(1, "story", "stories") == "1 story" and plural(3, "story", "stories") == "3 stories"
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("covid-19 vaccine", '"covid-19" "vaccine"'),
        ("Breaking: storm", '"Breaking:" "storm"'),
        ('"school board', '"""school" "board"'),
        ("NOT storm", None),
        ("storm AND", None),
        ("(storm", None),
        ("storm*)", None),
    ],
)
def test_plain_words_or_a_syntax_error(query: str, words: str | None) -> None:
    assert plain_words(query) == words


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("storm AND", '"storm" "AND"'),
        ('gale "ports', '"gale" "ports"'),
        ("north-quay", '"north" "quay"'),
        ("harbour\x00storm", '"harbour" "storm"'),
        ("(*^)", None),
        ("", None),
    ],
)
def test_any_words_searches_whatever_words_there_are(query: str, words: str | None) -> None:
    assert any_words(query) == words


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ("NOT storm", "NOT joins two terms, e.g. `rain NOT storm`"),
        ("(storm", "parentheses do not match"),
        ("storm AND", 'put words in double quotes to search them as they are, e.g. `"NOT" storm`'),
    ],
)
def test_syntax_hints(query: str, hint: str) -> None:
    assert syntax_hint(query) == hint
