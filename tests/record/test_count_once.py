"""Every provider call's tokens and cost are counted once, whatever nesting produced it.

The innermost model call owns the figures: an event in whose call a model call was made (an
instrumented SDK call, or a decorated ``model_call``) records 0 tokens and $0 and says in its
metadata where its usage is counted, so every sum over events is right. Tested with the real
openai and anthropic SDKs against the local fake server, through ``dev-system`` subprocesses and
real pytest runs.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from dev_system.formatting import format_usd
from dev_system.ops.telemetry import configure, telemetry_decorator
from dev_system.record.instrument import instrument
from dev_system.record.pricing import openai_cost_calculator
from fakes.fake_llm_server import (  # noqa: F401  (fixtures)
    anthropic_client,
    async_openai_client,
    llm,
    llm_server,
    openai_client,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"
COUNTED_IN = "nested model calls"


def price(model: str, provider: str, input_tokens: int, output_tokens: int) -> float:
    """What genai-prices says the answered model costs for this usage."""
    usage = GenaiUsage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


#: The fake server's default answers: gpt-4o-mini 42 in / 7 out; Claude Haiku 4.5 25 in / 12 out.
OPENAI_COST = price("gpt-4o-mini", "openai", 42, 7)
CLAUDE_COST = price("claude-haiku-4-5-20251001", "anthropic", 25, 12)


@pytest.fixture
def on(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)
    instrument()
    return recording


def dev_system(*args: str) -> str:
    """``python -m dev_system ARGS`` in a subprocess; its standard output."""
    done = subprocess.run([sys.executable, "-m", "dev_system", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def totals(events) -> tuple[int, int, float, int]:
    """(input tokens, output tokens, known cost, calls of unknown cost) summed over every event."""
    return (sum(e.input_tokens or 0 for e in events), sum(e.output_tokens or 0 for e in events),
            math.fsum(e.cost_usd or 0.0 for e in events), sum(1 for e in events if e.cost_usd is None))


def assert_counted_in_children(event) -> None:
    assert (event.input_tokens, event.output_tokens, event.cost_usd) == (0, 0, 0.0)
    assert event.metadata_dict["usage_counted_in"] == COUNTED_IN


# --- the README's example ----------------------------------------------------------------------


def test_the_readme_example_around_an_instrumented_call_counts_the_usage_once(on, openai_client):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call",
                         cost_calculator=openai_cost_calculator)
    def generate_content(prompt: str):
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])

    response = generate_content("Say hello")
    assert response.usage.prompt_tokens == 42
    events = on.events()
    assert len(events) == 2  # the enclosing event still shows, in the trace
    [outer] = [e for e in events if e.agent_name == "persona_runtime"]
    [inner] = [e for e in events if e.agent_name == "llm"]
    assert inner.parent_span_id == outer.span_id and inner.trace_id == outer.trace_id
    assert (inner.input_tokens, inner.output_tokens, inner.model) == (42, 7, "gpt-4o-mini")
    assert inner.cost_usd == pytest.approx(OPENAI_COST)
    assert_counted_in_children(outer)
    assert outer.success and outer.event_type == "model_call"
    assert totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)

    # dev-system metrics, in a process of its own, reads the same totals
    report = json.loads(dev_system("metrics", "--db", str(on.db_path), "--period", "all", "--format", "json"))
    assert report["events"] == 2
    assert report["tokens"] == {"input": 42, "output": 7}
    assert report["cost_usd"]["total"] == pytest.approx(OPENAI_COST)
    assert report["cost_usd"]["unknown_cost_events"] == 0
    by_model = json.loads(dev_system("metrics", "--db", str(on.db_path), "--period", "all", "--format", "json",
                                     "--by", "model"))["breakdown"]["rows"]
    [row] = [r for r in by_model if r["key"] == "gpt-4o-mini"]
    assert (row["calls"], row["input_tokens"], row["output_tokens"]) == (1, 42, 7)
    # the trace shows both calls, the SDK call under the decorated one
    tree = dev_system("trace", outer.trace_id, "--db", str(on.db_path))
    assert "generate_content" in tree and "openai.chat.completions.create" in tree


def test_a_decorated_call_without_instrumentation_still_counts(recording, openai_client):
    configure(enabled=True, db_path=recording.db_path, sync=True)

    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call",
                         cost_calculator=openai_cost_calculator)
    def generate_content(prompt: str):
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    generate_content("hi")
    [event] = recording.events()
    assert (event.input_tokens, event.output_tokens, event.model) == (42, 7, "gpt-4o-mini")
    assert event.cost_usd == pytest.approx(OPENAI_COST)
    assert "usage_counted_in" not in event.metadata_dict


# --- several calls, deeper nesting, streams, async ---------------------------------------------


def test_several_instrumented_calls_inside_one_decorated_call(on, openai_client, anthropic_client):
    @telemetry_decorator(agent_name="tools", event_type="tool_call")
    def look_up():
        return anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)

    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def agent_turn():
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        look_up()
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    agent_turn()
    events = on.events()
    assert len(events) == 5
    [outer] = [e for e in events if e.agent_name == "agent"]
    [tool] = [e for e in events if e.agent_name == "tools"]
    sdk = [e for e in events if e.agent_name == "llm"]
    assert len(sdk) == 3 and all(e.trace_id == outer.trace_id for e in events)
    assert_counted_in_children(outer)
    assert (tool.input_tokens, tool.output_tokens, tool.cost_usd) == (0, 0, 0.0)
    assert totals(events) == (42 + 25 + 42, 7 + 12 + 7, pytest.approx(2 * OPENAI_COST + CLAUDE_COST), 0)


def test_nested_decorated_model_calls_without_instrumentation_count_the_innermost(recording, openai_client):
    configure(enabled=True, db_path=recording.db_path, sync=True)

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def write():
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    @telemetry_decorator(agent_name="agent", event_type="model_call", cost_calculator=openai_cost_calculator)
    def agent_turn():
        return write()

    agent_turn()
    events = recording.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    [inner] = [e for e in events if e.agent_name == "writer"]
    assert_counted_in_children(outer)
    assert (inner.input_tokens, inner.output_tokens) == (42, 7)
    assert totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)


def test_a_decorated_call_returning_an_instrumented_stream(on, openai_client):
    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def stream_reply():
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                     stream_options={"include_usage": True})

    for _ in stream_reply():  # read after the decorated call returned
        pass
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    [inner] = [e for e in events if e.agent_name == "llm"]
    assert_counted_in_children(outer)
    assert (inner.input_tokens, inner.output_tokens) == (42, 7)
    assert totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)


def test_a_decorated_generator_relaying_an_instrumented_stream(on, openai_client):
    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def relay():
        yield from openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                         stream_options={"include_usage": True})

    chunks = list(relay())
    assert chunks[-1].usage.prompt_tokens == 42
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    assert_counted_in_children(outer)
    assert totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)


def test_an_async_decorated_call_around_async_instrumented_calls(on, async_openai_client):
    @telemetry_decorator(agent_name="agent", event_type="model_call", cost_calculator=openai_cost_calculator)
    async def agent_turn():
        await asyncio.gather(*(async_openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                               for _ in range(2)))
        return await async_openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    asyncio.run(agent_turn())
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    assert_counted_in_children(outer)
    assert len(events) == 4
    assert totals(events) == (3 * 42, 3 * 7, pytest.approx(3 * OPENAI_COST), 0)


def test_instrumented_calls_in_threads_of_a_decorated_call(on, openai_client):
    from concurrent.futures import ThreadPoolExecutor

    from dev_system.ops.telemetry import propagate

    def ask():
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def fan_out():
        with ThreadPoolExecutor(2) as pool:
            return [f.result() for f in [pool.submit(propagate(ask)) for _ in range(2)]]

    fan_out()
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    assert_counted_in_children(outer)
    assert totals(events) == (2 * 42, 2 * 7, pytest.approx(2 * OPENAI_COST), 0)


def framework(module: str):
    """Import a framework the frameworks extra installs; skip without it, but fail in CI (CI=true)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{module} is not installed but CI is set: pip install -e '.[dev]' ({exc})", pytrace=False)
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")


