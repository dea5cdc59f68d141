"""The HTTP settings and per-feed HTTP options of the config file: ${NAME} references to
the environment, proxy / ca_bundle / http2, and every mistake named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.feedconfig import load_feeds
from ingest.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text)
    return path


def test_env_references_in_settings_and_feeds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[settings]\nproxy = "http://${PROXY_HOST}:3128"\n'
        '[[feeds]]\nurl = "https://${FEED_HOST}/rss"\nusername = "${U}"\npassword = "${P}${P}"\n'
        'tags = ["${TAG}"]\n',
    )
    env = {"PROXY_HOST": "proxy.lan", "FEED_HOST": "a.example", "U": "me", "P": "x", "TAG": "t"}
    assert load_settings(path, environ=env).proxy == "http://proxy.lan:3128"
    (spec,) = load_feeds(path, environ=env)
    assert spec.url == "https://a.example/rss" and spec.tags == ("t",)
    assert (spec.options.username, spec.options.password) == ("me", "xx")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[settings]\nproxy = "${NOPE}"\n', "settings.proxy"),
        ('[[feeds]]\nurl = "https://a.example/f"\npassword = "${NOPE}"\n', "feeds[0].password"),
        (
            '[[feeds]]\nurl = "https://a.example/f"\nheaders = {X-Key = "${NOPE}"}\n',
            "feeds[0].headers.X-Key",
        ),
    ],
)
def test_unset_variable_names_file_key_and_variable(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        if text.startswith("[settings]"):
            load_settings(path, environ={})
        else:
            load_feeds(path, environ={})
    assert (info.value.source, info.value.key) == (str(path), key)
    assert "environment variable NOPE is not set" in info.value.reason


def test_http_settings_from_file_and_environment(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(tmp_path, f'[settings]\nca_bundle = "{bundle}"\nhttp2 = true\nproxy = "direct"\n')
    s = load_settings(path, environ={})
    assert (s.ca_bundle, s.http2, s.proxy) == (str(bundle), True, "direct")
    env = {"INGEST_PROXY": "socks5://127.0.0.1:1080", "INGEST_HTTP2": "false"}
    s = load_settings(path, environ=env)
    assert (s.proxy, s.http2) == ("socks5://127.0.0.1:1080", False)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[settings]\nproxy = "ftp://p:21"\n', "proxy", "expected direct or a proxy URL"),
        ('[settings]\nproxy = "http://u:pw@:3128"\n', "proxy", "u:***@"),
        ('[settings]\nca_bundle = "/no/such/ca.pem"\n', "ca_bundle", "no such file"),
        ('[settings]\nhttp2 = "maybe"\n', "http2", "true or false"),
    ],
)
def test_bad_http_settings(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.key == key and reason in info.value.reason
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("feed", "key", "reason"),
    [
        ('url = "https://u:p@a.example/f"\nusername = "v"', "feeds[0].url", "keep one"),
        ('url = "https://a.example/f"\nproxy = "gopher://p"', "feeds[0].proxy", "proxy URL"),
        ('url = "https://a.example/f"\nheaders = ["X: 1"]', "feeds[0].headers", "table"),
        ('url = "https://a.example/f"\nheaders = {X = 1}', "feeds[0].headers", "table"),
        ('url = "https://a.example/f"\ncookies = {"a b" = "1"}', "feeds[0].cookies.a b", "name"),
        ('url = "https://a.example/f"\npassword = 12', "feeds[0].password", "string"),
        ('url = "https://a.example/f"\nuser_agent = " "', "feeds[0].user_agent", "empty"),
    ],
)
def test_bad_feed_http_options(tmp_path: Path, feed: str, key: str, reason: str) -> None:
    path = write(tmp_path, f"[[feeds]]\n{feed}\n")
    with pytest.raises(ConfigError) as info:
        load_feeds(path, environ={})
    assert (info.value.source, info.value.key) == (str(path), key)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("text", "key", "package"),
    [
        ("[settings]\nhttp2 = true\n", "http2", "h2"),
        ('[settings]\nproxy = "socks5://127.0.0.1:1080"\n', "proxy", "socksio"),
    ],
)
def test_optional_packages_missing_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str, package: str
) -> None:
    """h2 and socksio are optional (httpcore imports them in every process once installed):
    a setting that needs one that is not installed says which. (The dev install has both:
    their absence is simulated.)"""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a)
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    assert info.value.key == key and f"needs the {package} package" in info.value.reason
