"""ingest.fulltext.extract against an article page (written for this test) served by a real
http.server on 127.0.0.1 (issue #4 item 8)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingest.fulltext import extract

pytest.importorskip("trafilatura")

PARAGRAPHS = [
    "The river ferry between the two old market towns will run again from the first week of "
    "April, the county transport office said on Wednesday, ending a pause of almost two years.",
    "Engineers replaced the landing stages on both banks after winter floods in the previous "
    "season loosened the piles that held them, and the new stages sit half a metre higher.",
    "Passengers will pay the same fare as before, while cyclists will no longer need a separate "
    "ticket, a change that local riding clubs had asked for since the service first opened.",
    "The operator plans a timetable of one crossing every twenty minutes during the day, with "
    "later sailings on Fridays and Saturdays through the summer months.",
]
PAGE = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Ferry service to resume in April</title>
<script>window.tracker = function () {{ return 1; }};</script></head>
<body>
<header><nav><a href="/">Home</a> <a href="/local">Local</a> <a href="/sport">Sport</a></nav></header>
<main><article>
<h1>Ferry service to resume in April</h1>
<p class="byline">By a staff writer</p>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
<figure><img src="/img/ferry.jpg" alt="The ferry"><figcaption>The ferry at the north landing</figcaption></figure>
<p>Share this</p>
</article></main>
<aside><h2>Most read</h2><ul><li><a href="/a">Council budget passes</a></li><li><a href="/b">School fair</a></li></ul></aside>
<footer><p>Copyright the newspaper. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>""".encode()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE if self.path == "/news/ferry.html" else b"<html><body>Not found</body></html>"
        self.send_response(200 if self.path == "/news/ferry.html" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_extracts_the_article_from_a_served_page(site: str) -> None:
    url = site + "/news/ferry.html"
    with urllib.request.urlopen(url, timeout=5) as resp:
        page = resp.read()
    result = extract(page, url)
    assert result is not None
    html, text = result
    for p in PARAGRAPHS:
        assert p in text
    for debris in ("Most read", "Council budget", "Privacy", "All rights reserved", "tracker"):
        assert debris not in text
    assert "<script" not in html and "window.tracker" not in html
    assert "Share this" not in text  # our cleanup runs on the extracted text too
    assert f'src="{site}/img/ferry.jpg"' in html  # relative image resolved against the page


def test_nothing_useful_gives_none(site: str) -> None:
    assert extract(b"<html><body><p>Too short.</p></body></html>", site + "/x") is None
    assert extract("", site + "/x") is None
