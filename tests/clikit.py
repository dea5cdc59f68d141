"""The `ingest` command run in-process on a store of the test's own (click's CliRunner)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ingest.cli import cli

Invoke = Callable[..., Result]


def invoker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    db_name: str = "t.db",
    base_env: Mapping[str, str] | None = None,
) -> Invoke:
    """`invoke(*args, env=None, input=None)`: `ingest --db tmp_path/db_name ARGS`, run in
    `tmp_path` (no config/feeds.toml: defaults only) with no INGEST_* variable of the
    caller's environment; `env` is added to `base_env`."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)
    runner = CliRunner()

    def invoke(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> Result:
        return runner.invoke(
            cli,
            ["--db", str(tmp_path / db_name), *args],
            env={**(base_env or {}), **(env or {})},
            input=input,
            catch_exceptions=False,
        )

    return invoke
