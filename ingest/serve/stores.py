"""One store per worker thread of the server.

A store's connection runs one statement at a time; requests run in a pool of threads, so
each thread reads through its own (SQLite in WAL mode: readers never block `ingest run`'s
writer, nor it them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from starlette.requests import Request

from storage import Store

__all__ = ["StorePool", "store_for"]


class StorePool:
    def __init__(self, opener: Callable[[], Store]) -> None:
        self._open = opener
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Store] = []

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._open()
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            store.close()
        self._local = threading.local()


def store_for(request: Request) -> Store:
    """The calling thread's store: call it inside the (sync) route, not as a dependency,
    which FastAPI may run on another thread than the route."""
    pool: StorePool = request.app.state.stores
    return pool.get()
