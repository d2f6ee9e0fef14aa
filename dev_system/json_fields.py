"""Reading a JSON object stored as text (an event's or a run's metadata) from a database that
may be hostile: bounded in size and nesting depth, and never an exception.

A database is input like any other: a hand-edited or crafted row may hold a value of hundreds of
megabytes or an array nested 100,000 deep (``json.loads`` would raise ``RecursionError``, and
every later walk over the value would too). :func:`load_object` reads at most
:data:`MAX_CHARS` characters nested at most :data:`MAX_DEPTH` deep; anything beyond gives a one-key
object that says why it was not read (:data:`NOT_READ`), so a report shows the row and says so.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: The key of the object that stands for a value not read, and says why.
NOT_READ = "metadata_not_read"
#: The longest text read as JSON (the recorder stores at most about 2.2 million characters).
MAX_CHARS = 4_000_000
#: The deepest nesting read (what the recorder stores is a few levels deep).
MAX_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def not_read(why: str) -> dict[str, str]:
    """The object that stands for a value not read because of ``why``."""
    return {NOT_READ: why}


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays and objects more than ``limit`` deep (brackets in
    strings do not count). Costs two ``str.count`` calls for text with few brackets."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def load_object(text: Any, *, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``text``: ``{}`` when there is none, it is not valid JSON or not an
    object; :func:`not_read` when it is longer than ``max_chars`` or nested deeper than
    ``max_depth``. Never raises."""
    if not text:
        return {}
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text[:max_chars + 1]).decode("utf-8", "replace")
    if not isinstance(text, str):
        return {}
    if len(text) > max_chars:
        return not_read(f"{len(text):,} characters, more than the {max_chars:,} read")
    try:
        if too_deep(text, max_depth):
            return not_read(f"nested more than {max_depth} deep")
        value = json.loads(text)
    except (ValueError, RecursionError, MemoryError):
        return {}
    return value if isinstance(value, dict) else {}