def test_a_decorated_call_around_langchain(on, llm):
    langchain_openai = framework("langchain_openai")
    model = langchain_openai.ChatOpenAI(model="gpt-4o-mini", base_url=llm.url + "/v1", api_key="sk-test",
                                        max_retries=0)

    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def answer(prompt: str):
        return model.invoke(prompt)

    assert answer("hi").content == "Hello!"
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    assert_counted_in_children(outer)  # not "unknown cost" either: an AIMessage has no usage we read
    assert len(events) == 2 and totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)


def test_a_decorated_call_around_litellm(on, llm):
    litellm = framework("litellm")
    instrument("litellm")

    @telemetry_decorator(agent_name="agent", event_type="model_call")
    def answer(prompt: str):
        return litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": prompt}],
                                  api_base=llm.url + "/v1", api_key="sk-test", max_retries=0)

    response = answer("hi")
    assert response.usage.prompt_tokens == 42  # the same usage the decorated call returns
    events = on.events()
    [outer] = [e for e in events if e.agent_name == "agent"]
    assert_counted_in_children(outer)
    assert len(events) == 2 and totals(events) == (42, 7, pytest.approx(OPENAI_COST), 0)


# --- the pytest plugin: summary, JSON, JUnit, budgets, the fixture ------------------------------

APP = '''
import openai
from dev_system.ops.telemetry import telemetry_decorator, openai_cost_calculator

client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0, timeout=10.0)


@telemetry_decorator(agent_name="persona_runtime", event_type="model_call",
                     cost_calculator=openai_cost_calculator)
def generate_content(prompt: str):
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
'''

