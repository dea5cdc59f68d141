"""[[sinks]] in the config: what is accepted, and one line naming file, sink and key for
everything that is not; the pure parts of delivery (backoff, signature, key)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sinkkit import NATS_URL, nats_delete, nats_messages, nats_stream, unique, write_config

from ingest.cli import cli
from ingest.errors import ConfigError
from ingest.models import ArticleRecord
from ingest.settings import Settings
from ingest.sinks import OutboxItem, SinkSpec, load_sinks, retry_delay, sign, sink_specs
from ingest.sinks._config import shown_url
from ingest.sinks._senders import make_sender

SRC = "feeds.toml"
HOOK = {"type": "webhook", "url": "https://hooks.example/in"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nope", "feeds.toml: sinks[0]: must be a table"),
        ({"url": "x"}, "feeds.toml: sinks[0].type: expected one of webhook, redis, nats, got None"),
        ({"type": "kafka"}, "sinks[0].type: expected one of webhook, redis, nats, got 'kafka'"),
        ({**HOOK, "name": ""}, "sinks[0].name: must be a short text, got ''"),
        ({"type": "webhook"}, "sinks[0] (webhook).url: missing (a webhook sink needs a url)"),
        (
            {"type": "webhook", "name": "h", "url": "ftp://x/"},
            "sinks[0] (h).url: expected a http:// or https:// URL with a host, got 'ftp://x/'",
        ),
        (
            {"type": "redis", "url": "http://127.0.0.1/", "stream": "s"},
            "sinks[0] (redis).url: expected a redis:// or rediss:// or unix:// URL",
        ),
        (
            {"type": "redis", "url": "redis://:pw@h:99999/0", "stream": "s"},
            "sinks[0] (redis).url: invalid URL 'redis://:***@h:99999/0'",
        ),
        (
            {"type": "redis", "url": "redis://127.0.0.1"},
            "sinks[0] (redis).stream: missing (a redis sink needs the stream to XADD to)",
        ),
        (
            {"type": "nats", "url": "nats://127.0.0.1"},
            "sinks[0] (nats).subject: missing (a nats sink needs the subject to publish to)",
        ),
        (
            {**HOOK, "stream": "s"},
            "sinks[0] (webhook).stream: unknown key for a webhook sink (known: ",
        ),
        ({**HOOK, "secret": ""}, "sinks[0] (webhook).secret: must be a non-empty string"),
        ({**HOOK, "secret": 5}, "sinks[0] (webhook).secret: must be a non-empty string"),
        (
            {**HOOK, "allow_private_network": "yes"},
            "sinks[0] (webhook).allow_private_network: must be true or false, got 'yes'",
        ),
        (
            {**HOOK, "batch_size": 0},
            "sinks[0] (webhook).batch_size: must be a whole number of at least 1, got 0",
        ),
        (
            {**HOOK, "max_attempts": True},
            "sinks[0] (webhook).max_attempts: must be a whole number of at least 1, got True",
        ),
        (
            {"type": "redis", "url": "redis://h", "stream": "s", "maxlen": "big"},
            "sinks[0] (redis).maxlen: must be a whole number of at least 1, got 'big'",
        ),
        ({**HOOK, "timeout": "soon"}, "sinks[0] (webhook).timeout: expected a duration like"),
        ({**HOOK, "timeout": 0}, "sinks[0] (webhook).timeout: must be more than 0s"),
        ({**HOOK, "retry_backoff": -1}, "sinks[0] (webhook).retry_backoff: a duration cannot"),
    ],
)
def test_a_bad_sink_entry_is_one_line_naming_file_sink_and_key(entry: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sink_specs([entry], SRC)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert text.startswith("feeds.toml: sinks[0]")


def test_sink_names_default_to_the_type_and_must_differ() -> None:
    (spec,) = sink_specs([HOOK], SRC)
    assert (spec.name, spec.type, spec.batch_size, spec.max_attempts) == (
        "webhook",
        "webhook",
        100,
        10,
    )
    with pytest.raises(ConfigError, match=r"sinks\[1\] \(webhook\)\.name: duplicate of sinks\[0\]"):
        sink_specs([HOOK, HOOK], SRC)
    with pytest.raises(ConfigError, match=r"^feeds.toml: sinks: must be an array of tables"):
        sink_specs({"type": "webhook"}, SRC)


def test_secrets_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.toml",
        [
            {"type": "webhook", "url": "https://h.example/in", "secret": "${HOOK_KEY}"},
            {"type": "redis", "url": "redis://:${REDIS_PW}@h:6379/0", "stream": "news",
             "maxlen": 5000, "timeout": "2s", "retry_backoff": "1m"},
        ],
    )  # fmt: skip
    hook, red = load_sinks(path, {"HOOK_KEY": "k3y", "REDIS_PW": "pw9"})
    assert hook.secret == "k3y" and red.url == "redis://:pw9@h:6379/0"
    assert (red.maxlen, red.timeout_s, red.retry_backoff_s) == (5000, 2.0, 60.0)
    assert red.target == "redis://:***@h:6379/0 stream news"
    assert "k3y" not in repr(hook) and "pw9" not in repr(red)
    with pytest.raises(
        ConfigError, match=r"c.toml: sinks\[0\].secret: environment variable HOOK_KEY is not set"
    ):
        load_sinks(path, {})
    assert load_sinks(tmp_path / "missing.toml", {}) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h.example/in", "https://h.example/in"),
        ("https://h.example/in?token=abc&x=1", "https://h.example/in?token=***&x=***"),
        ("https://h.example/in?flag#frag", "https://h.example/in?flag#frag"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("https://u:pw@h.example/in?k=v", "https://u:***@h.example/in?k=***"),
    ],
)
def test_urls_show_without_their_secrets(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_run_with_a_bad_sink_stops_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)
    config = write_config(tmp_path / "c.toml", [{"type": "redis", "url": "redis://h"}])
    db = tmp_path / "never.db"
    r = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "run"])
    assert r.exit_code == 2
    assert r.output == (
        f"Error: {config}: sinks[0] (redis).stream: missing (a redis sink needs the stream to"
        " XADD to)\n"
    )
    assert not db.exists()


@pytest.mark.parametrize(
    ("attempts", "first", "expected"),
    [(0, 30, 0), (1, 30, 30), (2, 30, 60), (5, 30, 480), (8, 30, 3600), (60, 30, 3600),
     (3, 0, 0), (3, 0.5, 2)],
)  # fmt: skip
def test_retry_delay_doubles_up_to_an_hour(attempts: int, first: float, expected: float) -> None:
    assert retry_delay(attempts, first) == expected


def test_the_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"items":[]}'
    digest = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign("key", body) == f"sha256={digest}"
    item = OutboxItem(1, "s", 42, "abc", "new", 0, "2026-12-04T00:00:00Z")
    assert item.key == "42:abc"


def _record(article_id: int) -> ArticleRecord:
    return ArticleRecord(
        id=article_id, feed_url="https://a.example/feed", guid="g", url=None,
        canonical_url=None, title="T", authors=(), published_at=None, updated_at=None,
        fetched_at="2026-12-04T00:00:00Z", summary="", content_html="", content_text="x",
        language=None, tags=(), image_url=None, enclosures=(), word_count=1,
        content_hash="abc", story_id=None,
    )  # fmt: skip


def test_nats_drops_a_repeated_message_id_server_side() -> None:
    """A batch sent twice (a run killed after sending, before acknowledging) is one message
    per key in the JetStream stream: Nats-Msg-Id within the duplicate window."""
    subject = unique("ingest.dedup").replace("-", "_")
    js = nats_stream(subject)
    try:
        spec = SinkSpec(name="n", type="nats", url=NATS_URL, subject=subject)
        batch = [(OutboxItem(i, "n", i, "abc", "new", 0, ""), _record(i)) for i in (1, 2)]

        async def twice() -> None:
            sender = make_sender(spec, Settings())
            try:
                await sender.send(batch)
                await sender.send(batch)
            finally:
                await sender.aclose()

        asyncio.run(twice())
        assert [k for k, _ in nats_messages(js)] == ["1:abc", "2:abc"]
    finally:
        nats_delete(js)
