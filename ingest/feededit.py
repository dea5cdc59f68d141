"""Edits to the feed list, decided without I/O (table-tested in tests/test_feededit.py).

    apply_edit(spec, edit)          `feeds add` on a known feed and `feeds set`: only what
                                    was given changes (a merge, never a reset to defaults)
    describe_changes(old, new)      what an edit changed, in words ("tags: world -> world, uk")
    plan_sync(stored, specs, ...)   what `feeds sync` adds, updates, removes and leaves alone

A feed remembers where it came from (`source`: "config", "cli" or "opml"). The config file
owns the feeds it brought: `feeds sync` removes those once they leave it. Feeds added by hand
or imported are the operator's: only `feeds sync --prune` removes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .models import FeedOptions
from .schedule import format_duration
from .settings import FeedSpec

__all__ = [
    "FeedEdit",
    "StoredFeed",
    "SyncPlan",
    "apply_edit",
    "describe_changes",
    "given_options",
    "plan_sync",
]

Removal = Literal["none", "config", "all"]


@dataclass(frozen=True, slots=True)
class FeedEdit:
    """What an operator asked to change. `options`: FeedOptions field -> new value (None
    puts a per-feed override back to the global setting)."""

    title: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)


def apply_edit(spec: FeedSpec, edit: FeedEdit) -> FeedSpec:
    """`spec` with `edit` applied: tags given are added to the feed's, never replace them."""
    drop = set(edit.remove_tags)
    tags = tuple(t for t in dict.fromkeys((*spec.tags, *edit.add_tags)) if t not in drop)
    options = dataclasses.replace(spec.options, **edit.options)  # type: ignore[arg-type]
    return FeedSpec(url=spec.url, title=edit.title or spec.title, tags=tags, options=options)


def given_options(options: FeedOptions) -> dict[str, object]:
    """The options that differ from the defaults: what a spec read from a URL (its user
    info) or an OPML outline actually gives, as a FeedEdit's `options`."""
    default = FeedOptions()
    return {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(FeedOptions)
        if getattr(options, f.name) != getattr(default, f.name)
    }


# options whose values are never printed (they stay out of repr and logs too)
_SECRET = frozenset({"password", "headers", "cookies", "proxy"})
# user-facing names and what None means, for the options that are not plain flags
_OPTION_NAMES = {
    "interval_s": ("interval", "adaptive"),
    "min_interval_s": ("min_interval", "global"),
    "max_interval_s": ("max_interval", "global"),
}


def _show(name: str, value: object) -> str:
    if name in _SECRET:
        return "set" if value else "none"
    if value is None:
        return _OPTION_NAMES.get(name, (name, "default"))[1]
    if isinstance(value, bool):
        return "on" if value else "off"
    if name.endswith("_s") and isinstance(value, int | float):
        return format_duration(value)
    if isinstance(value, tuple):
        return f"{len(value)} rule{'' if len(value) == 1 else 's'}" if value else "none"
    return str(value)


def describe_changes(old: FeedSpec, new: FeedSpec) -> list[str]:
    """One phrase per field that differs, e.g. ["interval: 2 h -> 10 min"]."""
    out: list[str] = []
    if new.title is not None and new.title != old.title:
        out.append(f"title: {old.title or '(none)'} -> {new.title}")
    if new.tags != old.tags:
        out.append(f"tags: {', '.join(old.tags) or 'none'} -> {', '.join(new.tags) or 'none'}")
    for f in dataclasses.fields(FeedOptions):
        before, after = getattr(old.options, f.name), getattr(new.options, f.name)
        if before != after:
            label = _OPTION_NAMES.get(f.name, (f.name, ""))[0]
            shown = (_show(f.name, before), _show(f.name, after))
            out.append(
                f"{label}: changed"
                if shown == ("set", "set")
                else f"{label}: {shown[0]} -> {shown[1]}"
            )
    return out


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """A feed as `feeds sync` sees it in the store."""

    spec: FeedSpec
    source: str  # config | cli | opml


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a sync does: `remove` goes; `kept` are stored feeds the config does not list
    that stay (hand-added or imported ones, or every one with removal "none")."""

    add: tuple[FeedSpec, ...] = ()
    update: tuple[FeedSpec, ...] = ()
    remove: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()


def _differs(stored: FeedSpec, wanted: FeedSpec) -> bool:
    # a config without a title leaves the one the feed gave itself
    title_changed = wanted.title is not None and wanted.title != stored.title
    return title_changed or stored.tags != wanted.tags or stored.options != wanted.options


def plan_sync(
    stored: Sequence[StoredFeed], specs: Sequence[FeedSpec], *, removal: Removal = "config"
) -> SyncPlan:
    """The config's feeds are added or updated to match it. Stored feeds it does not list
    are removed when they came from the config (removal "config"), whatever their source
    (removal "all", `--prune`), or never (removal "none", as `make run` syncs)."""
    by_url = {s.spec.url: s for s in stored}
    wanted = {s.url for s in specs}
    add = tuple(s for s in specs if s.url not in by_url)
    update = tuple(s for s in specs if s.url in by_url and _differs(by_url[s.url].spec, s))
    remove: list[str] = []
    kept: list[str] = []
    for s in stored:
        if s.spec.url in wanted:
            continue
        goes = removal == "all" or (removal == "config" and s.source == "config")
        (remove if goes else kept).append(s.spec.url)
    return SyncPlan(add=add, update=update, remove=tuple(remove), kept=tuple(kept))
