"""Scores in comparisons: ``--telemetry-compare`` and ``dev-system compare`` show the change of
each score next to cost and latency, and ``--telemetry-compare-fail`` / ``--fail`` fail a run
whose mean of a score fell by more than its limit; real pytest runs on real SQLite files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

APP = '''
import os
from dev_system.ops.telemetry import telemetry_decorator

SHORT = os.environ.get("PROMPT") == "short"


@telemetry_decorator(agent_name="support", event_type="model_call",
                     cost_calculator=lambda result: 0.006 if SHORT else 0.01)
def answer(question):
    return "yes" if SHORT else "yes, because the order shipped on Monday"
'''

TESTS = '''
import os
from agent_app import answer

SHORT = os.environ.get("PROMPT") == "short"

def test_refund(telemetry):
    answer("refund?")
    telemetry.score("correctness", 0.90 if SHORT else 0.95)

def test_shipping(telemetry):
    answer("where is it?")
    telemetry.score("correctness", 0.80 if SHORT else 0.85)
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("DEV_SYSTEM_TELEMETRY", "DEV_SYSTEM_RUN_ID", "DEV_SYSTEM_DB_PATH", "PROMPT"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(agent_app=APP, test_app=TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db=t.db")  # the baseline, long prompt
    result.assert_outcomes(passed=2)
    monkeypatch.setenv("PROMPT", "short")
    return pytester


def test_the_comparison_shows_each_score_next_to_cost(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--telemetry-db=t.db", "--telemetry-compare")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "Compared with run *",
        "  cost: $0.02 -> $0.01  -$0.0080 (-40%)",
        "  score correctness: 0.90 -> 0.85  -0.05 (-6%)",
        "Tests that changed:",
        "  test * cost * scores",
        "  test_app.py::test_refund *-$0.0040 (-40%) * correctness 0.95 -> 0.90",
        "  test_app.py::test_shipping *-$0.0040 (-40%) * correctness 0.85 -> 0.80",
    ])
    assert result.ret == 0


@pytest.mark.parametrize(("limit", "fails"), [
    ("score.correctness:5%", True),   # fell 5.9%
    ("score.correctness:6%", False),
    ("score.correctness:0.04", True),  # fell 0.05
    ("score.correctness:0.05", False),
    ("cost:10%,score.correctness:10%", False),
])
def test_compare_fail_judges_the_fall_of_a_score(project: pytest.Pytester, limit: str, fails: bool) -> None:
    result = project.runpytest_subprocess("--telemetry-db=t.db", f"--telemetry-compare-fail={limit}",
                                          "--telemetry-json=run.json")
    result.assert_outcomes(passed=2)
    document = json.loads((project.path / "run.json").read_text())
    assert document["comparison"]["scores"]["correctness"]["base"] == pytest.approx(0.90)
    assert document["comparison"]["scores"]["correctness"]["new"] == pytest.approx(0.85)
    assert document["comparison"]["tests"]["test_app.py::test_refund"]["scores"]["correctness"]["new"] == \
        pytest.approx(0.90)
    if fails:
        assert result.ret == 1
        result.stdout.fnmatch_lines(["FAIL telemetry compare: score correctness fell from 0.90 to 0.85 "
                                     "(-0.05, -5.6%) against run * (limit -*)"])
        assert [r["metric"] for r in document["comparison"]["regressions"]] == ["score.correctness"]
    else:
        assert result.ret == 0, result.stdout.str()
        assert document["comparison"]["regressions"] == []


def test_a_score_the_new_run_no_longer_records_fails_its_limit(project: pytest.Pytester) -> None:
    project.makepyfile(test_app='''
from agent_app import answer

def test_refund():
    answer("refund?")

def test_shipping():
    answer("where is it?")
''')
    result = project.runpytest_subprocess("--telemetry-db=t.db", "--telemetry-compare-fail=score.correctness:50%")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAIL telemetry compare: score correctness was not recorded (it was 0.90) "
                                 "against run * (limit -50%)"])


@pytest.mark.parametrize("limit", ["score.:5%", "score.bad-name:5%", "score.correctness:five"])
def test_a_bad_score_limit_is_one_usage_error(project: pytest.Pytester, limit: str) -> None:
    result = project.runpytest_subprocess("--telemetry-db=t.db", f"--telemetry-compare-fail={limit}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: telemetry: --telemetry-compare-fail: *"])
    assert "Traceback" not in result.stderr.str()


def test_dev_system_compare_shows_and_judges_the_scores(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db").assert_outcomes(passed=2)

    def dev_system(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dev_system", "compare", "latest~1", "latest", "--db", "t.db",
                               *args], cwd=project.path, capture_output=True, text=True, timeout=120)

    text = dev_system()
    assert text.returncode == 0, text.stderr
    assert "  score correctness: 0.90 -> 0.85  -0.05 (-6%)" in text.stdout
    assert "correctness 0.95 -> 0.90" in text.stdout
    failed = dev_system("--fail", "score.correctness:0.01")
    assert failed.returncode == 1
    assert "FAIL score correctness fell from 0.90 to 0.85 (-0.05, -5.6%)" in failed.stdout
    document = json.loads(dev_system("--format", "json").stdout)
    assert set(document["scores"]) == {"correctness"}
