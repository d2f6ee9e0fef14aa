"""The running test's capture: its events, kept in memory, for the ``telemetry`` fixture and
for budgets, and the raw records each test's figures are read from.

A :class:`TestTelemetry` is a sink added to the process's recorder for the life of a test. When
the recorder is off (no ``--telemetry``), it is switched on for that time with no database at
all, so the fixture and budgets work in any run; it is switched back off afterwards. With
``--telemetry``, one :class:`SessionWatcher` serves the whole session: each test points it at a
list of its own (:func:`watch`, :func:`unwatch`), and a :class:`TestTelemetry` is made around that
list only when the fixture or a budget asks (:func:`running_capture`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from dev_system.record.recorder import get_recorder
from dev_system.record.scores import Score, current_test, new_score, set_current_test
from dev_system.record.settle import settle_pending_calls
from dev_system.record.sinks import MemorySink
from pytest_devtelemetry.figures import TestFigures, figures_of_events, figures_of_raw_records
from pytest_devtelemetry.names import CAPTURE_KEY, TESTS_PLUGIN

if TYPE_CHECKING:
    from dev_system.events import TelemetryEvent

_memory_only: list[Any] = []  # the settings to restore, while the recorder is on for captures only
# How many captures are open, in a list: a module global rebound at every test's start and end
# would make every global lookup of this module's code slower.
_open_captures = [0]


def _switch_on() -> None:
    """Make sure the recorder records while a capture is open (memory only if it was off)."""
    rec = get_recorder()
    if _open_captures[0] == 0 and not rec.on:
        previous = rec.settings
        rec.apply(dataclasses.replace(previous, enabled=True, db_path=None, sample_rate=1.0))
        _memory_only.append(previous)
    _open_captures[0] += 1


def _switch_back() -> None:
    _open_captures[0] -= 1
    if _open_captures[0] == 0 and _memory_only:
        get_recorder().apply(_memory_only.pop())


class SessionWatcher:
    """One raw-record watcher for a whole session (``Recorder.raw_watchers``): the raw records
    taken out of the buffer go to the running test's list (``target``), or nowhere between tests.
    :func:`watch` and :func:`unwatch` switch the target under the recorder's lock, after setting
    aside what was buffered before (``Recorder.set_aside``). The records are not turned into
    events on the test's thread (the writer does it, and stores them); a test's figures are read
    from the raw records, and its events are made only when the ``telemetry`` fixture asks."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: list[tuple] | None = None

    def __call__(self, raws: list[tuple]) -> None:
        target = self.target
        if target is not None:
            target.extend(raws)


def running_capture(item: pytest.Item) -> TestTelemetry | None:
    """The capture of ``item`` while it runs: the one in its stash, else, with ``--telemetry``,
    the one the run makes on demand around the records the test has made so far."""
    captured = item.stash.get(CAPTURE_KEY, None)
    if captured is None:
        tests = item.config.pluginmanager.get_plugin(TESTS_PLUGIN)
        captured = tests.capture_running_test(item) if tests is not None else None
    return captured


def watch(watcher: SessionWatcher, raws: list[tuple]) -> None:
    """Send the raw records recorded from now on to ``raws`` (a test starts); what is buffered
    before is set aside first: not the test's. Switches the recorder on (memory only) if it is off."""
    _switch_on()
    rec = get_recorder()
    with rec.lock:
        if rec.buffer:
            rec.set_aside()
        watcher.target = raws


def unwatch(watcher: SessionWatcher, raws: list[tuple]) -> None:
    """Undo :func:`watch`: the calls still being recorded on another thread are waited for
    (bounded, :func:`~dev_system.record.settle.settle_pending_calls`), and what is still
    buffered goes to ``raws`` first."""
    rec = get_recorder()
    try:
        settle_pending_calls()
        with rec.lock:
            if rec.buffer:
                rec.set_aside()
            if watcher.target is raws:
                watcher.target = None
    finally:
        _switch_back()


