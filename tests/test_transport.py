"""The transport's translation of httpcore's errors into httpx's (pure)."""

from __future__ import annotations

import httpcore
import httpx
import pytest

from ingest.transport import NO_ANSWER, _mapped


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


@pytest.mark.parametrize(
    "theirs",
    sorted(
        (
            c
            for c in _all_subclasses(Exception)
            if c.__module__.startswith("httpcore")
            and c.__name__ != "ConnectionNotAvailable"  # the pool's own, it never leaves it
        ),
        key=lambda c: c.__name__,
    ),
    ids=lambda c: c.__name__,
)
def test_every_httpcore_error_becomes_the_httpx_error_of_its_name(theirs: type) -> None:
    ours = _mapped(theirs("boom"))
    assert isinstance(ours, httpx.HTTPError), theirs
    assert type(ours).__name__ == theirs.__name__ and str(ours) == "boom"


def test_no_answer_is_said_plainly() -> None:
    exc = httpcore.RemoteProtocolError("Server disconnected without sending a response.")
    mapped = _mapped(exc)
    assert isinstance(mapped, httpx.RemoteProtocolError) and str(mapped) == NO_ANSWER
    other = ValueError("not httpcore's")
    assert _mapped(other) is other
