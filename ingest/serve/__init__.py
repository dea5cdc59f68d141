"""`ingest serve`: the read API, the merged story feeds and the web page.

api.py      /api/articles, /api/stories, /api/feeds, /healthz (JSON, in schemas.py)
merged.py   /stories.atom and /stories.json: one entry per story, all sources listed
page.py     / and /story/{id}: the server-rendered page (templates/)
auth.py     the optional bearer token        params.py  shared query parameters
reads.py    what the routes read from the store, through its public read methods
stores.py   one store per server thread      app.py     the FastAPI application
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from .app import create_app, store_opener

__all__ = ["create_app", "run_server", "store_opener"]


def run_server(app: FastAPI, host: str, port: int, log_level: str = "INFO") -> None:
    """Serve `app` under uvicorn until SIGINT / SIGTERM."""
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())
