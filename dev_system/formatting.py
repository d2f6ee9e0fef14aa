"""How figures are written for people, the same in every report and alert message.

A shared leaf (it imports no stage): the alert and regression messages that analysis attaches to
its results and every report that render writes use the same functions, so a figure reads the
same wherever it is shown.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable


def format_percent(value: float, digits: int = 1) -> str:
    """``92.5%``."""
    return f"{value:.{digits}f}%"


def format_ms(value: float, digits: int = 0) -> str:
    """``1,245ms`` (thousands separated)."""
    return f"{value:,.{digits}f}ms"


def format_usd(value: float, digits: int = 2) -> str:
    """``$3.47``; an amount below a cent keeps two significant digits (``$0.0012``), so it never reads as zero."""
    if digits == 2 and value != 0 and abs(value) < 0.01:
        text = f"{abs(value):.12f}".split(".")[1]
        digits = len(text) - len(text.lstrip("0")) + 2
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def format_score(value: float, digits: int = 2) -> str:
    """``0.92``: a quality score, two decimals unless more are asked for."""
    return f"{value:.{digits}f}"


def format_int(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def plural(count: int, word: str) -> str:
    """``1 event``, ``1,234 events``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def exact_digits(value: float, digits: int, most: int = 12) -> int:
    """The fewest decimals, at least ``digits``, that write ``value`` as it was given (``0.015``
    needs 3; ``10.0`` needs ``digits``); ``most`` when none up to it does."""
    if not math.isfinite(value):
        return digits
    for count in range(digits, most + 1):
        if float(f"{value:.{count}f}") == value:
            return count
    return most


def format_crossing(fmt: Callable[..., str], value: float, threshold: float, digits: int) -> tuple[str, str]:
    """``(value, threshold)`` written by ``fmt`` with enough digits that the threshold reads as
    the value it is and the two never read as equal (both with the same number of decimals).

    89.96% against a 90% minimum shows as ``89.96%`` and ``90.00%``, not ``90.0%`` and ``90.0%``;
    a budget of $0.015 as ``$0.015``, not ``$0.01``.
    """
    digits = exact_digits(threshold, digits)
    for extra in range(10):
        shown, limit = fmt(value, digits + extra), fmt(threshold, digits + extra)
        if shown != limit:
            return shown, limit
    return repr(value), repr(threshold)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: C0 and C1 control characters, DEL, the bidirectional overrides and isolates, and lone
#: surrogates (a command-line byte that is not UTF-8): each becomes a visible escape such as ``\x1b``.
_UNSAFE_RANGES = ((0x00, 0x20), (0x7F, 0xA0), (0x202A, 0x202F), (0x2066, 0x206A), (0xD800, 0xE000))
_HAS_UNSAFE = re.compile("[" + "".join(f"\\u{a:04x}-\\u{b - 1:04x}" for a, b in _UNSAFE_RANGES) + "]").search


@functools.cache
def _table(keep_newlines: bool) -> dict[int, str]:
    """The translation table of :func:`printable` (made when first needed: 2,000 entries)."""
    table = {code: _escape(code) for a, b in _UNSAFE_RANGES for code in range(a, b)}
    table.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
    if keep_newlines:
        del table[0x0A]
    return table


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` safe to show on a terminal: control characters (ESC, BEL, CR, ...), bidi overrides
    and lone surrogates written as visible escapes (``\\x1b``), so a stored name cannot move the
    cursor, retitle the window or split a line. ``keep_newlines`` keeps ``\\n`` (for whole reports).

    For human-readable output only: JSON, CSV and JSON lines keep values exact.
    """
    text = str(text)
    if not _HAS_UNSAFE(text):  # nearly always: no table lookup for every character
        return text
    return text.translate(_table(keep_newlines))
