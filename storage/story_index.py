"""The SQLite story index under its short name (bench/ and tests reach it as
`storage.story_index`); it lives in `storage.sqlite.story_index`."""

from storage.sqlite.story_index import (
    MERGE_ROWS,
    POSTINGS_PER_KEY,
    IndexRow,
    add,
    add_many,
    candidates,
    ensure_schema,
    merge,
    remove,
)

__all__ = [
    "MERGE_ROWS",
    "POSTINGS_PER_KEY",
    "IndexRow",
    "add",
    "add_many",
    "candidates",
    "ensure_schema",
    "merge",
    "remove",
]
