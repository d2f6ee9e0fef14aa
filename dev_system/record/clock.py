"""The real clocks, whatever a test does to the ``time`` module.

Tests move time: freezegun replaces ``time.perf_counter``, ``time.monotonic`` and ``time.time``
with its own, and also every module-level name bound to a real one in the modules loaded when it
starts; ``monkeypatch`` stubs one; time-machine changes what ``time.time`` returns. Telemetry
measures real time all the same: the real functions are taken once, at import (from freezegun's
own saved copies when it is already running), and kept in :data:`REAL_CLOCKS`, a tuple, where no
one looks for them. The decorator keeps them in its wrappers' closures; the rest of the recorder
calls :func:`perf_counter`, :func:`monotonic` and :func:`wall_time`.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable

__all__ = ["REAL_CLOCKS", "monotonic", "perf_counter", "wall_time"]

_BUILTIN = types.BuiltinFunctionType


def _real(name: str) -> Callable[[], float]:
    """The real ``time.<name>``: the function itself, unless someone replaced it before this
    module was imported (freezegun keeps the original as ``real_<name>``)."""
    found = getattr(time, name)
    if type(found) is _BUILTIN:
        return found
    freezegun = sys.modules.get("freezegun.api")
    saved = getattr(freezegun, f"real_{name}", None)
    return saved if type(saved) is _BUILTIN else found


#: ``(perf_counter, monotonic, time)``, the real ones. A tuple: freezegun's search for references
#: to the real clocks looks at module attributes, not inside them.
REAL_CLOCKS: tuple[Callable[[], float], Callable[[], float], Callable[[], float]] = (
    _real("perf_counter"), _real("monotonic"), _real("time"))


def perf_counter() -> float:
    """The real ``time.perf_counter()``."""
    return REAL_CLOCKS[0]()


def monotonic() -> float:
    """The real ``time.monotonic()``."""
    return REAL_CLOCKS[1]()


def wall_time() -> float:
    """The real ``time.time()``, also while time-machine travels (it changes the function itself)."""
    machine = sys.modules.get("time_machine")
    hatch = getattr(machine, "escape_hatch", None)
    if hatch is not None:
        try:
            if hatch.is_travelling():
                return float(hatch.time.time())
        except Exception:  # another version's escape hatch: the function as it is
            pass
    return REAL_CLOCKS[2]()
