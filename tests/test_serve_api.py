"""`ingest serve`'s JSON API over HTTP (uvicorn on loopback), on a store filled by the real
pipeline from loopback feeds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from feedserver import FeedServer
from servekit import LiveServer, backend, fill_store

from ingest.cli import cli


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | str]:
    """The store, filled, on each backend in turn (a SQLite file, a postgresql:// URL)."""
    target = backend(request, tmp_path_factory.mktemp("serve") / "ingest.db")
    with FeedServer() as server:
        yield fill_store(target, server)


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with FeedServer() as server:
        db = fill_store(tmp_path_factory.mktemp("serve") / "ingest.db", server)
    assert isinstance(db, Path)
    yield db


@pytest.fixture(scope="module")
def api(db: Path | str) -> Iterator[httpx.Client]:
    with LiveServer(db) as live, httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def exported(db: Path | str) -> list[dict[str, object]]:
    """The JSONL export's records, as `ingest articles export` writes them."""
    result = CliRunner().invoke(cli, ["--db", str(db), "articles", "export"], env={})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def page_all(api: httpx.Client, limit: int, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    since_id = 0
    while True:
        r = api.get("/api/articles", params={"since_id": since_id, "limit": limit, **params})
        assert r.status_code == 200, r.text
        page = r.json()
        if not page["items"]:
            assert page["next_since_id"] == since_id
            return items
        assert len(page["items"]) <= limit
        assert page["next_since_id"] == page["items"][-1]["id"]
        items += page["items"]
        since_id = page["next_since_id"]


def test_articles_page_through_the_export_records(api: httpx.Client, exported: list) -> None:
    assert len(exported) > 20
    assert page_all(api, limit=7) == exported
    r = api.get("/api/articles")
    assert r.json()["items"] == exported[:100]


def test_article_by_id(api: httpx.Client, exported: list) -> None:
    record = exported[5]
    assert api.get(f"/api/articles/{record['id']}").json() == record
    r = api.get("/api/articles/99999")
    assert r.status_code == 404 and r.json() == {"detail": "no article 99999"}


def test_article_filters(api: httpx.Client, exported: list) -> None:
    feeds = {f["url"]: f for f in api.get("/api/feeds").json()}
    coast = {u for u, f in feeds.items() if "coast" in f["tags"]}
    # a feed: every article it carried, first or not (the stories' sources say which); the
    # one that carried the wire story's URL after another feed did
    first_feed = {r["id"]: r["feed_url"] for r in exported}
    carried: dict[str, set[int]] = {}
    for story in api.get("/api/stories", params={"limit": 500}).json():
        for src in story["sources"]:
            carried.setdefault(src["feed_url"], set()).add(src["article_id"])
    (second,) = [f for f, ids in carried.items() if any(first_feed[i] != f for i in ids)]
    by_feed = page_all(api, limit=2, feed=second)
    assert [r["id"] for r in by_feed] == sorted(carried[second])
    assert any(r["feed_url"] != second for r in by_feed)
    # the feed's tag: every article a "coast" feed carried, the wire story once
    tagged = page_all(api, limit=3, tag="COAST")
    assert [r["id"] for r in tagged] == [r["id"] for r in exported if r["feed_url"] in coast]
    languages = {r["language"] for r in exported}
    for lang in languages:
        got = page_all(api, limit=50, language=lang)
        assert got == [r for r in exported if r["language"] == lang]
    assert page_all(api, limit=50, since="2100-01-01") == []
    assert len(page_all(api, limit=50, since="2000-01-01")) == len(exported)
    # full-text search: the wire story's word, and words that are not FTS5 syntax
    gale = page_all(api, limit=50, q="gale")
    assert gale and all("gale" in (r["title"] + r["content_text"]).lower() for r in gale)
    assert page_all(api, limit=50, q='gale "ports') == page_all(api, limit=50, q="gale ports")


def test_stories_carry_representative_and_every_source(api: httpx.Client, exported: list) -> None:
    stories = api.get("/api/stories", params={"limit": 500}).json()
    assert {s["story_id"] for s in stories} == {r["story_id"] for r in exported}
    for story in stories:
        rep = story["representative"]
        assert rep in exported and rep["story_id"] == story["story_id"]
        assert len(story["sources"]) == story["n_sources"] >= 1
        members = {r["id"] for r in exported if r["story_id"] == story["story_id"]}
        assert {s["article_id"] for s in story["sources"]} == members
    several = api.get("/api/stories", params={"min_sources": 3}).json()
    assert several and all(s["n_sources"] >= 3 for s in several)
    assert len(several) == sum(s["n_sources"] >= 3 for s in stories)
    outlets = {"Coast Daily", "Harbor Herald", "Valley Times"}
    (wire,) = [s for s in several if {src["outlet"] for src in s["sources"]} == outlets]
    assert api.get(f"/api/stories/{wire['story_id']}").json() == wire
    assert api.get("/api/stories/99999").status_code == 404
    assert api.get("/api/stories", params={"tag": "nothing-like-it"}).json() == []
    generated = api.get("/api/stories", params={"tag": "generated", "limit": 500}).json()
    assert generated and all("gen" in s["sources"][0]["feed_url"] for s in generated)


def test_feed_health(api: httpx.Client) -> None:
    feeds = api.get("/api/feeds").json()
    assert len(feeds) == 7
    (broken,) = [f for f in feeds if f["url"].endswith("/missing.xml")]
    assert broken["status"] == "error" and "404" in broken["last_error"]
    assert all(f["next_poll_at"] for f in feeds)
    assert {f["status"] for f in feeds if f is not broken} == {"ok"}


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/articles", {"limit": 0}, "limit"),
        ("/api/articles", {"limit": "many"}, "limit"),
        ("/api/articles", {"limit": 1001}, "limit"),
        ("/api/articles", {"since_id": -1}, "since_id"),
        ("/api/articles", {"since_id": 2**63}, "since_id"),
        ("/api/articles", {"since": "last tuesday"}, "since"),
        ("/api/articles", {"q": "   "}, "q"),
        ("/api/articles", {"tag": ""}, "tag"),
        ("/api/stories", {"min_sources": 0}, "min_sources"),
        ("/api/stories", {"since": "soon"}, "since"),
        ("/stories.atom", {"limit": -5}, "limit"),
        ("/stories.json", {"min_sources": "x"}, "min_sources"),
        ("/api/articles/0", {}, "article_id"),
        ("/api/stories/abc", {}, "story_id"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    api: httpx.Client, path: str, params: dict[str, object], name: str
) -> None:
    r = api.get(path, params=params)
    assert r.status_code == 422, r.text
    assert [e["loc"][-1] for e in r.json()["detail"]] == [name]


def test_healthz(api: httpx.Client, exported: list) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "last_article_id": exported[-1]["id"]}


def test_bearer_token_guards_all_but_healthz(db: Path | str) -> None:
    with LiveServer(db, api_token="s3cret") as live:
        with httpx.Client(base_url=live.base_url) as anon:
            for path in ("/api/articles", "/api/feeds", "/stories.json", "/", "/openapi.json"):
                r = anon.get(path)
                assert r.status_code == 401, path
                assert r.headers["www-authenticate"].startswith("Bearer")
            assert (
                anon.get("/api/feeds", headers={"Authorization": "Bearer nope"}).status_code == 401
            )
            assert anon.get("/healthz").status_code == 200
        auth = {"Authorization": "Bearer s3cret"}
        with httpx.Client(base_url=live.base_url, headers=auth) as client:
            assert client.get("/api/articles").status_code == 200
            schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "401" in schema["paths"]["/api/articles"]["get"]["responses"]
        assert "security" not in schema["paths"]["/healthz"]["get"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_serve_command_settings_from_env_and_options(db: Path | str, tmp_path: Path) -> None:
    env_port, cli_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env |= {"INGEST_DB": str(db), "INGEST_SERVE_PORT": str(env_port), "INGEST_API_TOKEN": "t"}
    command = [sys.executable, "-m", "ingest", "serve"]
    for args, port in (([], env_port), (["--port", str(cli_port)], cli_port)):
        proc = subprocess.Popen(command + args, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
        try:
            assert wait_healthy(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
            r = httpx.get(f"http://127.0.0.1:{port}/api/feeds")
            assert r.status_code == 401  # the token came from INGEST_API_TOKEN
        finally:
            proc.terminate()
            proc.wait(15)


def test_serve_says_when_its_port_is_taken(sqlite_db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["--db", str(sqlite_db), "serve", "--port", str(port)], env={}
        )
    assert result.exit_code == 1
    assert result.output == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "typo.db"), "serve"], env={})
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: {tmp_path / 'typo.db'}: no such database (run `ingest run` first, or pass --db)\n"
    )
    assert not (tmp_path / "typo.db").exists()


def test_a_store_gone_under_the_server_is_a_one_line_503(
    sqlite_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(sqlite_db.read_bytes())
    with LiveServer(copy) as live:
        assert httpx.get(live.base_url + "/api/articles").status_code == 200
        copy.unlink()
        r = httpx.get(live.base_url + "/api/articles")
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert detail.startswith("store unavailable: ") and "\n" not in detail
    assert "unable to open database file" in detail
    assert f"GET /api/articles: {detail}" in caplog.text
    assert "Traceback" not in caplog.text
