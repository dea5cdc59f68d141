"""The PostgreSQL backend (placeholder until it lands)."""

from __future__ import annotations

from ingest.errors import StoreError
from storage.interface import Store

__all__ = ["open_postgres"]


def open_postgres(url: str) -> Store:
    raise StoreError(f"{url}: the PostgreSQL backend is not available in this build")
