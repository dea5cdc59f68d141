"""A module-level parameter set for one test where the code under test looks it up."""

from __future__ import annotations

import dis
from collections.abc import Callable
from types import CodeType
from typing import Any

import pytest


def set_read(
    monkeypatch: pytest.MonkeyPatch, name: str, value: object, *readers: Callable[..., Any]
) -> None:
    """Set the global `name` to `value`, for the test, in the module of each of `readers`:
    the namespace each of those functions looks `name` up in, whichever module holds it.

    Patching the module a parameter is defined in reaches only the code of that module
    (another module's `from ... import` holds its own binding), so the patch goes where the
    reading function looks.  Fails when a reader does not load `name` as a global: the test
    would otherwise run on the real value, and pass or fail for the wrong reason."""
    assert readers, "name the functions that read the parameter"
    for f in readers:
        if not _loads(f.__code__, name):
            raise AssertionError(f"{f.__module__}.{f.__qualname__} does not read {name}")
        if name not in f.__globals__:
            raise AssertionError(f"{name} is not a global of {f.__module__}")
        monkeypatch.setitem(f.__globals__, name, value)


def _loads(code: CodeType, name: str) -> bool:
    """Whether `code` (or a comprehension or function nested in it) loads global `name`."""
    if any(i.opname == "LOAD_GLOBAL" and i.argval == name for i in dis.get_instructions(code)):
        return True
    return any(isinstance(c, CodeType) and _loads(c, name) for c in code.co_consts)
