"""Query parameters shared by the routes. A bad value is a 422 whose `loc` names it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator, WithJsonSchema

from ingest.timeutil import parse_since

from .schemas import Problem

__all__ = ["MAX_ID", "NOT_FOUND", "Id", "MinSources", "Since", "SinceId", "Tag"]

MAX_ID = 2**63 - 1  # SQLite's largest integer
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


# what `since` takes, exactly as the OpenAPI document says: an RFC 3339 date or date-time,
# or an age
AGE = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d|w)?$"
_AGE = re.compile(AGE)
_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?"
)


def _since(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not (_AGE.match(value) or _STAMP.fullmatch(value)):
        raise ValueError(
            f"{value!r} is neither a date (2026-11-24), a timestamp (2026-11-24T08:00:00Z) "
            "nor an age (90m, 24h, 7d)"
        )
    return parse_since(value)


Since = Annotated[
    datetime | None,
    BeforeValidator(_since),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "string", "pattern": AGE},
            ],
            "examples": ["24h", "7d", "2026-11-24", "2026-11-24T08:00:00Z"],
        }
    ),
    Query(description="A date, a timestamp (RFC 3339) or an age (90m, 24h, 7d)."),
]
SinceId = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Only articles with a greater id (the cursor).")
]
Tag = Annotated[
    str | None,
    Query(min_length=1, description="The article's own tag or a carrying feed's (any case)."),
]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
MinSources = Annotated[
    int, Query(ge=1, le=10_000, description="Only stories carried by at least this many items.")
]
