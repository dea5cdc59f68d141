"""A throwaway PostgreSQL database for the tests: `ingest_test_<pid>` on the server at
127.0.0.1:5432 (user postgres, trust), created once per test session and dropped after.
INGEST_TEST_PG overrides the server URL (its database is the one connected to for CREATE)."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get("INGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
#: what a test store's tables hold, emptied between tests (the schema stays)
TABLES = (
    "feeds", "articles", "article_sources", "stories", "story_links", "story_merges",
    "filtered", "fetches", "tombstones", "story_sig", "story_band", "websub",
)  # fmt: skip


def unreachable() -> str | None:
    """Why the server cannot be used (None: it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {ADMIN_URL} unreachable: {str(exc).strip().splitlines()[0]}"
    return None


def create(name: str) -> str:
    """Create database `name` (dropping a leftover of that name); its URL."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def empty(url: str) -> None:
    """Empty every table of the store at `url` (the schema, once migrated, stays)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('feeds') IS NOT NULL").fetchone()
        if exists and exists[0]:
            conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE".encode())
