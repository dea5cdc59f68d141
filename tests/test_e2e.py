"""End to end: OPML of local feeds -> `ingest run` -> store, against a real loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from clikit import invoker
from feedserver import FeedServer
from samplefeeds import make_items, opml, rss

from ingest.cli import cli

SHARED = Path(__file__).resolve().parents[2] / "shared"
ROOT = Path(__file__).resolve().parents[1]
LOCAL_ENV = {
    "INGEST_ALLOW_PRIVATE_NETWORKS": "1",
    "INGEST_PER_HOST_DELAY": "0",
    "INGEST_PER_HOST_CONCURRENCY": "8",
}


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return invoker(tmp_path, monkeypatch, db_name="e2e.db", base_env=LOCAL_ENV)


def export(ingest) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in ingest("articles", "export").output.splitlines()]


def test_import_run_conditional_and_changed(
    ingest, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    n_feeds, n_items = 6, 8
    urls = []
    for f in range(n_feeds):
        body = rss(
            f"Feed {f}",
            f"https://site{f}.example/",
            make_items(f, n_items, site=f"https://site{f}.example"),
        )
        validators = (
            {} if f == 0 else {"etag": "auto", "last_modified": "Mon, 23 Nov 2026 10:00:00 GMT"}
        )
        urls.append(feed_server.route(f"/feed{f}.xml", body=body, conditional=f != 0, **validators))
    (tmp_path / "farm.opml").write_bytes(opml(urls))
    assert (
        ingest("feeds", "import", "farm.opml").output
        == f"imported {n_feeds} feeds from farm.opml ({n_feeds} new)\n"
    )

    r = ingest("run")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(
        f"{n_feeds} feeds: {n_feeds} ok, 0 not modified, 0 unchanged, 0 failed; "
        f"{n_feeds * n_items} new, 0 updated articles in "
    )
    records = export(ingest)
    assert len(records) == n_feeds * n_items
    assert len({(r["feed_url"], r["guid"]) for r in records}) == n_feeds * n_items

    # a second pass: conditional requests, 304s (and one unchanged body without validators)
    feed_server.clear_log()
    r = ingest("run", "--all")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(
        f"{n_feeds} feeds: 0 ok, {n_feeds - 1} not modified, 1 unchanged, 0 failed; 0 new"
    )
    for f in range(1, n_feeds):
        (req,) = feed_server.requests_for(f"/feed{f}.xml")
        assert req.headers["if-none-match"] and req.headers["if-modified-since"]
    assert len(export(ingest)) == n_feeds * n_items

    # a feed that changed adds only its new items
    changed = make_items(3, n_items, site="https://site3.example") + make_items(
        3, 2, start=100, site="https://site3.example"
    )
    feed_server.update("/feed3.xml", body=rss("Feed 3", "https://site3.example/", changed))
    r = ingest("run", "--all")
    assert "; 2 new, 0 updated articles" in r.stdout
    assert len(export(ingest)) == n_feeds * n_items + 2
    feed = json.loads(ingest("feeds", "list", "--json").output)
    assert {f["status"] for f in feed} == {"ok"}
    assert all(f["next_poll_at"] and f["schedule_reason"] for f in feed)


def test_failures_are_named_and_lose_nothing(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    good = feed_server.route(
        "/good.xml", body=rss("Good", "https://g.example/", make_items(1, 3)), etag="auto"
    )
    feed_server.route(
        "/html", body=b"<html><body>not a feed</body></html>", content_type="text/html"
    )
    ingest("feeds", "add", good)
    ingest("feeds", "add", feed_server.url("/missing.xml"))
    ingest("feeds", "add", feed_server.url("/html"))
    r = ingest("run")
    assert r.exit_code == 1
    assert f"failed {feed_server.url('/html')}: " in r.stdout
    assert f"failed {feed_server.url('/missing.xml')}: " in r.stdout and "404" in r.stdout
    assert len(export(ingest)) == 3
    # the good feed breaks later: its articles stay, the feed says why
    feed_server.route("/good.xml", body=b"<rss><channel><item>", status=500)
    r = ingest("run", "--feed", good)
    assert r.exit_code == 1
    assert len(export(ingest)) == 3
    (rec,) = [f for f in json.loads(ingest("feeds", "list", "--json").output) if f["url"] == good]
    assert (rec["status"], rec["last_http_status"], rec["error_count"]) == ("error", 500, 1)
    assert rec["last_error"].startswith(good + ": ")


def test_a_feed_asked_for_while_its_host_is_being_fetched_elsewhere_is_named(
    ingest, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`run --feed` never fetches a host that another run is fetching (politeness), and
    says so instead of printing an empty summary with exit 0."""
    from datetime import UTC, datetime

    from storage.sqlite import SQLiteStore

    a = feed_server.route("/a.xml", body=rss("A", "https://a.example/", make_items(71, 2)))
    b = feed_server.route("/b.xml", body=rss("B", "https://b.example/", make_items(72, 2)))
    ingest("feeds", "add", a)
    ingest("feeds", "add", b)
    store = SQLiteStore(tmp_path / "e2e.db")  # another run, on another machine, has `a`
    (held,) = store.claim_feeds(
        now=datetime.now(UTC), owner="elsewhere:4242:run1", lease_s=600, limit=1, urls=[a]
    )
    r = ingest("run", "--feed", b)
    assert r.exit_code == 1
    assert r.stdout.startswith("0 feeds: ")
    assert f"not fetched {b}: another run or worker is fetching it or another feed" in r.stdout
    assert feed_server.requests_for("/b.xml") == []
    store.release("elsewhere:4242:run1", [held.url])
    store.close()
    r = ingest("run", "--feed", b)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("1 feed: 1 ok") and "not fetched" not in r.stdout


