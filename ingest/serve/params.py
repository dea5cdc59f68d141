"""Query parameters shared by the routes. A bad value is a 422 whose `loc` names it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator, WithJsonSchema

from ingest.timeutil import parse_since

__all__ = ["MAX_ID", "MinSources", "Since", "SinceId", "Tag"]

MAX_ID = 2**63 - 1  # SQLite's largest integer


def _since(value: object) -> object:
    return parse_since(value) if isinstance(value, str) else value


Since = Annotated[
    datetime | None,
    BeforeValidator(_since),
    WithJsonSchema({"type": "string", "examples": ["24h", "7d", "2026-11-24"]}),
    Query(description="A date (2026-11-24), a timestamp (ISO 8601) or an age (90m, 24h, 7d)."),
]
SinceId = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Only articles with a greater id (the cursor).")
]
Tag = Annotated[
    str | None,
    Query(min_length=1, description="The article's own tag or a carrying feed's (any case)."),
]
MinSources = Annotated[
    int, Query(ge=1, le=10_000, description="Only stories carried by at least this many items.")
]
