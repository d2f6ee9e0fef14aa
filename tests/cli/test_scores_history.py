"""``dev-system scores`` and ``dev-system history``: the real command in a subprocess, on a database
written by three real ``pytest --telemetry`` runs of a small suite whose calls get cheaper run by run."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

SUITE = '''
import os
from dev_system.ops.telemetry import telemetry_decorator

PRICE = float(os.environ["DEMO_PRICE"])


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: PRICE)
def write(prompt):
    return prompt.upper()


def test_answer():
    write("a")
    write("b")


def test_cheap():
    write("x")


def test_plain():
    pass
'''
PRICES = (0.01, 0.008, 0.005)
ANSWER = "test_suite.py::test_answer"
CHEAP = "test_suite.py::test_cheap"
#: The scores each run records (run index, node id, name, value), several values of one name in a test too.
SCORES = [
    (0, ANSWER, "correctness", 0.9), (0, ANSWER, "correctness", 1.0), (0, CHEAP, "correctness", 0.8),
    (1, ANSWER, "correctness", 0.9), (1, CHEAP, "correctness", 0.7),
    (2, ANSWER, "correctness", 0.8), (2, ANSWER, "tone", 0.5), (2, CHEAP, "correctness", 0.7),
    (2, CHEAP, "correctness", 0.5),
]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Three real runs of SUITE, oldest first, and SCORES stored for them; the database and the run ids."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "test_suite.py").write_text(SUITE)
    (folder / "pyproject.toml").write_text("[tool.dev-system]\n")
    path = folder / "t.db"
    for price in PRICES:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}, "DEMO_PRICE": str(price)}
        done = subprocess.run([sys.executable, "-m", "pytest", "--telemetry", f"--telemetry-db={path}", "-q",
                               "-p", "no:cacheprovider", "test_suite.py"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(path) as conn:
        run_ids = [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY started_at")]
        assert len(run_ids) == 3
        conn.executemany(
            "INSERT INTO scores (score_id, timestamp, run_id, nodeid, trace_id, name, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(uuid.uuid4().hex, 0.0, run_ids[i], nodeid, nodeid, name, value) for i, nodeid, name, value in SCORES])
    return path, run_ids


def md_rows(markdown: str) -> list[list[str]]:
    """The cells of a Markdown table's rows, stripped."""
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|")]


