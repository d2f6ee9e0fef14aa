"""Scores in a pytest run: recorded through the ``telemetry`` fixture or ``score(...)`` in the code
a test runs, stored with the run and the test, visible to the test itself with or without
``--telemetry``; real pytest runs (pytester) on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

APP = '''
from dev_system.ops.telemetry import score, telemetry_decorator


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: 0.01)
def write(prompt):
    score("faithfulness", 0.5 if "bad" in prompt else 1.0)
    return prompt.upper()
'''

TESTS = '''
from agent_app import write

def test_one(telemetry):
    write("good")
    telemetry.score("correctness", 0.9)
    telemetry.score("correctness", 0.7, comment="second try")
    assert telemetry.score_means == {"faithfulness": 1.0, "correctness": 0.8}
    assert [s.name for s in telemetry.scores] == ["faithfulness", "correctness", "correctness"]

def test_two(telemetry):
    write("bad")
    telemetry.score("correctness", 0.5)

def test_none():
    write("good")
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("DEV_SYSTEM_TELEMETRY", "DEV_SYSTEM_RUN_ID", "DEV_SYSTEM_DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(agent_app=APP)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    return pytester


def score_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT s.run_id = r.run_id, s.nodeid, s.trace_id, s.name, s.value, s.comment "
                            "FROM scores s LEFT JOIN runs r ON r.run_id = s.run_id ORDER BY s.id").fetchall()


def test_scores_are_stored_with_their_run_and_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    result.assert_outcomes(passed=3)
    rows = score_rows(project.path / "t.db")
    one, two, none = "test_app.py::test_one", "test_app.py::test_two", "test_app.py::test_none"
    assert rows == [
        (1, one, one, "faithfulness", 1.0, None),
        (1, one, one, "correctness", 0.9, None),
        (1, one, one, "correctness", 0.7, "second try"),
        (1, two, two, "faithfulness", 0.5, None),
        (1, two, two, "correctness", 0.5, None),
        (1, none, none, "faithfulness", 1.0, None),
    ]


def test_scores_work_for_the_test_without_telemetry(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest()
    result.assert_outcomes(passed=3)
    assert not (project.path / ".dev-system").exists()


@pytest.mark.parametrize("args", [(), ("--telemetry", "--telemetry-db=t.db")])
def test_bad_input_through_the_fixture_is_one_clear_error_at_the_call(project: pytest.Pytester,
                                                                       args: tuple[str, ...]) -> None:
    project.makepyfile(test_bad='''
import math

def test_nan(telemetry):
    telemetry.score("correctness", math.nan)

def test_name(telemetry):
    telemetry.score("not a name", 0.5)
''')
    result = project.runpytest(*args)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*telemetry.score(\"correctness\", math.nan)*",
        "E *ScoreError: score 'correctness': the value must be finite, not nan",
    ])
    result.stdout.fnmatch_lines(["E *ScoreError: a score name must be an identifier*'not a name'"])
    assert "scores.py" not in result.stdout.str()  # the traceback ends at the test's own line


def test_the_summary_has_a_scores_block(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    result.assert_outcomes(passed=3)
    # correctness: test_one 0.8 (mean of 0.9 and 0.7), test_two 0.5; faithfulness 1.0, 0.5, 1.0
    result.stdout.fnmatch_lines([
        "Scores (mean over tests):",
        "  correctness   0.65  2 tests, min 0.50 (test_app.py::test_two)",
        "  faithfulness  0.83  3 tests, min 0.50 (test_app.py::test_two)",
    ])


def test_the_quiet_summary_keeps_the_scores_on_its_one_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "-q")
    result.stdout.fnmatch_lines(["telemetry: 3 events, *, correctness 0.65, faithfulness 0.83 (run *"])
    assert "Scores (mean over tests):" not in result.stdout.str()


def test_the_json_report_has_the_scores(project: pytest.Pytester) -> None:
    import json

    project.makepyfile(test_app=TESTS)
    project.runpytest("--telemetry-db=t.db", "--telemetry-json=run.json").assert_outcomes(passed=3)
    document = json.loads((project.path / "run.json").read_text())
    assert document["scores"] == [
        {"name": "correctness", "mean": pytest.approx(0.65), "min": 0.5, "min_test": "test_app.py::test_two",
         "tests": 2, "values": 3},
        {"name": "faithfulness", "mean": pytest.approx(2.5 / 3), "min": 0.5, "min_test": "test_app.py::test_two",
         "tests": 3, "values": 3},
    ]
    assert document["summary"]["scores"] == document["scores"]


def test_junit_has_each_tests_score_means(project: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    project.makepyfile(test_app=TESTS)
    project.runpytest("--telemetry", "--telemetry-db=t.db", "--junitxml=junit.xml").assert_outcomes(passed=3)
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(project.path / "junit.xml").iter("testcase")}
    assert float(cases["test_one"]["telemetry_score_correctness"]) == pytest.approx(0.8)
    assert float(cases["test_one"]["telemetry_score_faithfulness"]) == 1.0
    assert float(cases["test_two"]["telemetry_score_correctness"]) == 0.5
    assert "telemetry_score_correctness" not in cases["test_none"]
    assert cases["test_none"]["telemetry_calls"] == "1"


@pytest.mark.parametrize("how", ["pyproject", "ini", "env", "option"])
def test_a_run_mean_below_its_minimum_is_an_alert_and_fails_the_gate(project: pytest.Pytester, how: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_app=TESTS)
    args = ["--telemetry-db=t.db", "--telemetry-gate"]
    if how == "env":
        monkeypatch.setenv("DEV_SYSTEM_SCORE_MIN", "correctness:0.7,faithfulness:0.5")
    elif how == "pyproject":
        project.makefile(".toml", pyproject="[tool.dev-system.scores]\ncorrectness = 0.7\nfaithfulness = 0.5\n")
    elif how == "ini":
        project.makeini("[pytest]\ntelemetry_score_min = correctness:0.7 faithfulness:0.5\n")
    else:
        args += ["--telemetry-score-min=correctness:0.7", "--telemetry-score-min=faithfulness:0.5"]
    result = project.runpytest(*args)
    result.assert_outcomes(passed=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["  - Low score correctness: mean 0.65 (threshold 0.70)",
                                 "FAIL telemetry gate: Low score correctness: mean 0.65 (threshold 0.70)"])
    assert "Low score faithfulness" not in result.stdout.str()


def test_a_run_above_its_minimums_passes_the_gate(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry-db=t.db", "--telemetry-gate", "--telemetry-score-min=correctness:0.6")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    assert "Low score" not in result.stdout.str()


@pytest.mark.parametrize(("value", "shown"), [
    ("correctness", "'correctness'"),
    ("correctness:high", "'correctness:high'"),
    ("bad-name:0.5", "'bad-name:0.5'"),
    ("correctness:nan", "'correctness:nan'"),
])
def test_a_bad_score_minimum_is_one_usage_error(project: pytest.Pytester, value: str, shown: str) -> None:
    project.makepyfile(test_app=TESTS)
    for args in (["--telemetry", f"--telemetry-score-min={value}"], [f"--telemetry-score-min={value}"]):
        result = project.runpytest(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: telemetry: invalid value {shown} for --telemetry-score-min (score names*"])
        assert "Traceback" not in result.stderr.str()


MARKED = '''
import pytest
from dev_system.ops.telemetry import score

@pytest.mark.telemetry_budget(min_scores={"correctness": 0.7})
def test_low(telemetry):
    telemetry.score("correctness", 0.9)
    telemetry.score("correctness", 0.4)

@pytest.mark.telemetry_budget(min_scores={"correctness": 0.7})
def test_high():
    score("correctness", 0.75)

@pytest.mark.telemetry_budget(min_scores={"correctness": 0.7})
def test_missing():
    pass
'''


@pytest.mark.parametrize("args", [(), ("--telemetry", "--telemetry-db=t.db")])
def test_min_scores_fails_a_test_whose_mean_is_below(project: pytest.Pytester, args: tuple[str, ...]) -> None:
    project.makepyfile(test_marked=MARKED)
    result = project.runpytest(*args)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_low _*", "telemetry budget exceeded: score correctness 0.65 < min_scores 0.70",
        "*_ test_missing _*", "telemetry budget exceeded: score correctness was not recorded (min_scores 0.70)",
    ])


def test_a_bad_min_scores_is_one_clear_failure(project: pytest.Pytester) -> None:
    project.makepyfile(test_marked='''
import pytest

@pytest.mark.telemetry_budget(min_scores={"correctness": "high"})
def test_bad():
    pass
''')
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    assert "telemetry_budget: min_scores['correctness'] must be a finite number, not 'high'" in result.stdout.lines


def dev_system(project: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=project.path, capture_output=True,
                          text=True, timeout=120)


def test_metrics_of_a_run_shows_its_scores_and_their_alerts(project: pytest.Pytester) -> None:
    import json

    project.makepyfile(test_app=TESTS)
    project.makefile(".toml", pyproject="[tool.dev-system.scores]\ncorrectness = 0.7\n")
    project.runpytest("--telemetry", "--telemetry-db=t.db").assert_outcomes(passed=3)
    text = dev_system(project, "metrics", "--db", "t.db", "--run", "latest", "--period", "all")
    assert text.returncode == 0, text.stderr
    assert "Scores (mean over tests):" in text.stdout
    assert "  correctness   0.65  2 tests, min 0.50 (test_app.py::test_two)" in text.stdout
    assert "  - Low score correctness: mean 0.65 (threshold 0.70)" in text.stdout
    document = json.loads(dev_system(project, "metrics", "--db", "t.db", "--run", "latest", "--period", "all",
                                     "--format", "json").stdout)
    assert [(s["name"], s["tests"]) for s in document["scores"]] == [("correctness", 2), ("faithfulness", 3)]
    assert document["thresholds"]["score_min"] == {"correctness": 0.7}
    markdown = dev_system(project, "metrics", "--db", "t.db", "--run", "latest", "--period", "all",
                          "--format", "markdown").stdout
    assert "### Scores" in markdown
    assert [line.split("|")[1:6] for line in markdown.splitlines() if line.startswith("| correctness")] == [
        [" correctness  ", " 0.65   ", " 0.50  ", " test_app.py::test_two ", " 2       "]]
    rows = dev_system(project, "metrics", "--db", "t.db", "--run", "latest", "--period", "all",
                      "--format", "csv").stdout.splitlines()
    assert "score:correctness,0.65" in rows and "alert,Low score correctness: mean 0.65 (threshold 0.70)" in rows
    window = dev_system(project, "metrics", "--db", "t.db", "--period", "all")
    assert "Scores" not in window.stdout  # a window of several runs has no score figures


def test_a_run_exports_its_scores_as_evaluation_spans_of_their_test(project: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.proto")
    from fakes.otlp_receiver import OtlpReceiver

    project.makepyfile(test_app=TESTS)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        result = project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db")
        result.assert_outcomes(passed=3)
        spans = receiver.wait_for(9)  # 3 calls, 6 scores
    evaluations = [span for span in spans if span.name.startswith("evaluation ")]
    assert sorted((s.attributes["test.case.name"], s.name, s.attributes["gen_ai.evaluation.score.value"])
                  for s in evaluations) == [
        ("test_app.py::test_none", "evaluation faithfulness", 1.0),
        ("test_app.py::test_one", "evaluation correctness", 0.7),
        ("test_app.py::test_one", "evaluation correctness", 0.9),
        ("test_app.py::test_one", "evaluation faithfulness", 1.0),
        ("test_app.py::test_two", "evaluation correctness", 0.5),
        ("test_app.py::test_two", "evaluation faithfulness", 0.5),
    ]
    calls = {span.attributes["test.case.name"]: span for span in spans if not span.name.startswith("evaluation ")}
    for span in evaluations:  # in the trace of the test that recorded it, with the GenAI event
        assert span.trace_id == calls[span.attributes["test.case.name"]].trace_id
        assert [event[0] for event in span.events] == ["gen_ai.evaluation.result"]


def test_scores_of_xdist_workers_reach_the_summary_and_junit(project: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    pytest.importorskip("xdist")
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db", "-n", "2", "--junitxml=junit.xml")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["  correctness   0.65  2 tests, min 0.50 (test_app.py::test_two)"])
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(project.path / "junit.xml").iter("testcase")}
    assert float(cases["test_one"]["telemetry_score_correctness"]) == pytest.approx(0.8)
    assert len(score_rows(project.path / "t.db")) == 6


def test_a_bad_minimum_in_pyproject_is_one_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    project.makefile(".toml", pyproject='[tool.dev-system.scores]\ncorrectness = "high"\n')
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: telemetry: *pyproject.toml ?tool.dev-system?: invalid value "
                                 "{'correctness': 'high'} for scores (score names*"])
