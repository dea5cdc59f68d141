"""open_store picks the backend from its target: a file path or a store URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.errors import StoreError
from ingest.settings import load_settings
from storage import open_store
from storage.sqlite import SQLiteStore

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_a_url_setting_keeps_its_slashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"INGEST_DB": PG_URL})
    assert settings.db == PG_URL
    settings = load_settings(environ={"INGEST_DB": "~/x.db"})
    assert settings.db == Path("~/x.db").expanduser()
    (tmp_path / "c.toml").write_text(f'[settings]\ndb = "{PG_URL}"\n')
    assert load_settings(tmp_path / "c.toml", environ={}).db == PG_URL


def test_a_path_opens_sqlite(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a" / "s.db")
    try:
        assert isinstance(store, SQLiteStore) and (tmp_path / "a" / "s.db").exists()
    finally:
        store.close()


def test_an_unknown_scheme_is_refused_without_creating_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://db.example/news")
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)
    out = CliRunner().invoke(cli, ["--db", "mysql://u:secret@db.example/news", "stats"])
    assert out.exit_code == 1
    assert out.output.count("\n") == 1 and "unsupported store URL scheme" in out.output
    assert "secret" not in out.output  # a password in the URL is not echoed
    assert list(tmp_path.iterdir()) == []  # no file named after the URL


def test_a_postgresql_url_opens_postgresql_and_creates_no_file(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.postgres import PostgresStore

    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)
    store = open_store(pg_url)
    try:
        assert isinstance(store, PostgresStore)
    finally:
        store.close()
    runner = CliRunner()
    out = runner.invoke(cli, ["feeds", "add", "https://a.example/feed"], env={"INGEST_DB": pg_url})
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["--db", pg_url, "stats", "--json"])
    assert out.exit_code == 0 and '"feeds": 1' in out.output
    assert list(tmp_path.iterdir()) == []  # nothing named postgresql:/...
