"""The decorator on every callable kind: what it records, and that the call is left unchanged."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import warnings

import pytest

from dev_system.ops.telemetry import (
    TelemetryThread,
    annotate,
    configure,
    current_trace_id,
    propagate,
    telemetry_decorator,
    trace,
)
from dev_system.problems import problem_counts


def by_function(events):
    return {e.function_name: e for e in events}


def test_plain_call_becomes_one_row_with_the_documented_columns(recording):
    @telemetry_decorator(agent_name="orchestrator", event_type="tool_call")
    def process_request(data: dict):
        return {"ok": data["n"] * 2}

    assert process_request({"n": 21}) == {"ok": 42}
    [event] = recording.events()
    assert (event.event_type, event.agent_name, event.function_name) == ("tool_call", "orchestrator", "process_request")
    assert event.success is True and event.error_type is None
    assert event.latency_ms >= 0 and event.cost_usd == 0.0
    assert event.metadata_dict["args"] == {"data": {"n": 21}}
    assert len(event.trace_id) == 32 and len(event.span_id) == 16 and event.parent_span_id is None


def test_nothing_is_recorded_while_telemetry_is_off(tmp_path):
    db = tmp_path / "t.db"
    configure(enabled=False, db_path=db)

    @telemetry_decorator(agent_name="a")
    def f(x):
        return x

    assert f(1, _trace_id="ignored") == 1  # the keyword is removed even when off
    assert not db.exists()


def test_failure_keeps_exception_object_and_records_type_and_message(recording):
    error = KeyError("missing")

    @telemetry_decorator(agent_name="a")
    def f():
        raise error

    with pytest.raises(KeyError) as info:
        f()
    assert info.value is error
    [event] = recording.events()
    assert event.success is False and event.error_type == "KeyError"
    assert event.metadata_dict["error_message"] == "'missing'"


def test_kinds_names_docs_signatures_are_kept():
    deco = telemetry_decorator(agent_name="a")

    def plain(a, b=2):
        """plain doc"""

    async def coro(a):
        """coro doc"""

    def gen(a):
        yield a

    async def agen(a):
        yield a

    for fn, check in ((plain, inspect.isfunction), (coro, inspect.iscoroutinefunction),
                      (gen, inspect.isgeneratorfunction), (agen, inspect.isasyncgenfunction)):
        wrapped = deco(fn)
        assert check(wrapped), fn
        assert wrapped.__name__ == fn.__name__ and wrapped.__doc__ == fn.__doc__
        assert inspect.signature(wrapped) == inspect.signature(fn)
        assert wrapped.__wrapped__ is fn


def test_methods_classmethods_staticmethods(recording):
    class Service:
        factor = 3

        @telemetry_decorator(agent_name="svc")
        def method(self, x):
            return x * self.factor

        @telemetry_decorator(agent_name="svc")
        @classmethod
        def klass(cls, x):
            return x + cls.factor

        @classmethod
        @telemetry_decorator(agent_name="svc")
        def klass_inner(cls, x):
            return x - cls.factor

        @telemetry_decorator(agent_name="svc")
        @staticmethod
        def static(x):
            return -x

    s = Service()
    assert (s.method(2), Service.klass(2), Service.klass_inner(5), Service.static(4), s.static(1)) == (6, 5, 2, -4, -1)
    events = recording.events()
    assert [e.function_name for e in events] == ["method", "klass", "klass_inner", "static", "static"]
    assert [e.metadata_dict["args"] for e in events] == [{"x": 2}, {"x": 2}, {"x": 5}, {"x": 4}, {"x": 1}]


def test_coroutine_records_and_cancellation_is_a_failure(recording):
    @telemetry_decorator(agent_name="a")
    async def quick(x):
        await asyncio.sleep(0)
        return x + 1

    @telemetry_decorator(agent_name="a")
    async def slow():
        await asyncio.sleep(10)

    async def main():
        assert await quick(1) == 2
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    events = by_function(recording.events())
    assert events["quick"].success is True
    assert events["slow"].success is False and events["slow"].error_type == "CancelledError"


def test_generator_latency_covers_iteration_and_early_close_is_not_a_failure(recording):
    import time

    @telemetry_decorator(agent_name="g")
    def stream(n):
        for i in range(n):
            time.sleep(0.01)
            yield i
        return "end"

    assert list(stream(3)) == [0, 1, 2]
    partial = stream(5)
    assert next(partial) == 0
    partial.close()
    done, closed = recording.events()
    assert done.success and done.latency_ms >= 30
    assert closed.success and closed.metadata_dict["closed_early"] is True


def test_generator_error_and_keyboard_interrupt_are_recorded(recording):
    @telemetry_decorator(agent_name="g")
    def broken():
        yield 1
        raise KeyboardInterrupt

    gen = broken()
    assert next(gen) == 1
    with pytest.raises(KeyboardInterrupt):
        next(gen)
    [event] = recording.events()
    assert event.success is False and event.error_type == "KeyboardInterrupt"


def test_async_generator_asend_and_early_close(recording):
    @telemetry_decorator(agent_name="ag")
    async def echo():
        received = None
        while True:
            received = yield received

    async def main():
        gen = echo()
        assert await gen.asend(None) is None
        assert await gen.asend("x") == "x"
        await gen.aclose()

    asyncio.run(main())
    [event] = recording.events()
    assert event.success and event.metadata_dict["closed_early"] is True


def test_explicit_trace_id_is_used_and_removed(recording):
    seen = {}

    @telemetry_decorator(agent_name="svc")
    def child(**kwargs):
        seen.update(kwargs)
        return current_trace_id()

    assert child(_trace_id="trace-abc", other=1) == "trace-abc"
    assert seen == {"other": 1}
    [event] = recording.events()
    assert event.trace_id == "trace-abc"


def test_nested_calls_form_a_tree_within_one_trace(recording):
    @telemetry_decorator(agent_name="svc")
    def leaf():
        return 1

    @telemetry_decorator(agent_name="svc")
    def middle():
        return leaf() + leaf()

    @telemetry_decorator(agent_name="svc")
    def root():
        return middle()

    assert root() == 2
    events = recording.events()
    spans = {e.span_id: e for e in events}
    assert len({e.trace_id for e in events}) == 1
    top = [e for e in events if e.parent_span_id is None]
    assert [e.function_name for e in top] == ["root"]
    for event in events:
        if event.parent_span_id:
            parent = spans[event.parent_span_id]
            assert (event.function_name, parent.function_name) in {("leaf", "middle"), ("middle", "root")}


def test_separate_roots_get_distinct_trace_ids(recording):
    @telemetry_decorator(agent_name="svc")
    def f():
        pass

    for _ in range(50):
        f()
    assert len({e.trace_id for e in recording.events()}) == 50


def test_trace_context_manager_threads_and_tasks_inherit(recording):
    @telemetry_decorator(agent_name="svc")
    def work(i):
        return i

    @telemetry_decorator(agent_name="svc")
    async def awork(i):
        return i

    async def in_tasks():
        await asyncio.gather(*(asyncio.create_task(awork(i)) for i in range(3)))

    with trace("block-1"):
        work(0)
        thread = TelemetryThread(target=work, args=(1,))
        thread.start()
        thread.join()
        plain = threading.Thread(target=propagate(work), args=(2,))
        plain.start()
        plain.join()
        asyncio.run(in_tasks())
    work(3)
    events = recording.events()
    assert [e.trace_id for e in events[:-1]] == ["block-1"] * 6
    assert events[-1].trace_id != "block-1"


def test_annotate_adds_fields_and_model(recording):
    @telemetry_decorator(agent_name="svc", capture_args=False)
    def f():
        annotate(prompt_version=7, model="my-model")

    f()
    assert annotate(outside=True) is False
    [event] = recording.events()
    assert event.model == "my-model"
    assert event.metadata_dict == {"prompt_version": 7}


def test_cost_calculator_value_and_failures_give_unknown_cost_with_one_logged_problem(recording, caplog):
    def good(result):
        return 0.25

    def raises(result):
        raise RuntimeError("price list down")

    def not_a_number(result):
        return "cheap"

    fns = [telemetry_decorator(agent_name="m", cost_calculator=calc)(lambda: "r") for calc in (good, raises, not_a_number)]
    with caplog.at_level(logging.WARNING, logger="dev_system"), warnings.catch_warnings():
        warnings.simplefilter("error")  # never a warning in the caller's context
        for fn in fns:
            for _ in range(3):
                assert fn() == "r"
    caught = [r for r in caplog.records if r.name == "dev_system"]
    events = recording.events()
    assert [e.cost_usd for e in events] == [0.25] * 3 + [None] * 6
    assert all(e.success for e in events)
    assert len(caught) == 2  # one per failing calculator, not one per call
    counts = problem_counts()
    assert sum(v for k, v in counts.items() if k.startswith("cost:")) == 6


def test_custom_event_types_are_free_strings(recording):
    @telemetry_decorator(agent_name="svc", event_type="custom_operation")
    def f():
        pass

    f()
    assert recording.events()[0].event_type == "custom_operation"


def test_sampling_keeps_whole_traces_and_always_keeps_failures(recording):
    configure(enabled=True, db_path=recording.db_path, sample_rate=0.5)

    @telemetry_decorator(agent_name="svc")
    def child():
        pass

    @telemetry_decorator(agent_name="svc")
    def root():
        child()
        child()

    @telemetry_decorator(agent_name="svc")
    def failing():
        raise ValueError

    for _ in range(200):
        root()
    configure(enabled=True, db_path=recording.db_path, sample_rate=0.0)
    for _ in range(5):
        root()
        with pytest.raises(ValueError):
            failing()
    events = recording.events()
    per_trace = {}
    for event in events:
        per_trace.setdefault(event.trace_id, []).append(event)
    kept = [t for t in per_trace.values() if t[0].function_name != "failing"]
    assert all(len(t) == 3 for t in kept)
    assert 50 < len(kept) < 150  # 200 traces at rate 0.5; far outside this is a broken sampler
    assert sum(e.function_name == "failing" for e in events) == 5


def test_capture_can_be_switched_off_per_decorator_and_globally(recording):
    @telemetry_decorator(agent_name="svc", capture_args=False)
    def off(secret_value):
        pass

    @telemetry_decorator(agent_name="svc")
    def on(x):
        pass

    off(1)
    on(2)
    configure(enabled=True, db_path=recording.db_path, capture_args=False)
    on(3)
    events = recording.events()
    assert [e.metadata for e in events] == [None, json.dumps({"args": {"x": 2}}), None]
