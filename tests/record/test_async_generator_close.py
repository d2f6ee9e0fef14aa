"""An async generator closed early is not a failure, whichever path finalises it: an explicit
``aclose()``, the event loop's shutdown, or the finaliser task that ``asyncio.run`` cancels when
``async for ...: break`` is the last statement before it returns."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dev_system.ops.telemetry import telemetry_decorator

PROGRAM = '''
import asyncio, sys
from dev_system.ops.telemetry import telemetry_decorator, configure, flush

configure(enabled=True, db_path="t.db")
seen = []


@telemetry_decorator(agent_name="a", event_type="tool_call")
async def agen():
    try:
        for i in range(3):
            yield i
    except BaseException as exc:
        seen.append(type(exc).__name__)
        raise


async def break_last():
    async for x in agen():
        break


async def explicit_aclose():
    g = agen()
    async for x in g:
        break
    await g.aclose()


async def kept_until_shutdown():
    global kept
    kept = agen()
    await kept.__anext__()


asyncio.run({how}())
flush()
print(",".join(seen))
'''


def stored(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / "t.db") as conn:
        return [(success, error_type, json.loads(metadata or "{}").get("closed_early"))
                for success, error_type, metadata in conn.execute(
                    "SELECT success, error_type, metadata FROM telemetry_events")]


@pytest.mark.parametrize("how", ["break_last", "explicit_aclose", "kept_until_shutdown"])
def test_an_async_generator_closed_early_is_not_a_failure(tmp_path: Path, how: str) -> None:
    (tmp_path / "program.py").write_text(PROGRAM.replace("{how}", how))
    done = subprocess.run([sys.executable, "program.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert stored(tmp_path) == [(1, None, True)]


def test_the_undecorated_generator_sees_what_it_saw_before(tmp_path: Path) -> None:
    """Transparency: the generator itself sees the same exception decorated or not."""
    seen = {}
    for decorated in (False, True):
        program = PROGRAM.replace("{how}", "break_last")
        if not decorated:
            program = program.replace('@telemetry_decorator(agent_name="a", event_type="tool_call")\n', "")
        (tmp_path / "program.py").write_text(program)
        done = subprocess.run([sys.executable, "program.py"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        seen[decorated] = done.stdout.strip()
    assert seen[True] == seen[False]


def test_a_cancelled_step_is_still_a_failure(recording) -> None:
    @telemetry_decorator(agent_name="a", event_type="tool_call")
    async def slow():
        yield 1
        await asyncio.sleep(10)
        yield 2

    async def main():
        async def consume():
            async for _ in slow():
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (event,) = recording.events()
    assert not event.success and event.error_type == "CancelledError"


def test_an_exception_thrown_in_is_still_a_failure(recording) -> None:
    @telemetry_decorator(agent_name="a", event_type="tool_call")
    async def agen():
        yield 1
        yield 2

    async def main():
        g = agen()
        await g.__anext__()
        with pytest.raises(ValueError):
            await g.athrow(ValueError("bad"))

    asyncio.run(main())
    (event,) = recording.events()
    assert not event.success and event.error_type == "ValueError"