USER_TESTS = f'''
import pytest
from app import generate_content

COST = {OPENAI_COST!r}


@pytest.mark.telemetry_budget(max_tokens=49, max_cost_usd=COST * 1.5)
def test_one_call(telemetry):
    generate_content("hi")
    assert (telemetry.input_tokens, telemetry.output_tokens) == (42, 7)
    assert telemetry.total_cost_usd == pytest.approx(COST)
    assert telemetry.unknown_cost_calls == 0
    assert telemetry.calls == 2


@pytest.mark.telemetry_budget(max_tokens=98)
def test_two_calls(telemetry):
    generate_content("a")
    generate_content("b")
    assert telemetry.total_tokens == 98
'''


def _project(pytester: pytest.Pytester, url: str) -> pytest.Pytester:
    pytester.makepyfile(app=f"URL = {url!r}\n" + APP, test_readme=USER_TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_readme_example_under_pytest_counts_once_everywhere(pytester: pytest.Pytester, llm,
                                                                 workers) -> None:
    project = _project(pytester, llm.url)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *workers, "--telemetry", "--telemetry-db=t.db",
                                          "--telemetry-instrument=openai", "--telemetry-json=run.json",
                                          "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    cost = 3 * OPENAI_COST
    # the run summary
    result.stdout.fnmatch_lines(["Events: 6 from 2 of 2 tests", "Tokens: 126 in / 21 out"])
    assert "Unknown Cost" not in result.stdout.str()
    # the stored events: one per HTTP request the server answered owns the figures
    with sqlite3.connect(project.path / "t.db") as conn:
        rows = conn.execute("SELECT function_name, input_tokens, output_tokens, cost_usd, model, trace_id"
                            " FROM telemetry_events").fetchall()
    sdk = [r for r in rows if r[0] == "openai.chat.completions.create"]
    assert len(sdk) == 3 == len(llm.requests)
    assert all(r[1:5] == (42, 7, pytest.approx(OPENAI_COST), "gpt-4o-mini") for r in sdk)
    assert sorted(r[5] for r in sdk) == ["test_readme.py::test_one_call"] + ["test_readme.py::test_two_calls"] * 2
    assert sum(r[1] for r in rows) == 126 and math.fsum(r[3] for r in rows) == pytest.approx(cost)
    # the JSON report
    report = json.loads((project.path / "run.json").read_text())
    assert report["summary"]["tokens"] == {"input": 126, "output": 21}
    assert report["summary"]["cost_usd"]["total"] == pytest.approx(cost)
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert tests["test_readme.py::test_one_call"]["input_tokens"] == 42
    # JUnit XML
    props = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    assert props["test_one_call"]["telemetry_input_tokens"] == "42"
    assert props["test_two_calls"]["telemetry_output_tokens"] == "14"
    assert float(props["test_one_call"]["telemetry_cost_usd"]) == pytest.approx(OPENAI_COST)
    assert props["test_one_call"]["telemetry_unknown_cost_calls"] == "0"
    # dev-system metrics over the same database
    metrics = json.loads(dev_system("metrics", "--db", str(project.path / "t.db"), "--period", "all",
                                    "--format", "json"))
    assert metrics["tokens"] == {"input": 126, "output": 21}
    assert metrics["cost_usd"]["total"] == pytest.approx(cost)


def test_comparing_two_runs_of_the_readme_example_sees_no_change(pytester: pytest.Pytester, llm) -> None:
    project = _project(pytester, llm.url)
    base = ("-p", "no:cacheprovider", "--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=openai")
    project.runpytest_subprocess(*base).assert_outcomes(passed=2)
    second = project.runpytest_subprocess(*base, "--telemetry-compare", "--telemetry-compare-fail=cost:0%,tokens:0%")
    second.assert_outcomes(passed=2)
    assert second.ret == 0
    with sqlite3.connect(project.path / "t.db") as conn:
        per_run = conn.execute("SELECT run_id, SUM(input_tokens + output_tokens) FROM test_results GROUP BY run_id"
                               ).fetchall()
    assert [tokens for _, tokens in per_run] == [147, 147]


def test_the_html_report_of_a_run(pytester: pytest.Pytester, llm, tmp_path: Path) -> None:
    project = _project(pytester, llm.url)
    project.runpytest_subprocess("-p", "no:cacheprovider", "--telemetry", "--telemetry-db=t.db",
                                 "--telemetry-instrument=openai").assert_outcomes(passed=2)
    page = tmp_path / "report.html"
    dev_system("report", "--db", str(project.path / "t.db"), "--run", "latest", "--html", str(page))
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text(), re.S)
    cards = {card["id"]: card for card in json.loads(embedded.group(1))["cards"]}
    assert cards["calls"]["note"] == "147 tokens"
    assert cards["total_cost"]["value"] == format_usd(3 * OPENAI_COST)
    assert cards["total_cost"]["note"] is None  # no call of unknown cost
