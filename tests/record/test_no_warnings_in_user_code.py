"""Telemetry's own problems never enter the user's warnings context.

A warning emitted from inside the user's SDK call would be caught by the user's
``pytest.warns(...)`` or ``warnings.catch_warnings(record=True)`` block, and ``-W error`` would
turn it into a failure of the user's test. So problems go to the ``dev_system`` logger, the
summary, ``stats()`` and the CLI, and a suite behaves the same with and without telemetry.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from dev_system.ops.instrument import instrument_openai, uninstrument
from dev_system.ops.telemetry import flush, stats, telemetry_decorator
from fakes.fake_llm_server import llm, llm_server, openai_client  # noqa: F401  (fixtures)

UNPRICED = "my-private-model-x7"

USER_TEST = f'''
import warnings

import openai
import pytest


def sdk_call(url):
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=5.0)
    try:
        return client.chat.completions.create(model="{UNPRICED}", messages=[{{"role": "user", "content": "hi"}}])
    finally:
        client.close()


def test_deprecated_model_warning():
    with pytest.warns(DeprecationWarning) as caught:
        warnings.warn("model is deprecated", DeprecationWarning)
        reply = sdk_call(URL)
    assert reply.usage.prompt_tokens == 42
    assert [str(w.message) for w in caught] == ["model is deprecated"]


def test_recorded_block_sees_only_its_own_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sdk_call(URL)
    assert caught == []
'''


def _project(pytester: pytest.Pytester, url: str) -> pytest.Pytester:
    pytester.makepyfile(test_user=f"URL = {url!r}\n" + USER_TEST)
    pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    return pytester


def _stored(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT model, input_tokens, output_tokens, cost_usd FROM telemetry_events").fetchall()


def test_pytest_warns_under_warnings_as_errors_passes_with_and_without_telemetry(pytester: pytest.Pytester,
                                                                                  llm) -> None:
    project = _project(pytester, llm.url)
    without = project.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    without.assert_outcomes(passed=2)
    with_telemetry = project.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--telemetry",
                                                  "--telemetry-db=t.db", "--telemetry-instrument=openai",
                                                  "--telemetry-json=run.json")
    with_telemetry.assert_outcomes(passed=2)
    assert _stored(project.path / "t.db") == [(UNPRICED, 42, 7, None)] * 2  # recorded, cost unknown
    # the problem is still visible: in the summary, with its message, and in the JSON report
    with_telemetry.stdout.fnmatch_lines(["Telemetry problems: 2 *", f"*no price known for model '{UNPRICED}'*"])
    report = json.loads((project.path / "run.json").read_text())
    assert report["telemetry_problems"] == 2  # two calls, one kind
    assert UNPRICED in report["telemetry_problem_messages"][f"unknown-price:{UNPRICED}"]


def test_the_same_under_xdist(pytester: pytest.Pytester, llm) -> None:
    project = _project(pytester, llm.url)
    result = project.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "-n", "2", "--telemetry",
                                          "--telemetry-db=t.db", "--telemetry-instrument=openai")
    result.assert_outcomes(passed=2)
    assert _stored(project.path / "t.db") == [(UNPRICED, 42, 7, None)] * 2
    result.stdout.fnmatch_lines(["Telemetry problems: *", f"*no price known for model '{UNPRICED}'*"])


def test_in_process_a_problem_is_logged_counted_and_never_warned(recording, openai_client, caplog) -> None:
    instrument_openai()
    try:
        with caplog.at_level(logging.WARNING, logger="dev_system"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("error")  # a warning would raise here
                for _ in range(3):
                    openai_client.chat.completions.create(model=UNPRICED, messages=[{"role": "user", "content": "x"}])
    finally:
        uninstrument("openai")
    flush()
    assert caught == []
    logged = [r for r in caplog.records if r.name == "dev_system"]
    assert len(logged) == 1 and UNPRICED in logged[0].getMessage()
    assert logged[0].pathname == __file__  # the user's line that led to it
    assert stats()["problems"][f"unknown-price:{UNPRICED}"] == 3
    assert UNPRICED in stats()["problem_messages"][f"unknown-price:{UNPRICED}"]
    assert [e.model for e in recording.events()] == [UNPRICED] * 3


def test_a_failing_cost_calculator_is_not_a_warning_either(recording, caplog) -> None:
    fn = telemetry_decorator(agent_name="m", event_type="model_call", cost_calculator=lambda r: 1 / 0)(lambda: "r")
    with caplog.at_level(logging.WARNING, logger="dev_system"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [fn() for _ in range(2)] == ["r", "r"]
    [logged] = [r.getMessage() for r in caplog.records if r.name == "dev_system"]
    assert logged.startswith("dev-system telemetry: cost calculator ") and "ZeroDivisionError" in logged
    assert sum(stats()["problems"].values()) == 2


def test_a_script_without_logging_configured_shows_the_problem_on_stderr(tmp_path: Path, llm) -> None:
    script = tmp_path / "app.py"
    script.write_text(f'''
import warnings
warnings.simplefilter("error")
import openai
from dev_system.ops.instrument import instrument_openai
from dev_system.ops.telemetry import configure, flush, stats
configure(enabled=True, db_path={str(tmp_path / "t.db")!r})
instrument_openai()
client = openai.OpenAI(base_url={llm.url + "/v1"!r}, api_key="sk-test", max_retries=0)
client.chat.completions.create(model="{UNPRICED}", messages=[{{"role": "user", "content": "x"}}])
flush()
print("problems", sum(stats()["problems"].values()))
''')
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "problems 1" in done.stdout
    assert f"dev-system telemetry: no price known for model '{UNPRICED}'" in done.stderr
    assert "Warning" not in done.stderr
