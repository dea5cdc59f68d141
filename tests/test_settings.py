"""Settings: defaults < file < INGEST_* environment < command line, with errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.feedconfig import load_feeds
from ingest.settings import Settings, env_warnings, load_settings, parse_duration


def write(tmp_path: Path, text: str, name: str = "feeds.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        (" 3 m ", 180.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "5 minutes", -1, True, "1y", None])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config/feeds.toml here: the defaults hold
    assert load_settings(environ={}) == Settings()


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[settings]\ndb = "a.db"\nconcurrency = 7\nread_timeout = "30s"\nmax_body = "2MiB"\n'
        "allow_private_networks = false\n",
    )
    s = load_settings(path, environ={})
    assert (s.db, s.concurrency, s.read_timeout_s, s.max_body_bytes) == (
        Path("a.db"),
        7,
        30.0,
        2 * 1024 * 1024,
    )
    s = load_settings(
        path,
        environ={
            "INGEST_DB": "b.db",
            "INGEST_CONCURRENCY": "3",
            "INGEST_ALLOW_PRIVATE_NETWORKS": "1",
            "INGEST_READ_TIMEOUT": "5s",
            "INGEST_MAX_BODY": "1000",
        },
    )
    assert (s.db, s.concurrency, s.allow_private_networks, s.read_timeout_s, s.max_body_bytes) == (
        Path("b.db"),
        3,
        True,
        5.0,
        1000,
    )
    s = load_settings(path, environ={"INGEST_DB": "b.db"}, overrides={"db": "c.db"})
    assert s.db == Path("c.db")


def test_ingest_config_env_picks_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[settings]\nconcurrency = 4\n")
    assert load_settings(environ={"INGEST_CONFIG": str(path)}).concurrency == 4
    assert load_settings(environ={"INGEST_CONFIG": str(path)}).config == path


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[settings]\nconcurrency = "many"\n', "concurrency", "expected a whole number"),
        ("[settings]\nconcurrency = 0\n", "concurrency", "at least 1"),
        ('[settings]\nread_timeout = "soon"\n', "read_timeout", "duration"),
        ('[settings]\nmax_body = "huge"\n', "max_body", "size"),
        ('[settings]\nlog_format = "xml"\n', "log_format", "one of text, json"),
        (
            '[settings]\nallow_private_networks = "maybe"\n',
            "allow_private_networks",
            "true or false",
        ),
        ("[settings]\ncolour = 1\n", "colour", "unknown setting"),
        ("[setings]\n", "setings", "unknown top-level key"),
        (
            '[settings]\nmin_interval = "2h"\nmax_interval = "1h"\n',
            "min_interval",
            "must not exceed",
        ),
    ],
)
def test_bad_settings_name_file_and_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.source == str(path)
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}: {key}: ")


def test_bad_env_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"INGEST_CONCURRENCY": "lots"})
    assert str(info.value) == "environment: INGEST_CONCURRENCY: expected a whole number, got 'lots'"


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = write(tmp_path, "[settings\n")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_settings(broken, environ={})


def test_feeds_are_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[feeds]]\nurl = "https://a.example/feed"\ntitle = "A"\ntags = ["x", " x ", "y"]\n'
        'interval = "30m"\nkeep = [{field = "title", pattern = "storm"}]\n'
        'block = ["advert", {field = "url", pattern = "/sponsored/", regex = true}]\n'
        '[[feeds]]\nurl = "http://b.example/rss"\nallow_private_network = true\n',
    )
    a, b = load_feeds(path)
    assert (a.url, a.title, a.tags, a.options.interval_s) == (
        "https://a.example/feed",
        "A",
        ("x", "y"),
        1800,
    )
    assert [r.field for r in a.options.block] == ["any", "url"]
    assert a.options.keep[0].pattern == "storm"
    assert b.options.allow_private_network is True


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[[feeds]]\ntitle = "no url"\n', "feeds[0].url", "missing"),
        ('[[feeds]]\nurl = "ftp://x.example/f"\n', "feeds[0].url", "only http and https"),
        (
            '[[feeds]]\nurl = "https://x.example/f"\ninterval = "often"\n',
            "feeds[0].interval",
            "duration",
        ),
        (
            '[[feeds]]\nurl = "https://x.example/f"\ncolour = "red"\n',
            "feeds[0].colour",
            "unknown key",
        ),
        (
            '[[feeds]]\nurl = "https://x.example/f"\ntags = [1]\n',
            "feeds[0].tags",
            "list of strings",
        ),
        (
            '[[feeds]]\nurl = "https://x.example/f"\nblock = [{field = "body", pattern = "x"}]\n',
            "feeds[0].block[0].field",
            "expected one of",
        ),
        (
            '[[feeds]]\nurl = "https://x.example/f"\nkeep = [{pattern = "(", regex = true}]\n',
            "feeds[0].keep[0].pattern",
            "invalid regex",
        ),
        (
            '[[feeds]]\nurl = "https://x.example/f"\n[[feeds]]\nurl = "https://x.example/f"\n',
            "feeds[1].url",
            "duplicate of feeds[0]",
        ),
    ],
)
def test_bad_feeds_name_file_and_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    assert (info.value.source, info.value.key) == (str(path), key)
    assert reason in info.value.reason


def test_shipped_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    specs = load_feeds(root / "config" / "feeds.toml")
    assert len(specs) >= 8
    assert load_settings(root / "config" / "feeds.toml", environ={}).db == Path("data/ingest.db")


def test_unknown_settings_are_named_with_the_closest_public_name(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[settings]\nmax_bdy = '1MB'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    message = str(info.value)
    assert message.startswith(f"{cfg}: max_bdy: unknown setting (did you mean max_body? known: ")
    known = message.split("known: ")[1].rstrip(")").split(", ")
    assert "max_body" in known and "connect_timeout" in known
    assert not any(k.endswith(("_s", "_bytes")) for k in known)  # user-facing names only
    cfg.write_text("[settings]\ncolour = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting \(known: "):
        load_settings(cfg, environ={})


@pytest.mark.parametrize(
    ("environ", "warnings"),
    [
        (
            {"INGEST_CONCURENCY": "4"},
            [
                "environment: INGEST_CONCURENCY is not a setting (did "
                "you mean INGEST_CONCURRENCY?); ignored"
            ],
        ),
        ({"INGEST_MAX_BODY": "1MB", "INGEST_CONFIG": "x", "INGEST_READ_TIMEOUT_S": "3"}, []),
        (
            {"INGEST_ZZZ": "1", "PATH": "/bin"},
            ["environment: INGEST_ZZZ is not a setting; ignored"],
        ),
    ],
)
def test_unknown_ingest_variables_are_warned_about(
    environ: dict[str, str], warnings: list[str]
) -> None:
    assert env_warnings(environ) == warnings


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"[settings]\nuser_agent = 'caf\xe9'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value) == (
        f"{cfg}: not UTF-8 text (byte 0xe9 at offset 28); TOML files are UTF-8"
    )


@pytest.mark.parametrize("value", ["99999999999d", 10**12, "5300w"])
def test_durations_beyond_a_century_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="at most 100 years"):
        parse_duration(value)
