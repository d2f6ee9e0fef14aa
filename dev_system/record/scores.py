"""Quality scores: a name and a number that a test or traced code records next to its telemetry.

:func:`score` is the public call (``from dev_system.ops.telemetry import score``): it never
raises; bad input is reported once (:func:`~dev_system.problems.report_problem`) and counted. The
pytest fixture checks with :func:`new_score`, which raises :class:`ScoreError` at the test's call.
A recorded :class:`Score` goes to the running test's list (for the fixture and budgets, with or
without a database) and to the recorder, which hands it to every sink that has a
``write_scores(scores)`` method (the SQLite store, the OTLP exporter, :class:`MemorySink`).

A score belongs to the running test (the plugin names it with :func:`set_current_test`) and to the
trace it was recorded in: ``trace()``'s id, the decorated call's trace, or the test's.

The store reads this module for :class:`Score`: it imports the recorder only when a score is
recorded, so that a command reading scores does not switch the recorder on.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, NamedTuple

from dev_system.config import SCORE_NAME_MAX, is_score_name
from dev_system.problems import report_problem
from dev_system.record.clock import wall_time
from dev_system.record.context import get_frame

#: The longest score name accepted.
MAX_NAME = SCORE_NAME_MAX
#: Characters of a comment kept (longer ones are cut, with "…").
MAX_COMMENT = 1000

__all__ = ["MAX_COMMENT", "MAX_NAME", "SCORE_COLUMNS", "Score", "ScoreError", "check_name", "current_test",
           "new_score", "record", "score", "set_current_test"]


class Score(NamedTuple):
    """One recorded score; its fields are the ``scores`` table's columns after ``id``."""

    score_id: str
    timestamp: float
    run_id: str | None
    nodeid: str | None
    trace_id: str | None
    name: str
    value: float
    comment: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return self._asdict()


SCORE_COLUMNS = Score._fields


class ScoreError(ValueError):
    """A score that cannot be recorded (a bad name or value); the message says why."""


def check_name(name: object) -> str:
    """``name`` when it is a short identifier (letters, digits and ``_``, not starting with a digit,
    at most :data:`MAX_NAME` characters), else :class:`ScoreError`."""
    __tracebackhide__ = True
    if is_score_name(name):
        return name  # type: ignore[return-value]
    if not isinstance(name, str):
        raise ScoreError(f"a score name must be a string, not {type(name).__name__}")
    if not name:
        raise ScoreError("a score name must not be empty")
    if len(name) > MAX_NAME:
        raise ScoreError(f"a score name must be at most {MAX_NAME} characters, not {len(name)}")
    raise ScoreError(f"a score name must be an identifier (letters, digits and _, not starting with a digit): "
                     f"{name!r}")


def _check_value(name: str, value: object) -> float:
    __tracebackhide__ = True  # a test that passes a bad value sees its own line
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScoreError(f"score {name!r}: the value must be a real number, not {type(value).__name__}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ScoreError(f"score {name!r}: the value cannot be read as a number: {exc}") from None
    if not math.isfinite(number):
        raise ScoreError(f"score {name!r}: the value must be finite, not {number}")
    return number


def _check_comment(comment: object) -> str | None:
    if comment is None:
        return None
    from dev_system.record.arguments import redact_text

    text = redact_text(comment if isinstance(comment, str) else str(comment))
    return text if len(text) <= MAX_COMMENT else text[:MAX_COMMENT - 1] + "…"


# The running test: its stored id and the list its scores go to (set by the pytest plugin).
_current: list[Any] = [None, None]


def set_current_test(nodeid: str | None, scores: list[Score] | None) -> tuple[str | None, list[Score] | None]:
    """Make ``nodeid`` the running test, its scores appended to ``scores``; returns what was set
    before (give it back when the test ends)."""
    previous = (_current[0], _current[1])
    _current[0], _current[1] = nodeid, scores
    return previous


def current_test() -> tuple[str | None, list[Score] | None]:
    """The running test's stored id and its scores list (``(None, None)`` between tests)."""
    return _current[0], _current[1]


def _trace_here(rec: Any) -> str | None:
    frame = get_frame()
    if frame is None:
        return rec.default_trace
    if frame[0] is not None:
        return frame[0]
    if frame[1]:  # a decorated call with no explicit trace: the id its events get (finish.py)
        return f"{rec.process_prefix}{rec.span_prefix}{frame[1] & 0xFFFFFFFF:08x}"
    return rec.default_trace


def new_score(name: object, value: object, comment: object = None, *, nodeid: str | None = None) -> Score:
    """A checked :class:`Score` recorded now, here (the running test's, unless ``nodeid`` names
    one; the current trace's). Raises :class:`ScoreError` for a bad name or value."""
    __tracebackhide__ = True
    from dev_system.record.recorder import get_recorder

    checked_name = check_name(name)
    number = _check_value(checked_name, value)
    text = _check_comment(comment)
    rec = get_recorder()
    test = _current[0] if nodeid is None else nodeid
    return Score(os.urandom(16).hex(), wall_time(), rec.run_id, test, _trace_here(rec), checked_name, number, text)


def record(item: Score) -> None:
    """Deliver a checked score: to the running test's list when it is that test's, and to the
    recorder's sinks when telemetry is on."""
    from dev_system.record.recorder import get_recorder

    nodeid, scores = _current
    if scores is not None and item.nodeid == nodeid:
        scores.append(item)
    get_recorder().add_score(item)


def score(name: str, value: float, comment: str | None = None) -> bool:
    """Record a quality score (``score("faithfulness", 0.8)``) for the running test or trace.

    ``name`` is a short identifier, ``value`` a finite real number, ``comment`` optional text
    (redacted like stored arguments). Never raises: bad input is reported once on the
    ``dev_system`` logger and counted (``stats()["problems"]``), and nothing is recorded. Returns
    True when the score was recorded, False otherwise (bad input, or telemetry off outside a test).
    """
    try:
        item = new_score(name, value, comment)
    except ScoreError as exc:
        report_problem("score:invalid", f"a score was not recorded: {exc}")
        return False
    except Exception as exc:
        report_problem("score:failed", f"a score was not recorded: {exc!r}")
        return False
    try:
        from dev_system.record.recorder import get_recorder

        if not get_recorder().on and _current[1] is None:
            return False
        record(item)
    except Exception as exc:
        report_problem("score:failed", f"a score was not recorded: {exc!r}")
        return False
    return True
