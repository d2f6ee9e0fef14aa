"""Helpers for the tests that drive real agent frameworks against the fake provider server.

Each framework test writes a small user test suite that calls the framework with the fake
server's address (``FAKE_LLM_URL`` in the environment), runs it with pytester under
``pytest --telemetry --telemetry-instrument=openai,anthropic`` (alone and with ``-n 2``) and
without ``--telemetry``, and compares the stored events with what the server answered:
:func:`check_recorded`.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fake_llm_server import anthropic_message, chat_completion, response_object

#: CI sets ``CI=true``: there a missing framework fails its tests instead of skipping them.
REQUIRED = os.environ.get("CI", "").lower() not in ("", "0", "false")


def require(module: str, install: str = "pip install -e '.[dev]'") -> object:
    """Import ``module``, or skip the calling test module; in CI, fail instead of skipping.
    ``install`` says how to get it."""
    try:
        return __import__(module)
    except ImportError as exc:
        if REQUIRED:
            pytest.fail(f"{module} is not installed but CI is set: {install} ({exc})", pytrace=False)
        pytest.skip(f"{module} is not installed ({install})", allow_module_level=True)


TELEMETRY = ("--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=openai,anthropic")


def sent_usage(path: str, request: dict) -> tuple[str, int, int] | None:
    """(provider, input tokens, output tokens) the server's default replies carry for a request
    (the scripted replies of these tests carry the same usage)."""
    if path.endswith("/chat/completions"):
        if request.get("stream") and not (request.get("stream_options") or {}).get("include_usage"):
            return None
        usage = chat_completion()["usage"]
        return "openai", usage["prompt_tokens"], usage["completion_tokens"]
    if path.endswith("/responses"):
        usage = response_object()["usage"]
        return "openai", usage["input_tokens"], usage["output_tokens"]
    if path.endswith("/messages"):
        usage = anthropic_message()["usage"]
        return "anthropic", usage["input_tokens"], usage["output_tokens"]
    raise AssertionError(f"no usage known for {path}")


def price(provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
    """The cost genai-prices gives for a usage, computed here without the project's code."""
    import genai_prices

    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(genai_prices.calc_price(usage, model_ref=model, provider_id=provider).total_price)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def check_recorded(db: Path, requests: list[tuple[str, dict]], node_of: Callable[[dict], str]) -> None:
    """Every request the server answered is one ``model_call`` event of the test that sent it
    (``node_of(request)``), with the tokens the server sent, the model answered, the cost
    genai-prices gives, and no other model-call event; each test's stored figures add up."""
    expected: dict[str, list[tuple]] = {}
    for path, request in requests:
        provider, input_tokens, output_tokens = sent_usage(path, request)
        model = request["model"]
        cost = price(provider, model, input_tokens, output_tokens)
        expected.setdefault(node_of(request), []).append((input_tokens, output_tokens, model, round(cost, 12)))
    recorded: dict[str, list[tuple]] = {}
    for trace_id, input_tokens, output_tokens, model, cost in rows(
            db, "SELECT trace_id, input_tokens, output_tokens, model, cost_usd FROM telemetry_events"
                " WHERE event_type = 'model_call'"):
        cost = None if cost is None else round(cost, 12)
        recorded.setdefault(trace_id, []).append((input_tokens, output_tokens, model, cost))
    assert {node: sorted(calls, key=repr) for node, calls in recorded.items()} == \
           {node: sorted(calls, key=repr) for node, calls in expected.items()}
    totals = {nodeid: (events, input_tokens, output_tokens, cost)
              for nodeid, events, input_tokens, output_tokens, cost in rows(
                  db, "SELECT nodeid, events, input_tokens, output_tokens, cost_usd FROM test_results")}
    for node, calls in expected.items():
        assert totals[node] == (len(calls), sum(c[0] for c in calls), sum(c[1] for c in calls),
                                pytest.approx(sum(c[3] for c in calls), rel=1e-9)), node


def node_by_marker(module: str) -> Callable[[dict], str]:
    """A ``node_of`` for :func:`check_recorded`: the user tests put ``[their name]`` in every prompt."""

    def node_of(request: dict) -> str:
        names = set(re.findall(r"\[(test_\w+)\]", json.dumps(request)))
        assert len(names) == 1, (names, request)
        return f"{module}::{names.pop()}"

    return node_of


MODES = {"telemetry": TELEMETRY, "xdist": (*TELEMETRY, "-n", "2"), "plain": ()}


def run_user_suite(pytester: pytest.Pytester, server: object, mode: str, module: str, source: str,
                   **outcomes: int) -> pytest.RunResult:
    """Run the user suite ``source`` (saved as ``module``) in a pytest subprocess, in ``mode``
    (``telemetry``, ``xdist`` = the same with ``-n 2``, ``plain`` = without ``--telemetry``);
    assert its outcomes, and with telemetry what was recorded (:func:`check_recorded`)."""
    pytester.makepyfile(**{module.removesuffix(".py"): source})
    result = pytester.runpytest_subprocess(*MODES[mode])
    result.assert_outcomes(**outcomes)
    db = pytester.path / "t.db"
    if mode == "plain":
        assert not db.exists()
    else:
        assert server.requests, "the suite sent no request"
        check_recorded(db, server.requests, node_by_marker(module))
    return result
