"""What both parse paths share, so that they hand on the same values: the sentinel document
base and its removal, skipHours / skipDays read from the raw bytes, dates with non-English
month / weekday names, and the value readers (stripped strings, integers, UTC datetimes)."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from ..models import Content

# feedparser resolves links, permalink guids and xml:base against the document base; both
# paths give it (or mimic) this sentinel when the document has an xml:base and map it back
# out with `_u`, so relative references stay relative (normalize resolves them)
_SENTINEL_ROOT = "http://document-base.invalid/"
_SENTINEL_DIR = _SENTINEL_ROOT + "d/"
_SKIP_HOURS = re.compile(rb"<skipHours\b[^>]*>(.*?)</skipHours>", re.S | re.I)
_SKIP_DAYS = re.compile(rb"<skipDays\b[^>]*>(.*?)</skipDays>", re.S | re.I)
_HOUR = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour>", re.I)
_DAY = re.compile(rb"<day\b[^>]*>\s*([A-Za-z]+)\s*</day>", re.I)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _skips(body: bytes) -> tuple[tuple[int, ...], tuple[str, ...]]:
    hours: list[int] = []
    days: list[str] = []
    m = _SKIP_HOURS.search(body)
    if m:
        hours = sorted({int(h) for h in _HOUR.findall(m.group(1)) if 0 <= int(h) <= 24})
    m = _SKIP_DAYS.search(body)
    if m:
        found = {d.decode("ascii").lower() for d in _DAY.findall(m.group(1))}
        days = [d.capitalize() for d in _DAYS if d in found]
    return tuple(h % 24 for h in hours), tuple(days)


def _s(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _u(value: object) -> str | None:
    """A URL-ish value with the sentinel document base taken back out (see _SENTINEL_ROOT)."""
    v = _s(value)
    if v is None or not v.startswith(_SENTINEL_ROOT):
        return v
    if v.startswith(_SENTINEL_DIR):
        return v[len(_SENTINEL_DIR) :] or None
    return "/" + v[len(_SENTINEL_ROOT) :]


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().replace(",", "")
        if v.isdigit():
            return int(v)
    return None


# Month names feeds write in their own language (RFC 822 wants English): pt, es, fr, de,
# it, nl. Full names and the usual abbreviations -> the English abbreviation.
_MONTHS: dict[str, str] = {}
for _en, _names in {
    "Jan": "janeiro jan enero ene janvier janv januar jän gennaio gen januari",
    "Feb": "fevereiro fev febrero feb février févr fevr februar febbraio februari",
    "Mar": "março marco mar marzo mars märz mär mrz maart mrt",
    "Apr": "abril abr avril avr april aprile apr",
    "May": "maio mai mayo may mai maggio mag mei",
    "Jun": "junho jun junio juin juni giugno giu",
    "Jul": "julho jul julio juillet juil juli luglio lug",
    "Aug": "agosto ago août aout august aug augustus",
    "Sep": "setembro set septiembre sep sept septembre september settembre",
    "Oct": "outubro out octubre oct octobre oktober okt ottobre ott",
    "Nov": "novembro nov noviembre novembre november",
    "Dec": "dezembro dez diciembre dic décembre déc dec dezember dicembre december",
}.items():
    for _name in _names.split():
        _MONTHS[_name] = _en
_WORD = re.compile(r"[^\W\d_]+\.?")
_WEEKDAY_PREFIX = re.compile(r"^\s*[^\W\d_]+\.?,?\s+(?=\d)")


def _localized_date(raw: str | None) -> datetime | None:
    """A date feedparser could not read because its month / weekday names are not English
    ("Seg, 24 Set 2018 19:42:40 -0300"): names translated, then feedparser's reader."""
    if not raw or not any(c.isalpha() for c in raw):
        return None
    text = _WEEKDAY_PREFIX.sub("", raw)
    changed = text != raw

    def _month(m: re.Match[str]) -> str:
        nonlocal changed
        word = m.group(0).rstrip(".").lower()
        en = _MONTHS.get(word)
        if en is None:
            return m.group(0)
        changed = True
        return en

    text = _WORD.sub(_month, text)
    if not changed:
        return None
    from feedparser.datetimes import _parse_date

    try:
        return _dt(_parse_date(text))
    except Exception:  # feedparser's date readers raise assorted errors on junk
        return None


def _dt(parsed: object) -> datetime | None:
    if not isinstance(parsed, time.struct_time | tuple):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _entry_base(
    contents: Sequence[Content], summary: Content | None, title_base: str | None
) -> str | None:
    """An entry's base URI: its first content's or its summary's, else its title's."""
    for c in (*contents, summary):
        if c is not None and c.base:
            return c.base
    return title_base


def _entry_language(
    contents: Sequence[Content],
    summary: Content | None,
    title_language: str | None,
    feed_language: str | None,
) -> str | None:
    """An entry's own language (its first content's, summary's or title's), None when it
    is the feed's."""
    language = (
        (contents[0].language if contents else None)
        or (summary.language if summary else None)
        or title_language
    )
    return None if language == feed_language else language