def test_one_story_many_outlets_and_same_topic_stays_apart(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    base = feed_server.serve_dir(ROOT / "config" / "demo", prefix="/demo/")
    for name in ("harbor-herald.xml", "valley-times.xml", "coast-daily.json"):
        ingest("feeds", "add", base + name)
    r = ingest("run")
    assert r.exit_code == 0, r.output
    stories = [json.loads(line) for line in ingest("stories", "list", "--json").output.splitlines()]
    multi = [s for s in stories if s["n_sources"] > 1]
    assert len(multi) == 1, stories
    (gale,) = multi
    outlets = {s["feed_url"].rsplit("/", 1)[1] for s in gale["sources"]}
    assert outlets == {"harbor-herald.xml", "valley-times.xml", "coast-daily.json"}
    # the same-topic local ferry story (another event) is a story of its own
    ferry = [s for s in stories if "ferry" in s["title"].lower()]
    assert len(ferry) == 1 and ferry[0]["n_sources"] == 1
    records = {r["title"]: r for r in export(ingest)}
    # the Herald and Coast Daily link the same wire URL: one article, with the fuller text
    (herald,) = [
        r
        for r in records.values()
        if r["canonical_url"] == "https://wire.example/2026/11/gale-shuts-northern-ports"
    ]
    assert herald["content_text"].count("Dock workers lash containers") == 1
    assert (
        "Related News" not in herald["content_text"] and "Load more" not in herald["content_text"]
    )
    assert "Forecasters expect the storm to weaken" in herald["content_text"]
    lighthouse = next(r for t, r in records.items() if "lighthouse" in t.lower())
    assert (
        "<script" not in lighthouse["content_html"] and "onclick" not in lighthouse["content_html"]
    )


def test_demo_runs_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest import demo

    monkeypatch.chdir(tmp_path)
    assert demo.main(tmp_path / "demo.db") == 0
    out = capsys.readouterr().out
    assert "fetched 3 feeds: 6 new articles, 0 failed" in out
    assert "stories carried by more than one source:" in out
    assert "second pass right after: 0 new articles" in out


@pytest.mark.slow
def test_every_corpus_file_is_ingested_without_a_crash(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    corpus = SHARED / "corpus"
    if not (corpus / "MANIFEST.tsv").exists():
        pytest.skip("../shared/corpus is absent")
    base = feed_server.serve_dir(corpus, prefix="/corpus/")
    paths = []
    for line in (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if cols[5].startswith("feed"):
            paths.append(cols[0])
    urls = [base + p for p in paths]
    from urllib.parse import quote

    urls = [base + quote(p) for p in paths]
    Path("corpus.opml").write_bytes(opml(urls))
    r = ingest("feeds", "import", "corpus.opml")
    assert r.exit_code == 0
    r = ingest("run", "--all")
    assert r.exit_code in (0, 1), r.output
    feeds = json.loads(ingest("feeds", "list", "--json").output)
    assert len(feeds) == len(set(urls))
    failed = [f for f in feeds if f["status"] != "ok"]
    for f in failed:
        assert f["last_error"] and f["last_error"].startswith(f["url"] + ": ")
    assert all(f["last_attempt_at"] for f in feeds)
    stats = json.loads(ingest("stats", "--json").output)
    print(
        f"corpus: {len(feeds)} feeds, {len(failed)} failed, {stats['articles']} articles, "
        f"{stats['stories']} stories"
    )
    assert stats["articles"] > 5000
    assert len(failed) < len(feeds) * 0.1


def test_parse_workers_store_the_same_records(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    urls = [
        feed_server.route(
            f"/w{i}.xml", body=rss(f"W{i}", "https://w.example/", make_items(40 + i, 6))
        )
        for i in range(4)
    ]
    (tmp_path / "w.opml").write_bytes(opml(urls))
    exported = []
    for workers in ("0", "2"):
        env = {**LOCAL_ENV, "INGEST_PARSE_WORKERS": workers}
        db = str(tmp_path / f"w{workers}.db")
        runner = CliRunner()
        assert runner.invoke(cli, ["--db", db, "feeds", "import", "w.opml"], env=env).exit_code == 0
        r = runner.invoke(cli, ["--db", db, "run", "--timings"], env=env)
        assert r.exit_code == 0, r.output
        assert "stages: fetch=" in r.stdout and " parse=" in r.stdout and " store=" in r.stdout
        lines = runner.invoke(cli, ["--db", db, "articles", "export"], env=env).stdout.splitlines()
        exported.append(
            sorted((json.loads(x)["guid"], json.loads(x)["content_hash"]) for x in lines)
        )
    assert len(exported[0]) == 24
    assert exported[0] == exported[1]


ARTICLE_PAGE = b"""<!doctype html><html><head><title>Lock keepers vote to strike</title></head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sport">Sport</a></nav>
<article><h1>Lock keepers vote to strike over winter rota</h1>
<p>Lock keepers on the northern canal voted on Tuesday to strike for two days next month, their
union said, after talks over the winter rota broke down for the third time this autumn.</p>
<p>The keepers say the new rota leaves single staff in charge of the flight of eleven locks at
night, which they argue is unsafe when the water is high and the towpath lights are out.</p>
<p>The canal trust said it was disappointed by the vote and would keep the locks open with
managers trained for the work, though boaters were warned to expect delays at the busiest gates.</p>
<p>Both sides have agreed to meet again on Friday with an independent mediator in the room.</p>
</article><footer>Copyright the made-up Canal Courier. Subscribe to our newsletter.</footer>
</body></html>"""


def test_full_text_is_extracted_for_opted_in_feeds(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    page = feed_server.route("/news/lock-keepers", body=ARTICLE_PAGE, content_type="text/html")
    teaser = {"title": "Lock keepers vote to strike", "link": page, "guid": "lk-1",
              "date": "Tue, 24 Nov 2026 08:00:00 +0000", "html": "<p>Keepers vote to strike.</p>"}  # fmt: skip
    feed = feed_server.route("/teasers.xml", body=rss("Courier", "https://c.example/", [teaser]))
    r = ingest("feeds", "add", feed, "--full-text")
    assert r.exit_code == 0
    assert ingest("run").exit_code == 0
    (rec,) = export(ingest)
    assert "flight of eleven locks" in rec["content_text"]
    assert "Subscribe to our newsletter" not in rec["content_text"]
    assert rec["word_count"] > 80
    assert len(feed_server.requests_for("/news/lock-keepers")) == 1
    # known articles are not fetched again
    ingest("run", "--all")
    assert len(feed_server.requests_for("/news/lock-keepers")) == 1


def test_huge_feeds_are_streamed_in_chunks(
    ingest, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from ingest import pipeline

    # make a small feed "huge" so that it takes the streaming path, in chunks of 7
    monkeypatch.setattr(pipeline, "STREAM_MIN_BYTES", 1000)
    monkeypatch.setattr(pipeline, "STREAM_CHUNK", 7)
    writes: list[int] = []
    from storage.sqlite import SQLiteStore

    real = SQLiteStore.record_articles

    def spy(self: SQLiteStore, feed_url: str, articles, **kw):  # type: ignore[no-untyped-def]
        writes.append(len(articles))
        return real(self, feed_url, articles, **kw)

    monkeypatch.setattr(SQLiteStore, "record_articles", spy)
    url = feed_server.route(
        "/big.xml", body=rss("Big", "https://b.example/", make_items(61, 30)), etag="auto"
    )
    ingest("feeds", "add", url)
    r = ingest("run")
    assert r.exit_code == 0, r.output
    assert "; 30 new, 0 updated articles" in r.stdout
    assert writes == [7, 7, 7, 7]  # the last 2 go with the feed's state
    assert len({rec["guid"] for rec in export(ingest)}) == 30
    (feed,) = json.loads(ingest("feeds", "show", url, "--json").output)["history"][:1]
    assert (feed["outcome"], feed["new"]) == ("ok", 30)
    # the same items again (body changed by one byte): nothing new, nothing duplicated
    feed_server.route(
        "/big.xml", body=rss("Big ", "https://b.example/", make_items(61, 30)), etag="auto"
    )
    r = ingest("run", "--all")
    assert "; 0 new, 0 updated articles" in r.stdout
    assert len(export(ingest)) == 30


def test_huge_feed_counts_each_item_once_for_the_schedule(
    ingest, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The schedule weighs new against known items: a streamed feed's last chunk (written
    with the feed's state) must count once, not twice."""
    from ingest import pipeline

    monkeypatch.setattr(pipeline, "STREAM_MIN_BYTES", 1000)
    monkeypatch.setattr(pipeline, "STREAM_CHUNK", 7)
    items = make_items(62, 40)
    url = feed_server.route("/big.xml", body=rss("Big", "https://b.example/", items[10:]))
    ingest("feeds", "add", url)
    assert ingest("run").exit_code == 0
    # 10 new on top of 20 known: chunks of 7, the last (2 known) goes with the feed's state.
    # Known share 20/30 = 0.667, just under "mostly known" (0.67); counted twice, the last
    # chunk made it 22/32 = 0.69
    feed_server.route("/big.xml", body=rss("Big", "https://b.example/", items[:30]))
    r = ingest("run", "--all")
    assert "; 10 new, 0 updated articles" in r.stdout
    reason = json.loads(ingest("feeds", "show", url, "--json").output)["schedule_reason"]
    assert "mostly" not in reason, reason
    # all known (the body changed by one byte): the same rule says so
    feed_server.route("/big.xml", body=rss("Big ", "https://b.example/", items[:30]))
    ingest("run", "--all")
    reason = json.loads(ingest("feeds", "show", url, "--json").output)["schedule_reason"]
    assert "mostly known" in reason, reason


def test_block_rules_drop_items_and_say_why(
    ingest, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    items = make_items(88, 4)
    items[1]["title"] = "Sponsored: a word from our partners"
    url = feed_server.route("/rules.xml", body=rss("Rules", "https://r.example/", items))
    config = tmp_path / "rules.toml"
    config.write_text(
        f'[[feeds]]\nurl = "{url}"\nallow_private_network = true\n'
        'block = [{ field = "title", pattern = "^sponsored", regex = true }]\n'
    )
    assert ingest("--config", str(config), "feeds", "sync").exit_code == 0
    r = ingest("run")
    assert "; 3 new, 0 updated articles" in r.stdout
    assert "Sponsored" not in " ".join(str(rec["title"]) for rec in export(ingest))
    (line,) = ingest("articles", "filtered").stdout.splitlines()
    assert "Sponsored: a word from our partners" in line and "block rule" in line
