"""Undo feedparser's cut of e-mail addresses with long top-level domains (pure).

    feedparser_author(name, email, raw=None, atom=False) -> str | None
        one author as the parse stage hands it on ("Name <email>", "Name" or "email")

feedparser splits an author string ("jane@x.media (Jane Doe)", "Jane Doe <jane@x.online>")
with a pattern that allows only 2-4 letters of top-level domain, so ".media" / ".online"
(real domains) are cut: e-mail "jane@x.medi", name "a (Jane Doe" (issue #18). Both parse
paths (ingest.parse's feedparser path on feedparser's result, its lxml fast path
reproducing feedparser's split) hand the pair to `feedparser_author`, so they stay identical.

- With `raw`, the string the feed wrote (feedparser keeps it for the last author only), it
  is split again with a pattern that takes the whole domain.
- Without it, the cut is seen in the name: the rest of the domain is left where the
  address was — "a (Jane Doe" (address first), "Jane Doe <ne>" (angle brackets), "Jane
  Doe) a" (name in parentheses first), or the bare rest "ne" (an address alone). The rest
  must be written in the case of the cut label (domains in feeds are lower case; a
  capitalised one-word name beside an address, "Reuters", is a name).
"""

from __future__ import annotations

import re

__all__ = ["feedparser_author"]

# feedparser's own pattern (mixin._sync_author_detail), with its 2-4 letter domain
_FEEDPARSER_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
# the same address with a top-level domain of any length (IANA has up to 24 letters)
_EMAIL = re.compile(r"[a-zA-Z0-9_.+\-]+@(?:[a-zA-Z0-9\-]+\.)+[a-zA-Z][a-zA-Z0-9\-]{1,62}")
# a cut shows as a 4-letter last label (the pattern's most) ...
_CUT_TLD = re.compile(r"\.[a-zA-Z]{4}$")
# ... and the rest of the label left in the name, in one of these shapes
_REST = r"[a-zA-Z0-9\-]+"
_REST_FIRST = re.compile(rf"^({_REST})\s*\((.*?)\)?$")  # "a (Jane Doe"
_REST_ANGLED = re.compile(rf"^(.*?)\s*<({_REST})>$")  # "Jane Doe <ne>"
_REST_LAST = re.compile(rf"^\(?(.*?)\)\s*({_REST})$")  # "Jane Doe) a"
_REST_ALONE = re.compile(r"^[a-z0-9\-]+$")  # "ne"


def feedparser_author(
    name: str | None, email: str | None, raw: str | None = None, *, atom: bool = False
) -> str | None:
    """One author from feedparser's (name, email) split of it, the cut e-mail mended (see
    the module docstring); `raw` is the string the feed wrote when it is known. In an Atom
    document (`atom`) authors are mostly person constructs, never cut, whose <name> can be
    one lower-case word: the bare rest is not looked for there."""
    name = _strip(name)
    email = _strip(email)
    if email and _CUT_TLD.search(email):
        if raw is not None and _split_like_feedparser(raw) == (name, email):
            name, email = _split(raw)
        else:
            name, email = _mend(name, email, alone=not atom)
    if name and email and email not in name:
        return f"{name} <{email}>"
    return name or email


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _mend(name: str | None, email: str, *, alone: bool) -> tuple[str | None, str]:
    if not name:
        return None, email
    label = email[-4:]
    m = _REST_FIRST.match(name)
    if m and "(" in name and _continues(label, m.group(1)):
        return _strip(m.group(2)), email + m.group(1)
    m = _REST_ANGLED.match(name)
    if m and _continues(label, m.group(2)):
        return _strip(m.group(1)), email + m.group(2)
    m = _REST_LAST.match(name)
    if m and _continues(label, m.group(2)):
        return _strip(m.group(1)), email + m.group(2)
    if alone and _continues(label, name):
        return None, email + name
    return name, email


def _continues(label: str, rest: str) -> bool:
    """`rest` can be the end of a domain label that begins with `label`: written in the
    same case (a capitalised word beside the address is a name, "Reuters")."""
    if not _REST_ALONE.fullmatch(rest.lower()) or len(label) + len(rest) > 63:
        return False
    letters = [c for c in rest if c.isalpha()]
    if label.islower():
        return all(c.islower() for c in letters)
    return label.isupper() and all(c.isupper() for c in letters)


def _split_like_feedparser(raw: str) -> tuple[str | None, str | None]:
    """feedparser's _sync_author_detail for an author string: (name, email)."""
    m = _FEEDPARSER_EMAIL.search(raw)
    if not m:
        return _strip(raw), None
    return _strip(_leftover(raw, m.group(0))), m.group(0)


def _split(raw: str) -> tuple[str | None, str | None]:
    """The same split, the whole address taken."""
    m = _EMAIL.search(raw)
    if not m:
        return _strip(raw), None
    return _strip(_leftover(raw, m.group(0))), m.group(0)


def _leftover(raw: str, email: str) -> str:
    """The author string with its address taken out, as feedparser tidies it."""
    rest = raw.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "")
    rest = rest.strip()
    if rest.startswith("("):
        rest = rest[1:]
    if rest.endswith(")"):
        rest = rest[:-1]
    return rest.strip()
