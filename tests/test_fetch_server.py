"""The test server itself (tests/feedserver.py): the other tests rely on its behaviour."""

from __future__ import annotations

import gzip
import http.client
import threading
import time
from pathlib import Path

from feedserver import FeedServer, http_date


def get(server: FeedServer, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_routes_etag_304_and_log(feed_server: FeedServer) -> None:
    feed_server.route("/f", body=b"<rss/>", etag="auto", last_modified=http_date(0))
    status, headers, body = get(feed_server, "/f")
    assert status == 200 and body == b"<rss/>" and headers["etag"].startswith('"')
    status, _, body = get(feed_server, "/f", **{"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""
    status, _, _ = get(feed_server, "/f", **{"If-Modified-Since": http_date(10)})
    assert status == 304
    log = feed_server.requests_for("/f")
    assert len(log) == 3 and log[1].headers["if-none-match"] == headers["etag"]
    assert log[0].time <= log[1].time <= log[2].time


def test_changing_body_changes_the_etag(feed_server: FeedServer) -> None:
    feed_server.route("/f", body=b"one", etag="auto")
    _, h1, _ = get(feed_server, "/f")
    feed_server.update("/f", body=b"two")
    status, h2, body = get(feed_server, "/f", **{"If-None-Match": h1["etag"]})
    assert status == 200 and body == b"two" and h2["etag"] != h1["etag"]


def test_gzip_only_when_accepted(feed_server: FeedServer) -> None:
    feed_server.route("/f", body=b"x" * 1000, gzip=True)
    _, headers, body = get(feed_server, "/f", **{"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == b"x" * 1000
    _, headers, body = get(feed_server, "/f")
    assert "content-encoding" not in headers and body == b"x" * 1000


def test_serve_dir_with_validators(feed_server: FeedServer, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a feed.xml").write_bytes(b"<feed/>")
    (tmp_path.parent / "outside.txt").write_text("secret")
    feed_server.serve_dir(tmp_path, "/files")
    status, headers, body = get(feed_server, "/files/sub/a%20feed.xml")
    assert status == 200 and body == b"<feed/>" and headers["content-type"] == "application/xml"
    status, _, _ = get(feed_server, "/files/sub/a%20feed.xml", **{"If-None-Match": headers["etag"]})
    assert status == 304
    assert get(feed_server, "/files/../outside.txt")[0] == 404
    assert get(feed_server, "/files/missing.xml")[0] == 404


def test_redirect_location_is_absolute(feed_server: FeedServer) -> None:
    feed_server.route("/old", status=301, location="/new")
    status, headers, _ = get(feed_server, "/old")
    assert status == 301 and headers["location"] == feed_server.url("/new")


def test_stop_is_fast_even_mid_trickle(feed_server: FeedServer) -> None:
    feed_server.route("/slow", body=b"x" * 1000, trickle_s=1.0)

    def client() -> None:
        try:
            get(feed_server, "/slow")
        except (http.client.HTTPException, OSError):
            pass  # cut off by stop(): expected

    t = threading.Thread(target=client, daemon=True)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    feed_server.stop()
    assert time.monotonic() - t0 < 1.0
