"""Calls answered from a recording (vcrpy cassettes, as pytest-recording uses) are marked ``replayed``.

A suite that replays recorded HTTP interactions makes no request to the provider: the SDK parses
a response read from a cassette, so the call's tokens and notional cost are real figures but
nothing was spent. The call is told apart where the recording is played: vcrpy's
``Cassette.play_response``, which every one of its HTTP stubs (``httpx``, ``httpx2`` — what
openai 3.x and anthropic 2.x use —, ``requests``, ``urllib3``, ``aiohttp``, ...) calls to answer a
request from the cassette, and only then (a request recorded for the first time goes to the
network and is not replayed). :func:`watch` wraps that method once vcrpy is imported; the wrapper
adds ``replayed: true`` to the metadata of the call running in the caller's context (the SDK
call's span, or the decorated function), the way :func:`~dev_system.record.context.annotate` does.

The figures keep the replayed calls' tokens and cost (budgets and regressions work offline) and
show their cost apart from real spending.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

from dev_system.record.context import get_frame

#: The metadata key of a replayed call.
REPLAYED = "replayed"

_lock = threading.Lock()
_watched = False


def watch() -> bool:
    """Wrap vcrpy's ``Cassette.play_response`` if vcrpy is imported (once); True when wrapped.

    Cheap enough to call before every SDK call: a flag and a ``sys.modules`` lookup."""
    global _watched
    if _watched:
        return True
    module = sys.modules.get("vcr.cassette")
    if module is None:
        return False
    with _lock:
        if _watched:
            return True
        try:
            cassette = module.Cassette
            original = cassette.__dict__["play_response"]
        except (AttributeError, KeyError):
            return False
        if not getattr(original, "__dev_system_replay__", False):
            cassette.play_response = _marking(original)
        _watched = True
    return True


def _marking(original: Any) -> Any:
    @functools.wraps(original)
    def play_response(self: Any, request: Any) -> Any:
        response = original(self, request)  # raises when the cassette has no answer: not replayed
        mark_replayed()
        return response

    play_response.__dev_system_replay__ = True  # type: ignore[attr-defined]
    return play_response


def mark_replayed() -> bool:
    """Mark the call running in this context as answered from a recording; False outside any."""
    frame = get_frame()
    if frame is None or not frame[2]:
        return False
    if frame[3] is None:
        frame[3] = {}
    frame[3][REPLAYED] = True
    return True
