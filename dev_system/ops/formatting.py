"""How figures are written for people, the same in every report and alert message."""

from __future__ import annotations

from typing import Callable


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


def format_int(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def plural(count: int, word: str) -> str:
    """``1 event``, ``1,234 events``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def format_crossing(fmt: Callable[..., str], value: float, threshold: float, digits: int) -> tuple[str, str]:
    """``(value, threshold)`` written by ``fmt`` with enough digits that they never read as equal.

    89.96% against a 90% minimum shows as ``89.96%`` and ``90.00%``, not ``90.0%`` and ``90.0%``.
    """
    for extra in range(0, 10):
        shown, limit = fmt(value, digits + extra), fmt(threshold, digits + extra)
        if shown != limit:
            return shown, limit
    return repr(value), repr(threshold)
