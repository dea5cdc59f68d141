"""The ASGI application of `ingest serve` (FastAPI), and running it under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ingest import __version__
from ingest.errors import IngestError, StoreError
from storage import Store, open_store

if TYPE_CHECKING:
    from ingest.websub import WebSubConfig

from . import api, merged, page
from .auth import BearerAuth, document_auth
from .stores import StorePool

__all__ = ["create_app", "store_opener"]

log = logging.getLogger("ingest.serve")

DESCRIPTION = """Read-only access to the store of `ingest`: article records (the JSONL
export's), stories with all their sources, feed health, and merged story feeds."""


def store_opener(db: Path | str) -> Callable[[], Store]:
    """Opens the existing store at `db`; a missing file is an error (a mistyped path should
    not serve a new empty database). A store URL is left to `open_store`."""
    if "://" not in str(db) and str(db) != ":memory:" and not Path(db).exists():
        raise StoreError(f"{db}: no such database (run `ingest run` first, or pass --db)")

    def opener() -> Store:
        return open_store(db)

    return opener


async def _unavailable(request: Request, exc: Exception) -> Response:
    message = f"store unavailable: {exc}"
    log.error("%s %s: %s", request.method, request.url.path, message)
    return JSONResponse({"detail": message}, status_code=503)


def create_app(
    opener: Callable[[], Store],
    *,
    api_token: str | None = None,
    websub: WebSubConfig | None = None,
) -> FastAPI:
    """The application; with `websub`, also the WebSub subscriber (its background task and
    callback routes, see ingest.websub)."""
    stores = StorePool(opener)
    stores.get()  # now: a store that cannot be opened fails the start, not each request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if websub is not None:
            from ingest.websub import Subscriber

            task = asyncio.create_task(Subscriber(opener, websub).run())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stores.close()

    app = FastAPI(title="ingest", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.stores = stores
    app.include_router(api.router)
    app.include_router(merged.router)
    app.include_router(page.router)
    app.state.websub = websub
    if websub is not None:
        from ingest.websub._routes import router as websub_routes

        app.include_router(websub_routes)
    app.add_exception_handler(IngestError, _unavailable)
    # the SQLite store lets its driver's errors through on reads (a file removed or broken
    # under a running server): a one-line 503, not a traceback
    app.add_exception_handler(sqlite3.Error, _unavailable)
    if api_token:
        app.add_middleware(BearerAuth, token=api_token)
        document_auth(app)
    return app