class TestTelemetry:
    """The events recorded by one test so far, with their totals (the ``telemetry`` fixture).

    With ``--telemetry`` they are the events recorded since the test's setup began; without it,
    since the fixture was set up (the recorder then keeps them in memory only). Every read
    delivers the recorder's buffer first, so an event is visible as soon as its call returned
    (a call whose event is finished on another thread, a LiteLLM sync stream, is waited for)::

        def test_answer(telemetry):
            agent.answer("hi")
            assert telemetry.count(agent="persona_runtime", event_type="model_call") <= 3
            assert telemetry.total_cost_usd < 0.01

    It also records the test's quality scores (:meth:`score`) and gives them back (:attr:`scores`,
    :attr:`score_means`), with or without ``--telemetry``.
    """

    __test__ = False  # not a test class
    __slots__ = ("nodeid", "_sink", "_open", "_session_watcher", "_raws", "_finished", "_scores", "_outer_test")

    def __init__(self, nodeid: str, session_watcher: SessionWatcher | None = None,
                 raws: list[tuple] | None = None, scores: list[Score] | None = None) -> None:
        self.nodeid = nodeid
        # The test's scores: the run's list for the running test (``scores``), else one of its own
        # that is the running test's while this capture is open.
        self._scores: list[Score] = [] if scores is None else scores
        self._outer_test: tuple[str | None, list[Score] | None] | None = None
        self._sink = MemorySink() if session_watcher is None else None
        self._open = False
        # With the session's watcher (already added) instead of a sink of its own: the test's raw
        # records (``raws``: the list the watcher fills for the running test already, when the
        # capture is made during the test), and how many of them are in ``_sink.events`` already
        # (the sink is made when the events are first asked for: most tests never do).
        self._session_watcher = session_watcher
        self._raws: list[tuple] = [] if raws is None else raws
        self._finished = 0

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> TestTelemetry:
        """Begin receiving the events recorded from now on."""
        if not self._open:
            shared = self._session_watcher
            if shared is None:
                _switch_on()
                get_recorder().add_sink(self._sink)
            else:
                watch(shared, self._raws)
            if current_test()[1] is not self._scores:
                self._outer_test = set_current_test(self.nodeid, self._scores)
            self._open = True
        return self

    def stop(self) -> None:
        """Stop receiving events (those still buffered are received first)."""
        if self._open:
            self._open = False
            if self._outer_test is not None:
                set_current_test(*self._outer_test)
                self._outer_test = None
            shared = self._session_watcher
            if shared is None:
                try:
                    get_recorder().remove_sink(self._sink)
                finally:
                    _switch_back()
            else:
                unwatch(shared, self._raws)

    # -- the events -------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Take in what the recorder still buffers (with the session's watcher: as raw records),
        once the calls still being recorded on another thread have ended (a bounded wait)."""
        if self._open:
            settle_pending_calls()
            rec = get_recorder()
            if self._session_watcher is None:
                rec.flush(store=False)  # seen now; in the database with the writer's next batch
            elif rec.buffer:
                with rec.lock:
                    rec.set_aside()  # seen now; finished and stored by the writer

    def _current_events(self) -> list[TelemetryEvent]:
        """The events so far (the list itself): with the session's watcher, the raw records not
        made into events yet are made into them here, as the writer makes them (it stores its own)."""
        self._catch_up()
        if self._sink is None:
            self._sink = MemorySink()
        events = self._sink.events
        raws = self._raws
        if self._finished < len(raws):
            finish = get_recorder().finish
            for raw in raws[self._finished:]:
                try:
                    events.append(finish(raw))
                except Exception:  # dropped: the writer reports it and counts the drop
                    pass
            self._finished = len(raws)
        return events

    @property
    def events(self) -> list[TelemetryEvent]:
        """The events so far, oldest delivery first (a copy)."""
        return list(self._current_events())

    def __iter__(self) -> Iterator[TelemetryEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def select(self, *, agent: str | None = None, event_type: str | None = None, function: str | None = None,
               model: str | None = None, success: bool | None = None) -> list[TelemetryEvent]:
        """The events matching every filter given."""
        return [
            e for e in self.events
            if (agent is None or e.agent_name == agent) and (event_type is None or e.event_type == event_type)
            and (function is None or e.function_name == function) and (model is None or e.model == model)
            and (success is None or bool(e.success) == success)
        ]

    def count(self, **filters: Any) -> int:
        """How many events match ``filters`` (those of :meth:`select`)."""
        return len(self.select(**filters))

    def clear(self) -> None:
        """Forget the events so far (a test can then measure one step on its own)."""
        self._catch_up()
        if self._sink is not None:
            self._sink.events.clear()
        self._raws.clear()
        self._finished = 0

    # -- scores -----------------------------------------------------------------------------

    def score(self, name: str, value: float, comment: str | None = None) -> None:
        """Record a quality score of this test: ``telemetry.score("correctness", 0.92)``.

        ``name`` is a short identifier, ``value`` a finite real number; a test may record several
        names and several values of one name (the test's value is their mean). Bad input raises
        :class:`dev_system.record.scores.ScoreError` (a ``ValueError``) here, at the call."""
        __tracebackhide__ = True
        nodeid, scores = current_test()
        item = new_score(name, value, comment, nodeid=nodeid if scores is self._scores else self.nodeid)
        self._scores.append(item)
        get_recorder().add_score(item)

    @property
    def scores(self) -> list[Score]:
        """The scores this test recorded so far (through the fixture or ``score(...)`` in code it
        ran), oldest first (a copy)."""
        return list(self._scores)

    @property
    def score_means(self) -> dict[str, float]:
        """The test's value of each score name: the mean of the values recorded under it."""
        from dev_system.analysis.scores import means_by_name

        return means_by_name(self._scores)

    # -- totals -----------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """The number of events."""
        return len(self.events)

    @property
    def failures(self) -> int:
        """Events of failed calls."""
        return sum(1 for e in self.events if not e.success)

    @property
    def total_cost_usd(self) -> float:
        """The sum of known costs (see :attr:`unknown_cost_calls`)."""
        return math.fsum(e.cost_usd for e in self.events if e.cost_usd is not None)

    @property
    def unknown_cost_calls(self) -> int:
        """Events whose cost is unknown (not in :attr:`total_cost_usd`)."""
        return sum(1 for e in self.events if e.cost_usd is None)

    @property
    def input_tokens(self) -> int:
        """Input tokens (unknown counts as 0)."""
        return sum(e.input_tokens or 0 for e in self.events)

    @property
    def output_tokens(self) -> int:
        """Output tokens (unknown counts as 0)."""
        return sum(e.output_tokens or 0 for e in self.events)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return sum(e.total_tokens for e in self.events)

    @property
    def max_latency_ms(self) -> float | None:
        """The slowest call's latency (``None`` without events)."""
        events = self.events
        return max((e.latency_ms for e in events), default=None)

    @property
    def by_agent(self) -> dict[str, int]:
        """Event counts by agent name."""
        return dict(Counter(e.agent_name for e in self.events))

    @property
    def by_event_type(self) -> dict[str, int]:
        """Event counts by event type (``model_call``, ``tool_call``, ...)."""
        return dict(Counter(e.event_type for e in self.events))

    @property
    def by_function(self) -> dict[str, int]:
        """Event counts by function name."""
        return dict(Counter(e.function_name for e in self.events))

    @property
    def by_error_type(self) -> dict[str, int]:
        """Failed events by error type."""
        return dict(Counter(e.error_type or "unknown" for e in self.events if not e.success))

    def figures(self) -> dict[str, Any]:
        """The totals in one read: ``calls``, ``failures``, ``input_tokens``, ``output_tokens``,
        ``cost_usd``, ``unknown_cost``, ``max_latency_ms``."""
        return self.totals().as_dict()

    def totals(self) -> TestFigures:
        """:meth:`figures` as a :class:`pytest_devtelemetry.figures.TestFigures`."""
        self._catch_up()
        if self._session_watcher is not None:
            return figures_of_raw_records(self._raws)  # the same values as from their events
        return figures_of_events(self._sink.events)  # type: ignore[union-attr]  # made with the capture

    def properties(self) -> list[tuple[str, Any]]:
        """The figures as ``(name, value)`` pairs for ``user_properties`` (JUnit XML)."""
        return self.totals().properties()

    def __repr__(self) -> str:
        f = self.totals()
        from dev_system.formatting import plural

        return f"<TestTelemetry {self.nodeid}: {plural(f.calls, 'call')}, {plural(f.tokens, 'token')}, ${f.cost_usd:.6f}>"
