"""What the reports say, in words: an unknown cost is never $0, a count of one is singular, `-q`
keeps the lines that say where something went or why no comparison was made, and telemetry's
telemetry's problems point at the user's line (or at none), never at a line of the library."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.analysis.periods import parse_period
from dev_system.render.html.page import collect_report
from dev_system.store import db as store
from fakes.eventgen import event, write_events

APP = '''
from dev_system.ops.telemetry import telemetry_decorator


def price(result):
    return 0.01


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=price)
def write(prompt):
    return prompt.upper()


@telemetry_decorator(agent_name="writer", event_type="model_call")
def unpriced(prompt):
    return prompt  # no usage in the result: the cost is unknown
'''

TESTS = '''
from agent_app import write, unpriced


def test_unpriced():
    unpriced("hi")


def test_mixed():
    write("hi")
    unpriced("hi")
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(agent_app=APP, test_w=TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    return pytester


def test_most_expensive_tests_never_show_an_unknown_cost_as_zero(project: pytest.Pytester) -> None:
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    assert result.ret == 0
    out = result.stdout.str()
    assert "$0.00" not in out.split("Most expensive tests")[1].split("Slowest")[0]
    result.stdout.re_match_lines([
        r"Most expensive tests \(top 2\):",
        r"\s+\$0\.01\s+0 tokens\s+2 calls  test_w\.py::test_mixed \(\+ 1 call of unknown cost\)$",
        r"\s+unknown\s+0 tokens\s+1 call  test_w\.py::test_unpriced$",
    ])
    result.stdout.fnmatch_lines(["Events: 3 from 2 of 2 tests"])


def test_one_test_is_singular(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent_app=APP, test_one="from agent_app import write\n\ndef test_one():\n    write('x')\n")
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    result = pytester.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["Events: 1 from 1 of 1 test", "*$0.01*1 call  test_one.py::test_one"])
    quiet = pytester.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider", "-q")
    quiet.stdout.fnmatch_lines(["telemetry: 1 event, 100.0% success, *"])


def test_quiet_keeps_where_the_html_went_and_why_nothing_was_compared(project: pytest.Pytester) -> None:
    result = project.runpytest("-q", "--telemetry-db=t.db", "--telemetry-html=out/report.html",
                               "--telemetry-compare", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert (project.path / "out" / "report.html").is_file()
    result.stdout.fnmatch_lines([
        f"telemetry: 3 events, *(run * -> {project.path / 't.db'})",
        "Telemetry comparison: no earlier completed run of the same tests in the database; nothing to compare with",
        f"telemetry: HTML report written to {project.path / 'out' / 'report.html'}",
    ])


def test_combine_counts_in_words(project: pytest.Pytester) -> None:
    project.makepyfile(test_w="from agent_app import write\n\ndef test_one():\n    write('x')\n")
    assert project.runpytest("--telemetry", "--telemetry-db=part.db", "-p", "no:cacheprovider").ret == 0
    done = subprocess.run([sys.executable, "-m", "dev_system", "combine", "part.db", "--into", "all.db"],
                          cwd=project.path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "1 new event, 1 test result, 1 new run part" in done.stdout + done.stderr


def test_the_html_report_says_one_call_of_unknown_cost(tmp_path: Path) -> None:
    now = 1_793_100_000.0
    db = write_events(tmp_path / "t.db", [event(now - 60, cost_usd=0.01), event(now - 30, cost_usd=None)])
    with store.connect(db, readonly=True) as conn:
        data = collect_report(conn, parse_period("1h", now=now), now=now)
    notes = [card.get("note") for card in data["cards"]]
    assert "+ 1 call of unknown cost" in notes
    assert "1 call of unknown cost is not in the cost figures." in data["notes"]


# -- where telemetry's problems point ----------------------------------------------------------

USER_CODE = '''
import logging
logging.basicConfig(format="%(pathname)s:%(lineno)d: %(levelname)s: %(message)s")
from dev_system.ops.telemetry import telemetry_decorator, configure, flush

configure(enabled=True, db_path="w.db")


def bad_price(result):
    raise ValueError("no price")


@telemetry_decorator(agent_name="a", event_type="model_call", cost_calculator=bad_price)
def call(x):
    return x


call(1)  # the line the problem points at
flush()
'''


def test_a_problem_points_at_the_users_line(tmp_path: Path) -> None:
    (tmp_path / "user_code.py").write_text(USER_CODE)
    done = subprocess.run([sys.executable, "user_code.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if "dev-system telemetry" in line)
    assert line.startswith(f"{tmp_path / 'user_code.py'}:18: WARNING: dev-system telemetry: cost calculator")


def test_a_problem_with_no_user_code_on_the_stack_points_at_no_line(tmp_path: Path, caplog) -> None:
    """A problem the background writer meets (the database became a folder) has no caller of the user's."""
    from dev_system.ops.telemetry import configure, telemetry_decorator
    from dev_system.record.recorder import get_recorder

    configure(enabled=True, db_path=tmp_path / "w.db")

    @telemetry_decorator(agent_name="a", event_type="tool_call")
    def call() -> None:
        pass

    call()
    rec = get_recorder()
    rec.flush()
    (tmp_path / "w.db").unlink()
    (tmp_path / "w.db").mkdir()
    dropped = rec.dropped
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        call()
        rec.wake.set()
        for _ in range(400):  # the writer stores within a flush interval
            if rec.dropped > dropped:
                break
            time.sleep(0.025)
    found = [r for r in caplog.records if r.name == "dev_system"]
    assert found, "the writer reported nothing"
    assert (found[0].pathname, found[0].lineno) == ("dev-system", 0)
    assert "could not store 1 event (" in found[0].getMessage() and "it is counted as dropped" in found[0].getMessage()


def test_the_html_tests_table_never_shows_an_unknown_cost_as_zero(project: pytest.Pytester) -> None:
    assert project.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider").ret == 0
    with store.connect(project.path / "t.db", readonly=True) as conn:
        (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
        data = collect_report(conn, parse_period("all"), run_id=run_id)
    costs = {row["nodeid"]: row["cost"] for row in data["run"]["tests"]["rows"]}
    assert costs == {"test_w.py::test_unpriced": "unknown",
                     "test_w.py::test_mixed": "$0.01 + 1 call of unknown cost"}
