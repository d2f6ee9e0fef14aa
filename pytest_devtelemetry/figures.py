"""A test's figures, in one shape: :class:`TestFigures`, and the id a test is stored under.

The figures of a test are the totals of the events it recorded: calls, failed calls, tokens,
known cost, calls of unknown cost and the slowest call. They are computed from the test's raw
records (:func:`figures_of_raw_records`, once per test: most tests have one record, read
directly) or from its events (:func:`figures_of_events`, the ``telemetry`` fixture without
``--telemetry``), travel from an xdist worker to the controller as JUnit properties
(:meth:`TestFigures.properties`, :meth:`TestFigures.from_properties`), are checked against a
budget, and stored as the test's ``test_results`` row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, NamedTuple

from dev_system.record.raw import COST_USD, INPUT_TOKENS, LATENCY_S, OUTPUT_TOKENS, SUCCESS

#: JUnit XML property names, in the order they are attached (one per figure but ``failures``
#: comes second: ``telemetry_failed_calls``).
PROPERTY_NAMES = ("telemetry_calls", "telemetry_failed_calls", "telemetry_input_tokens", "telemetry_output_tokens",
                  "telemetry_cost_usd", "telemetry_unknown_cost_calls", "telemetry_max_latency_ms")


class TestFigures(NamedTuple):
    """The totals of one test's events. A named tuple: one is made for each test."""

    __test__ = False  # not a pytest test class

    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: The sum of the known costs (see ``unknown_cost``).
    cost_usd: float = 0.0
    #: Calls whose cost is unknown (not in ``cost_usd``).
    unknown_cost: int = 0
    #: The slowest call's latency (``None`` without calls).
    max_latency_ms: float | None = None

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        """The figures as a dict (what ``TestTelemetry.figures()`` returns)."""
        return self._asdict()

    def properties(self) -> list[tuple[str, Any]]:
        """The figures as ``(name, value)`` pairs for ``user_properties`` (JUnit XML)."""
        values = (self.calls, self.failures, self.input_tokens, self.output_tokens, round(self.cost_usd, 10),
                  self.unknown_cost, None if self.max_latency_ms is None else round(self.max_latency_ms, 3))
        return [(name, value) for name, value in zip(PROPERTY_NAMES, values) if value is not None]

    @classmethod
    def from_properties(cls, properties: Any) -> TestFigures | None:
        """The figures :meth:`properties` attached to a report, or ``None`` when absent."""
        found = {name: value for name, value in properties or () if name in PROPERTY_NAMES}
        if "telemetry_calls" not in found:
            return None
        latency = found.get("telemetry_max_latency_ms")
        return cls(
            int(found.get("telemetry_calls", 0)),
            int(found.get("telemetry_failed_calls", 0)),
            int(found.get("telemetry_input_tokens", 0)),
            int(found.get("telemetry_output_tokens", 0)),
            float(found.get("telemetry_cost_usd", 0.0)),
            int(found.get("telemetry_unknown_cost_calls", 0)),
            None if latency is None else float(latency),
        )


#: The figures of a test without events.
NO_FIGURES = TestFigures()

_new = tuple.__new__  # a TestFigures from a tuple, without the named tuple's ``__new__`` call
#: A raw record's (success, input_tokens, output_tokens, cost_usd, latency_s).
_RAW_ROW = itemgetter(SUCCESS, INPUT_TOKENS, OUTPUT_TOKENS, COST_USD, LATENCY_S)


def figures_of_raw_records(raws: list[tuple]) -> TestFigures:
    """The figures of raw records (:mod:`dev_system.record.raw`): the same values as from the
    events the writer makes of them, without making the events."""
    if len(raws) == 1:  # most tests: figures_of_rows of one row, written out
        success, tokens_in, tokens_out, cost, latency = _RAW_ROW(raws[0])
        return _new(TestFigures, (1, 0 if success else 1, tokens_in or 0, tokens_out or 0,
                                  0.0 if cost is None else math.fsum((cost,)), 1 if cost is None else 0,
                                  latency * 1000.0))
    if not raws:
        return NO_FIGURES
    return figures_of_rows(map(_RAW_ROW, raws), latency_scale=1000.0)  # latency_s: the event's in ms


def figures_of_events(events: Iterable[Any]) -> TestFigures:
    """The figures of events (:class:`dev_system.events.TelemetryEvent`)."""
    return figures_of_rows((e.success, e.input_tokens, e.output_tokens, e.cost_usd, e.latency_ms) for e in events)


def figures_of_rows(rows: Iterable[tuple], latency_scale: float = 1.0) -> TestFigures:
    """The figures of ``(success, input_tokens, output_tokens, cost_usd, latency)`` rows, the
    latency in ms once multiplied by ``latency_scale``."""
    calls = failures = input_tokens = output_tokens = unknown = 0
    costs = []
    slowest = None
    for success, tokens_in, tokens_out, cost, latency in rows:
        calls += 1
        if not success:
            failures += 1
        input_tokens += tokens_in or 0
        output_tokens += tokens_out or 0
        if cost is None:
            unknown += 1
        else:
            costs.append(cost)
        if slowest is None or latency > slowest:
            slowest = latency
    return _new(TestFigures, (calls, failures, input_tokens, output_tokens, math.fsum(costs), unknown,
                              None if slowest is None else slowest * latency_scale))


#: The prefix of a test's score properties: ``telemetry_score_<name>`` is the test's mean of ``name``.
SCORE_PROPERTY_PREFIX = "telemetry_score_"


def score_properties(scores: Iterable[Any]) -> list[tuple[str, Any]]:
    """A test's scores as ``(telemetry_score_<name>, its mean)`` pairs for ``user_properties``."""
    from dev_system.analysis.scores import means_by_name

    return [(SCORE_PROPERTY_PREFIX + name, round(mean, 10)) for name, mean in means_by_name(scores).items()]


def combined_figures(a: TestFigures, b: TestFigures) -> TestFigures:
    """The figures of the events of ``a`` and of ``b`` together."""
    slowest = max((x for x in (a.max_latency_ms, b.max_latency_ms) if x is not None), default=None)
    return TestFigures(a.calls + b.calls, a.failures + b.failures, a.input_tokens + b.input_tokens,
                       a.output_tokens + b.output_tokens, math.fsum((a.cost_usd, b.cost_usd)),
                       a.unknown_cost + b.unknown_cost, slowest)


def stored_nodeid(nodeid: str, key: bytes) -> str:
    """The id a test is stored under: the trace id of its events and its ``test_results.nodeid``.

    A test parametrized by an API key has the key in its node id; the id is redacted as stored
    text is (the environment's secrets and well-known key shapes,
    :func:`dev_system.record.redaction.redact_text`). The same function makes both, in every
    process, so events still match their test. A redacted id ends with ``@`` and 8 hex digits of
    an HMAC of the original under ``key``, the database's own random key
    (:func:`pytest_devtelemetry.run_store.nodeid_digest_key`): two tests differing only in the
    secret stay two tests, the same test matches itself from run to run, and the digest cannot be
    used to test guesses of the secret without the database. The caller has read the
    environment's secrets since the test was collected
    (:func:`dev_system.record.redaction.notice_environment_changes`).
    """
    from dev_system.record.redaction import redact_text

    redacted = redact_text(nodeid)
    if redacted == nodeid:
        return nodeid
    import hashlib
    import hmac

    digest = hmac.new(key, nodeid.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
    return f"{redacted}@{digest[:8]}"
