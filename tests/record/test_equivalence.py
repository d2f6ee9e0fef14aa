"""Property: a decorated callable behaves exactly as the undecorated one, for every kind, with
telemetry on (and every call is recorded)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.ops.telemetry import telemetry_decorator

values = st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3))
errors = st.sampled_from([None, ValueError, KeyError, RuntimeError, ZeroDivisionError])
# What the consumer does at each step of a generator: next, send a value, throw, or close.
steps = st.lists(st.one_of(st.just(("next",)), st.tuples(st.just("send"), values),
                           st.just(("throw",)), st.just(("close",))), max_size=8)
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
deco = telemetry_decorator(agent_name="prop", event_type="tool_call")


def outcome_of(call):
    try:
        return ("returned", call())
    except Exception as exc:  # compare by type and args: the objects differ between two runs
        return ("raised", type(exc), exc.args)


@quick
@given(arg=values, error=errors)
def test_plain_function(recording, arg, error):
    def f(x):
        if error is not None:
            raise error(x)
        return [x, x]

    assert outcome_of(lambda: f(arg)) == outcome_of(lambda: deco(f)(arg))


@quick
@given(arg=values, error=errors)
def test_coroutine_function(recording, arg, error):
    async def f(x):
        await asyncio.sleep(0)
        if error is not None:
            raise error(x)
        return {"x": x}

    assert outcome_of(lambda: asyncio.run(f(arg))) == outcome_of(lambda: asyncio.run(deco(f)(arg)))


def make_generator(items, final, error):
    def gen():
        received = []
        for item in items:
            try:
                got = yield (item, len(received))
            except ValueError as exc:  # a generator that handles what is thrown into it
                got = ("caught", exc.args)
            received.append(got)
        if error is not None:
            raise error("end")
        return (final, received)

    return gen


def drive(gen_obj, plan):
    transcript = []
    for step in [("next",)] + plan:
        try:
            if step[0] == "next":
                transcript.append(("yield", next(gen_obj)))
            elif step[0] == "send":
                transcript.append(("yield", gen_obj.send(step[1])))
            elif step[0] == "throw":
                transcript.append(("yield", gen_obj.throw(ValueError("thrown"))))
            else:
                gen_obj.close()
                transcript.append(("closed",))
        except StopIteration as stop:
            transcript.append(("stop", stop.value))
            break
        except Exception as exc:
            transcript.append(("raised", type(exc), exc.args))
            break
    return transcript


@quick
@given(items=st.lists(values, max_size=5), final=values, error=errors, plan=steps)
def test_generator_function(recording, items, final, error, plan):
    gen = make_generator(items, final, error)
    assert drive(gen(), plan) == drive(deco(gen)(), plan)


def make_async_generator(items, error):
    async def agen():
        received = []
        for item in items:
            try:
                got = yield (item, len(received))
            except ValueError as exc:
                got = ("caught", exc.args)
            received.append(got)
            await asyncio.sleep(0)
        if error is not None:
            raise error("end")

    return agen


async def adrive(agen_obj, plan):
    transcript = []
    for step in [("next",)] + plan:
        try:
            if step[0] == "next":
                transcript.append(("yield", await agen_obj.__anext__()))
            elif step[0] == "send":
                transcript.append(("yield", await agen_obj.asend(step[1])))
            elif step[0] == "throw":
                transcript.append(("yield", await agen_obj.athrow(ValueError("thrown"))))
            else:
                await agen_obj.aclose()
                transcript.append(("closed",))
        except StopAsyncIteration:
            transcript.append(("stop",))
            break
        except Exception as exc:
            transcript.append(("raised", type(exc), exc.args))
            break
    return transcript


@quick
@given(items=st.lists(values, max_size=5), error=errors, plan=steps)
def test_async_generator_function(recording, items, error, plan):
    agen = make_async_generator(items, error)
    plain = asyncio.run(adrive(agen(), plan))
    decorated = asyncio.run(adrive(deco(agen)(), plan))
    assert plain == decorated


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=0, max_value=20), fail_at=st.integers(min_value=0, max_value=25))
def test_every_call_is_recorded_once_with_its_outcome(recording, n, fail_at):
    before = len(recording.events())

    @deco
    def f(i):
        if i == fail_at:
            raise ValueError(i)
        return i

    for i in range(n):
        try:
            f(i)
        except ValueError:
            pass
    new = recording.events()[before:]
    assert len(new) == n
    assert [e.success for e in new] == [i != fail_at for i in range(n)]
