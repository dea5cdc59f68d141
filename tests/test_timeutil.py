"""Stored timestamps: one textual form, read back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.timeutil import from_iso, parse_since, to_iso


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T22:45:33Z", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T22:45:33+00:00", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T23:45:33+01:00", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T22:45:33", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),  # naive: UTC
        ("2026-11-24T22:45:33.250Z", datetime(2026, 11, 24, 22, 45, 33, 250000, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_from_iso_reads_every_form_as_utc(text: str | None, expected: datetime | None) -> None:
    got = from_iso(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == timedelta(0)


def test_to_iso_round_trips() -> None:
    dt = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    text = to_iso(dt)
    assert text == "2026-03-28T23:30:00Z"
    assert from_iso(text) == dt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 11, 24, 10, 30, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:00:00+02:00", datetime(2026, 11, 20, 6, 0, tzinfo=UTC)),
        ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("2026-11-20t08:00:00z", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("99999999999d", datetime.min.replace(tzinfo=UTC)),
        ("9" * 400 + "w", datetime.min.replace(tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-05:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize("text", ["last tuesday", "", "-5d", "2026-02-30"])
def test_parse_since_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="neither a date"):
        parse_since(text, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
