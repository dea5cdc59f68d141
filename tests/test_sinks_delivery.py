"""Push sinks end to end: `ingest run` against loopback feeds, delivering to a loopback
webhook receiver, the real Redis (127.0.0.1:6379) and NATS JetStream (127.0.0.1:4222)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from feedserver import FeedServer
from samplefeeds import make_items, rss
from sinkkit import (
    NATS_URL,
    REDIS_URL,
    SECRET,
    Receiver,
    free_port,
    nats_delete,
    nats_messages,
    nats_stream,
    redis_delete,
    redis_entries,
    unique,
    write_config,
)

from ingest.cli import cli
from ingest.models import FeedOptions
from ingest.settings import FeedSpec
from storage import open_store

LOCAL = FeedOptions(allow_private_network=True)  # the feeds; sinks opt in on their own
ENV = {"INGEST_PER_HOST_DELAY": "0", "HOOK_SECRET": SECRET}


class Farm:
    """Feeds on a loopback server, a store holding them, and `ingest` run on both."""

    def __init__(self, tmp_path: Path, server: FeedServer, db: str | None = None) -> None:
        self.server = server
        self.db = db or str(tmp_path / "sinks.db")
        self.config = tmp_path / "sinks.toml"
        self.runner = CliRunner()

    def feed(self, name: str, n: int, seed: int = 1) -> str:
        body = rss(name, "https://site.example/", make_items(seed, n))
        url = self.server.route(f"/{name}.xml", body=body)
        store = open_store(self.db)
        try:
            store.add_feed(FeedSpec(url=url, options=LOCAL))
        finally:
            store.close()
        return url

    def ingest(self, *args: str) -> Result:
        return self.runner.invoke(
            cli,
            ["--db", self.db, "--config", str(self.config), *args],
            env=ENV,
            catch_exceptions=False,
        )

    def stored(self) -> dict[int, str]:
        """Every stored article: id -> content hash."""
        store = open_store(self.db)
        try:
            return {r.id: r.content_hash for r in store.articles()}
        finally:
            store.close()

    def article_keys(self) -> set[str]:
        return {f"{i}:{h}" for i, h in self.stored().items()}


@pytest.fixture
def farm(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> Farm:
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)
    return Farm(tmp_path, feed_server)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def hook(receiver: Receiver, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "webhook",
        "name": "hook",
        "url": receiver.url,
        "secret": "${HOOK_SECRET}",
        "allow_private_network": True,
        "timeout": "2s",
    }
    base.update(kw)
    return base


@pytest.fixture
def stream() -> Iterator[str]:
    name = unique("ingest-test")
    try:
        yield name
    finally:
        redis_delete(name)


@pytest.fixture
def subject() -> Iterator[tuple[str, str]]:
    subj = unique("ingest.test").replace("-", "_")
    name = nats_stream(subj)
    try:
        yield subj, name
    finally:
        nats_delete(name)


def test_the_webhook_gets_every_new_and_revised_article_signed(
    farm: Farm, receiver: Receiver
) -> None:
    write_config(farm.config, [hook(receiver, batch_size=2)])
    url = farm.feed("news", 3)
    r = farm.ingest("run")
    assert r.exit_code == 0, r.output
    assert "warning" not in r.output
    assert len(receiver.deliveries) == 2  # batches of 2
    assert all(d.signed_by(SECRET) for d in receiver.deliveries)
    assert all(d.headers["content-type"] == "application/json" for d in receiver.deliveries)
    items = [i for d in receiver.deliveries for i in d.items]
    assert sorted(i["key"] for i in items) == sorted(farm.article_keys())
    assert {i["kind"] for i in items} == {"new"}
    first = items[0]["article"]
    assert first["id"] == int(items[0]["key"].split(":")[0])
    exported = [json.loads(x) for x in farm.ingest("articles", "export").output.splitlines()]
    assert first == next(e for e in exported if e["id"] == first["id"])  # the export record
    # a revision goes out under a new key; an unchanged article does not go again
    items3 = make_items(1, 3)
    items3[0]["html"] = "<p>Corrected: the figures were wrong.</p>"
    farm.server.update("/news.xml", body=rss("news", "https://site.example/", items3))
    receiver.deliveries.clear()
    assert farm.ingest("run", "--feed", url).exit_code == 0
    (revised,) = [i for d in receiver.deliveries for i in d.items]
    assert revised["kind"] == "revised" and revised["key"] in farm.article_keys()
    assert "Corrected" in revised["article"]["content_text"]
    assert receiver.deliveries[0].signed_by(SECRET)


def test_a_webhook_on_a_private_address_needs_the_opt_in(farm: Farm, receiver: Receiver) -> None:
    write_config(farm.config, [hook(receiver, allow_private_network=False)])
    farm.feed("news", 2)
    r = farm.ingest("run")
    assert r.exit_code == 0
    assert "warning: sink hook: " in r.stderr
    assert "127.0.0.1 is a loopback address" in r.stderr
    assert receiver.deliveries == []


def test_a_webhook_answering_500_then_recovering_gets_everything(
    farm: Farm, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    write_config(farm.config, [hook(receiver, retry_backoff="0s")])
    farm.feed("news", 3)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "3 new" in r.stdout
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("warning")]
    assert line == (
        f"warning: sink hook: {receiver.url} answered HTTP 500; 3 article(s) wait in its outbox"
    )
    assert "sink_backlog: hook 3" in farm.ingest("stats").output
    status = json.loads(farm.ingest("sinks", "status", "--json").output)
    assert (status[0]["pending"], status[0]["last_error"]) == (
        3,
        line.split(": ", 2)[2].split(";")[0],
    )
    r = farm.ingest("run")  # nothing due: the backlog goes out all the same
    assert r.exit_code == 0 and "warning" not in r.output
    keys = receiver.keys()
    assert set(keys) == farm.article_keys() and len(keys) == 6  # the failed batch, then again
    assert "sink_backlog: hook 0" in farm.ingest("stats").output


def test_a_sink_that_is_down_leaves_ingestion_green_and_drains_when_back(farm: Farm) -> None:
    port = free_port()
    down = Receiver(port=port)
    write_config(farm.config, [hook(down, retry_backoff="0s", timeout="1s")])
    farm.feed("news", 4)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "4 new" in r.stdout
    assert f"warning: sink hook: {down.url}: " in r.stderr
    assert "4 article(s) wait in its outbox" in r.stderr
    assert len(farm.stored()) == 4  # stored all the same
    assert "hook: 4 waiting, 0 dead, 0 delivered" in farm.ingest("sinks", "status").output
    down.start()  # back, on the same port
    try:
        r = farm.ingest("run")
        assert r.exit_code == 0 and "warning" not in r.output
        assert set(down.keys()) == farm.article_keys()
    finally:
        down.stop()
    assert "hook: 0 waiting, 0 dead, 4 delivered" in farm.ingest("sinks", "status").output


def test_dead_letters_after_max_attempts_and_sinks_retry(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [503, 503]
    write_config(farm.config, [hook(receiver, retry_backoff="0s", max_attempts=2)])
    farm.feed("news", 3)
    r = farm.ingest("run")
    assert "3 article(s) wait" in r.stderr
    r = farm.ingest("run")
    assert "0 article(s) wait in its outbox, 3 moved to its dead letters" in r.stderr
    assert r.exit_code == 0
    assert "hook: 0 waiting, 3 dead" in farm.ingest("sinks", "status").output
    assert "hook 3" in farm.ingest("stats").output  # sink_dead_letters
    receiver.deliveries.clear()
    assert farm.ingest("run").exit_code == 0
    assert receiver.deliveries == []  # dead letters are not retried by themselves
    r = farm.ingest("sinks", "retry", "--sink", "nope")
    assert r.exit_code == 2 and "no such sink: nope" in r.output
    assert farm.ingest("sinks", "retry", "--sink", "hook").output == (
        "3 dead letters moved back to the outbox\n"
    )
    r = farm.ingest("sinks", "deliver")
    assert r.exit_code == 0 and r.output == "hook: 3 articles delivered\n"
    assert set(receiver.keys()) == farm.article_keys()
    assert all(d.signed_by(SECRET) for d in receiver.deliveries)


def test_sinks_list_masks_secrets(farm: Farm, receiver: Receiver) -> None:
    write_config(
        farm.config,
        [
            hook(receiver),
            {"type": "redis", "url": "redis://:hunter2@127.0.0.1:6379/0", "stream": "s"},
        ],
    )
    out = farm.ingest("sinks", "list").output
    assert "hunter2" not in out and SECRET not in out
    assert "redis  redis  redis://:***@127.0.0.1:6379/0 stream s  (nothing queued yet)" in out
    assert f"hook  webhook  {receiver.url}" in out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_redis_and_nats_consumers_see_every_article_once(
    farm: Farm,
    stream: str,
    subject: tuple[str, str],
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    if backend == "postgres":
        farm.db = request.getfixturevalue("pg_url")
    subj, js_stream = subject
    write_config(
        farm.config,
        [
            {"type": "redis", "url": REDIS_URL, "stream": stream, "maxlen": 1000},
            {"type": "nats", "url": NATS_URL, "subject": subj},
        ],
    )
    farm.feed("one", 5, seed=1)
    farm.feed("two", 4, seed=2)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    entries = redis_entries(stream)
    assert sorted(e["key"] for e in entries) == sorted(farm.article_keys())
    assert all(json.loads(e["article"])["id"] == int(e["key"].split(":")[0]) for e in entries)
    messages = nats_messages(js_stream)
    assert sorted(k for k, _ in messages) == sorted(farm.article_keys())
    assert all(a["id"] == int(k.split(":")[0]) for k, a in messages)
    assert farm.ingest("run", "--all").exit_code == 0  # nothing new: nothing pushed
    assert len(redis_entries(stream)) == len(nats_messages(js_stream)) == 9


def test_a_nats_subject_without_a_stream_is_one_warning(farm: Farm) -> None:
    write_config(farm.config, [{"type": "nats", "url": NATS_URL, "subject": unique("nostream")}])
    farm.feed("news", 1)
    r = farm.ingest("run")
    assert r.exit_code == 0
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("warning")]
    assert "sink nats: nats://127.0.0.1:4222: no JetStream stream takes subject nostream-" in line


def test_a_sink_added_later_gets_earlier_articles_only_by_replay(
    farm: Farm, receiver: Receiver
) -> None:
    farm.feed("news", 3)
    write_config(farm.config, [])  # no sinks yet
    assert farm.ingest("run").exit_code == 0
    write_config(farm.config, [hook(receiver)])
    assert farm.ingest("run", "--all").exit_code == 0
    assert receiver.deliveries == []  # stored before the sink was added
    r = farm.ingest("sinks", "replay", "--sink", "other", "--since", "1d")
    assert r.exit_code == 2 and "no such sink in" in r.output
    r = farm.ingest("sinks", "replay", "--sink", "hook", "--since", "1d")
    assert r.output == "3 articles queued for hook\n"
    assert farm.ingest("sinks", "deliver").output == "hook: 3 articles delivered\n"
    assert sorted(receiver.keys()) == sorted(farm.article_keys())


def test_a_run_over_two_processes_pushes_each_article_once(farm: Farm, stream: str) -> None:
    """Both worker processes queue what they store; the run delivers once, after both."""
    write_config(farm.config, [{"type": "redis", "url": REDIS_URL, "stream": stream}])
    for i in range(24):  # over PARALLEL_MIN_FEEDS: the default two workers
        farm.feed(f"f{i}", 2, seed=100 + i)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "48 new" in r.stdout, r.output
    keys = [e["key"] for e in redis_entries(stream)]
    assert len(keys) == 48 and set(keys) == farm.article_keys()


def test_redis_and_nats_down_leave_the_run_green_and_drain_once_reachable(
    farm: Farm, stream: str, subject: tuple[str, str]
) -> None:
    subj, js_stream = subject
    port = free_port()  # nothing listens: both servers are "down"
    down = [
        {"type": "redis", "url": f"redis://127.0.0.1:{port}/0", "stream": stream,
         "retry_backoff": "0s", "timeout": "2s"},
        {"type": "nats", "url": f"nats://127.0.0.1:{port}", "subject": subj,
         "retry_backoff": "0s", "timeout": "2s"},
    ]  # fmt: skip
    write_config(farm.config, down)
    farm.feed("news", 3)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "3 new" in r.stdout
    warnings = sorted(x for x in r.stderr.splitlines() if x.startswith("warning"))
    assert warnings == [
        f"warning: sink nats: nats://127.0.0.1:{port}: cannot connect: Connection refused; "
        "3 article(s) wait in its outbox",
        f"warning: sink redis: redis://127.0.0.1:{port}/0: cannot connect: Connection refused; "
        "3 article(s) wait in its outbox",
    ]
    stats = farm.ingest("stats").output
    assert "sink_backlog: nats 3, redis 3" in stats
    # the same sinks, reachable again (here: at the live servers' address)
    up = [dict(d, url=u) for d, u in zip(down, (REDIS_URL, NATS_URL), strict=True)]
    write_config(farm.config, up)
    r = farm.ingest("run")
    assert r.exit_code == 0 and "warning" not in r.output
    assert sorted(e["key"] for e in redis_entries(stream)) == sorted(farm.article_keys())
    assert sorted(k for k, _ in nats_messages(js_stream)) == sorted(farm.article_keys())
    assert "sink_backlog: nats 0, redis 0" in farm.ingest("stats").output


def test_a_run_without_a_config_file_keeps_queueing_for_the_registered_sinks(
    farm: Farm, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(farm.config, [hook(receiver)])
    farm.feed("news", 2)
    assert farm.ingest("run").exit_code == 0 and len(receiver.keys()) == 2
    farm.server.update("/news.xml", body=rss("news", "https://site.example/", make_items(1, 4)))
    elsewhere = tmp_path / "elsewhere"  # no config/feeds.toml here
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = farm.runner.invoke(cli, ["--db", farm.db, "run", "--all"], env=ENV)
    assert r.exit_code == 0 and "2 new" in r.stdout
    assert "hook: 2 waiting" in farm.ingest("sinks", "status").output  # queued, not lost
    assert farm.ingest("run").exit_code == 0
    assert sorted(receiver.keys()) == sorted(farm.article_keys())


def test_a_failed_delivery_waits_out_its_backoff(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [500]
    write_config(farm.config, [hook(receiver, retry_backoff="1h")])
    farm.feed("news", 2)
    assert "answered HTTP 500" in farm.ingest("run").stderr
    assert len(receiver.deliveries) == 1
    r = farm.ingest("run")  # an hour has not passed: not tried again
    assert r.exit_code == 0 and "warning" not in r.output
    assert farm.ingest("sinks", "deliver").output == "hook: 0 articles delivered\n"
    assert len(receiver.deliveries) == 1
    status = farm.ingest("sinks", "status").output
    assert "hook: 2 waiting, 0 dead, 0 delivered" in status
    assert "last error: " + receiver.url + " answered HTTP 500" in status