def ok(*args: str, db: Path) -> str:
    done = run(*args, "--db", str(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


# --- scores ------------------------------------------------------------------------------------


def test_scores_of_the_latest_run_per_name(db):
    path, run_ids = db
    report = json.loads(ok("scores", "--format", "json", db=path))
    assert report["run_id"] == run_ids[2]
    by_name = {s["name"]: s for s in report["scores"]}
    # per-test means first: answer 0.8, cheap (0.7 + 0.5) / 2 = 0.6
    assert by_name["correctness"]["mean"] == pytest.approx(0.7)
    assert by_name["correctness"]["min"] == pytest.approx(0.6)
    assert by_name["correctness"]["min_test"] == CHEAP
    assert by_name["correctness"]["tests"] == 2
    assert by_name["tone"] == {"name": "tone", "mean": 0.5, "min": 0.5, "min_test": ANSWER, "tests": 1, "values": 1}
    text = ok("scores", db=path)
    assert f"Scores of run {run_ids[2]}" in text
    line = next(line for line in text.splitlines() if line.startswith("correctness"))
    assert line.split()[:5] == ["correctness", "0.70", "0.60", CHEAP, "2"]


@pytest.mark.parametrize("name", ["latest~2", "RUN0", "PREFIX0"])
def test_scores_of_a_named_run(db, name):
    path, run_ids = db
    name = {"RUN0": run_ids[0], "PREFIX0": run_ids[0][:-4]}.get(name, name)
    report = json.loads(ok("scores", "--run", name, "--format", "json", db=path))
    assert report["run_id"] == run_ids[0]
    [stat] = report["scores"]
    assert stat["mean"] == pytest.approx((0.95 + 0.8) / 2) and stat["min_test"] == CHEAP


def test_scores_by_test_in_every_format(db):
    path, run_ids = db
    report = json.loads(ok("scores", "--by", "test", "--format", "json", db=path))
    assert [(s["nodeid"], s["name"], round(s["mean"], 9), s["count"]) for s in report["by_test"]] == [
        (ANSWER, "correctness", 0.8, 1), (ANSWER, "tone", 0.5, 1), (CHEAP, "correctness", 0.6, 2)]
    rows = list(csv.DictReader(io.StringIO(ok("scores", "--by", "test", "--format", "csv", db=path))))
    assert [(r["run_id"], r["test"], r["score"], float(r["mean"]), r["values"]) for r in rows] == [
        (run_ids[2], ANSWER, "correctness", 0.8, "1"), (run_ids[2], ANSWER, "tone", 0.5, "1"),
        (run_ids[2], CHEAP, "correctness", pytest.approx(0.6), "2")]
    markdown = ok("scores", "--by", "test", "--format", "markdown", db=path)
    assert markdown.startswith(f"## Scores of run {run_ids[2]}")
    assert [CHEAP, "correctness", "0.60", "2"] in md_rows(markdown)


def test_scores_csv_and_markdown_per_name(db):
    path, run_ids = db
    rows = list(csv.DictReader(io.StringIO(ok("scores", "--format", "csv", db=path))))
    assert [(r["score"], float(r["mean"]), float(r["min"]), r["lowest test"], r["tests"]) for r in rows] == [
        ("correctness", pytest.approx(0.7), pytest.approx(0.6), CHEAP, "2"), ("tone", 0.5, 0.5, ANSWER, "1")]
    assert ["correctness", "0.70", "0.60", CHEAP, "2"] in md_rows(ok("scores", "--format", "markdown", db=path))


def test_a_run_without_scores_says_so(db):
    path, run_ids = db
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('empty-run', 1.0, 'passed')")
    try:
        assert "no scores recorded" in ok("scores", "--run", "empty-run", db=path)
        assert json.loads(ok("scores", "--run", "empty-run", "--format", "json", db=path))["scores"] == []
    finally:
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM runs WHERE run_id = 'empty-run'")


# --- history NODEID ----------------------------------------------------------------------------


def test_history_of_a_test_newest_first_with_its_trend(db):
    path, run_ids = db
    report = json.loads(ok("history", ANSWER, "--format", "json", db=path))
    assert [r["run_id"] for r in report["runs"]] == run_ids[::-1]
    assert [r["cost_usd"] for r in report["runs"]] == [pytest.approx(2 * p) for p in PRICES[::-1]]
    assert [r["calls"] for r in report["runs"]] == [2, 2, 2]
    assert [r["outcome"] for r in report["runs"]] == ["passed"] * 3
    assert all(r["slowest_call_ms"] is not None for r in report["runs"])
    assert [r["scores"] for r in report["runs"]] == [{"correctness": 0.8, "tone": 0.5}, {"correctness": 0.9},
                                                     {"correctness": pytest.approx(0.95)}]
    cost = report["trend"]["cost"]
    assert (cost["base"], cost["new"]) == (pytest.approx(0.02), pytest.approx(0.01))
    assert cost["relative_pct"] == pytest.approx(-50.0)
    assert report["trend"]["score.correctness"]["relative_pct"] == pytest.approx((0.8 - 0.95) / 0.95 * 100)
    assert report["trend"]["score.tone"]["delta"] == 0  # one run holds it

    text = ok("history", ANSWER, db=path)
    lines = text.splitlines()
    assert lines[0] == f"History of {ANSWER}: the last 3 runs, newest first:"
    assert [line.split()[0] for line in lines[3:6]] == run_ids[::-1]
    assert "  cost: $0.02 -> $0.01 (-50.0%)" in lines
    assert "  correctness: 0.95 -> 0.80 (-15.8%)" in lines


def test_history_runs_limits_to_the_newest(db):
    path, run_ids = db
    report = json.loads(ok("history", ANSWER, "--runs", "2", "--format", "json", db=path))
    assert [r["run_id"] for r in report["runs"]] == [run_ids[2], run_ids[1]]
    assert report["trend"]["cost"]["base"] == pytest.approx(0.016)


def test_history_csv_and_markdown(db):
    path, run_ids = db
    rows = list(csv.DictReader(io.StringIO(ok("history", CHEAP, "--format", "csv", db=path))))
    assert [r["run_id"] for r in rows] == run_ids[::-1]
    assert [float(r["score.correctness"]) for r in rows] == [pytest.approx(0.6), 0.7, 0.8]
    assert [float(r["cost_usd"]) for r in rows] == [pytest.approx(p) for p in PRICES[::-1]]
    markdown = ok("history", CHEAP, "--format", "markdown", db=path)
    assert markdown.startswith(f"## History of {CHEAP}")
    assert "- correctness: 0.80 -> 0.60 (-25.0%)" in markdown


# --- history --tests ---------------------------------------------------------------------------


def test_tests_ranked_by_cost_change(db):
    path, run_ids = db
    report = json.loads(ok("history", "--tests", "--format", "json", db=path))
    assert report["runs"] == run_ids[::-1]
    # both priced tests fell by 50%; the larger absolute fall ranks first; the unpriced test ran at $0 throughout
    assert [t["nodeid"] for t in report["tests"]] == [ANSWER, CHEAP, "test_suite.py::test_plain"]
    assert report["tests"][0]["trend"]["cost"]["relative_pct"] == pytest.approx(-50.0)
    text = ok("history", "--tests", "--limit", "1", db=path)
    assert "top 1 of 3" in text and ANSWER in text and CHEAP not in text


def test_tests_ranked_by_a_score(db):
    path, run_ids = db
    report = json.loads(ok("history", "--tests", "--sort", "score.correctness", "--format", "json", db=path))
    # cheap: 0.8 -> 0.6 (-25%); answer: 0.95 -> 0.8 (-15.8%); plain has no score
    assert [t["nodeid"] for t in report["tests"]] == [CHEAP, ANSWER]
    rows = list(csv.DictReader(io.StringIO(ok("history", "--tests", "--sort", "score.correctness",
                                              "--format", "csv", db=path))))
    assert [float(r["score.correctness.change_pct"]) for r in rows] == [pytest.approx(-25.0), pytest.approx(-15.789, abs=1e-3)]
    markdown = ok("history", "--tests", "--sort", "latency", "--runs", "2", "--format", "markdown", db=path)
    assert markdown.startswith("## Tests that changed most by latency over the last 2 runs")


@pytest.mark.parametrize(("args", "message"), [
    (("history", "tests/nope.py::test_x"), "no run holds a result for test 'tests/nope.py::test_x'"),
    (("history",), "give a test's node id, or --tests"),
    (("history", ANSWER, "--tests"), "give a test's node id, or --tests"),
    (("history", "--tests", "--sort", "speed"), "cannot sort by 'speed'"),
    (("history", "--tests", "--sort", "score."), "cannot sort by 'score.'"),
    (("history", ANSWER, "--sort", "cost"), "--sort goes with --tests"),
    (("history", ANSWER, "--runs", "-1"), "expected a whole number"),
    (("history", ANSWER, "--format", "xml"), "invalid choice"),
    (("scores", "--run", "nope"), "no run 'nope'"),
    (("scores", "--by", "name"), "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(db, args, message):
    path, _ = db
    done = run(*args, "--db", str(path), cwd=path.parent)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_database_without_runs(tmp_path):
    from dev_system.store import db as store

    path = tmp_path / "empty.db"
    store.connect(path).close()
    done = run("scores", "--db", str(path), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, "dev-system: error: no run 'latest': the database holds 0 runs\n")
    done = run("history", "--tests", "--db", str(path), cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "No pytest runs recorded: run 'pytest --telemetry' first.\n")
    done = run("history", "--tests", "--db", str(path), "--format", "json", cwd=tmp_path)
    assert json.loads(done.stdout) == {"format": "dev-system-drift/1", "sort": "cost", "runs": [], "candidates": 0,
                                       "tests": []}
    done = run("history", "t::a", "--db", str(tmp_path / "missing.db"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("dev-system: error: no telemetry database at ")
