"""`ingest serve`: the read API, the merged story feeds and the web page.

api.py      /api/articles, /api/stories, /api/feeds, /healthz (JSON, in schemas.py)
merged.py   /stories.atom and /stories.json: one entry per story, all sources listed
page.py     / and /story/{id}: the server-rendered page (templates/)
auth.py     the optional bearer token        params.py  shared query parameters
reads.py    what the routes read from the store, through its public read methods
stores.py   one store per server thread      app.py     the FastAPI application
(with `websub_callback_url` set, the app also runs ingest.websub: its task and /websub/ routes)
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from ingest.errors import IngestError

from .app import create_app, store_opener

__all__ = ["create_app", "listen", "run_server", "store_opener"]


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound before anything is served: a port in use is
    a one-line error rather than uvicorn's log lines after start-up."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    except OSError as exc:
        raise IngestError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_server(app: FastAPI, sock: socket.socket, log_level: str = "INFO") -> None:
    """Serve `app` on `sock` under uvicorn until SIGINT / SIGTERM."""
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level.lower()))
    server.run(sockets=[sock])
