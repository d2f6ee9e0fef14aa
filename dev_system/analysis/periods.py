"""Time windows for reports: parsing ``7d``/``24h``/``today``/``all`` and local calendar days.

One grammar: a *duration* is :data:`DURATION_HELP`; a *period* is a duration or ``today`` or
``all`` (:data:`PERIOD_HELP`). Every message that refuses a value states the grammar of what was
asked for, never values that the same option would refuse.

A :class:`Window` is half-open: an event is inside when ``start <= timestamp < end``; a bound that
is ``None`` is open. The windows of ``dev-system metrics --period`` are rolling windows ending now
with no upper bound (an event stamped a little after "now" by another machine's clock still
counts). Calendar days are local days, as ``datetime.fromtimestamp`` sees them.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

from dev_system.structs import struct

_UNITS = {"m": (60, "minute"), "h": (3600, "hour"), "d": (86400, "day"), "w": (7 * 86400, "week")}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)

#: The longest duration: a cut-off or a window start that a calendar can still show (1,000 years).
MAX_DURATION_DAYS = 365_000
#: The grammar of a duration (``prune --older-than``), stated once; a period adds two words to it.
DURATION_HELP = "a whole number from 1 followed by m, h, d or w (30m, 24h, 7d, 2w; at most 365000d)"
#: The grammar of a period (``--period``): a duration (a rolling window ending now), or a word.
PERIOD_HELP = f"{DURATION_HELP}, 'today' (since local midnight) or 'all'"


class PeriodError(ValueError):
    """A period or duration that cannot be parsed; the message is one line for a person."""


@struct
class Window:
    """The events with ``start <= timestamp < end`` (``None``: no bound), and how to name them."""

    start: float | None = None
    end: float | None = None
    label: str = "All time"
    spec: str = "all"

    def contains(self, timestamp: float) -> bool:
        """True when ``timestamp`` falls inside the window."""
        return (self.start is None or timestamp >= self.start) and (self.end is None or timestamp < self.end)


def parse_duration(text: str, what: str = "duration") -> tuple[float, str]:
    """``'7d'`` -> ``(604800.0, '7 days')``: seconds and a label, as :data:`DURATION_HELP` says;
    raises :class:`PeriodError` (``what`` names the value in its message: duration, period)."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise PeriodError(f"unknown {what} {text!r}: use {PERIOD_HELP if what == 'period' else DURATION_HELP}")
    count = int(match.group(1))
    seconds, unit = _UNITS[match.group(2).lower()]
    if count * seconds > MAX_DURATION_DAYS * 86400:
        raise PeriodError(f"{what} {text!r} is too long: at most {MAX_DURATION_DAYS}d (1,000 years)")
    return float(count * seconds), f"{count} {unit}{'' if count == 1 else 's'}"


def local_midnight(day: date) -> float:
    """The epoch time at which the local calendar ``day`` begins."""
    return datetime(day.year, day.month, day.day).timestamp()


def local_day(timestamp: float) -> date:
    """The local calendar day of an epoch ``timestamp``."""
    return datetime.fromtimestamp(timestamp).date()


def day_bounds(first: float, last: float) -> list[tuple[date, float, float]]:
    """``(day, start, end)`` for every local day from the day of ``first`` to the day of ``last``."""
    out = []
    day, final = local_day(first), local_day(last)
    while day <= final:
        following = day + timedelta(days=1)
        out.append((day, local_midnight(day), local_midnight(following)))
        day = following
    return out


#: Events dated more than this after now are in the future (a clock that was wrong or faked):
#: counted in the figures, never drawn day by day.
FUTURE_SLACK_S = 86400.0
#: The longest span drawn day by day (ten years, ending at the newest event drawn): older events
#: are counted in the figures, not drawn.
MAX_DRAWN_S = 3653 * 86400.0


def drawn_range(first: float, last: float, now: float | None = None) -> tuple[float, float] | None:
    """The part ``(lo, hi)`` of ``first .. last`` (the oldest and newest event of a window) that a
    report draws per day or hour: no later than a day after ``now``, at most :data:`MAX_DRAWN_S`
    long; ``None`` when every event is in the future. Events outside it are counted, not drawn."""
    now = time.time() if now is None else now
    hi = min(last, now + FUTURE_SLACK_S)
    if hi < first:
        return None
    return max(first, hi - MAX_DRAWN_S), hi


def parse_period(text: str, now: float | None = None) -> Window:
    """The window named by ``text``: ``Nm``/``Nh``/``Nd``/``Nw`` (rolling, ending now), ``today`` or ``all``."""
    now = time.time() if now is None else now
    spec = (text or "").strip().lower()
    if spec == "all":
        return Window(None, None, "All time", "all")
    if spec == "today":
        return Window(local_midnight(local_day(now)), None, "Today", "today")
    seconds, label = parse_duration(spec, "period")
    return Window(now - seconds, None, f"Last {label}", spec)
