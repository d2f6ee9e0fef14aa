"""Runs and their comparison (dev_system.store.runs / compare) and the `runs` / `compare` commands,
on real SQLite files."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dev_system.analysis import compare
from dev_system.analysis.metrics import compute_summary
from dev_system.analysis.periods import Window
from dev_system.cli import main as cli_main
from dev_system.render.compare import comparison_lines
from dev_system.store import db as store
from dev_system.store import runs
from dev_system.store.queries import Filters
from fakes.eventgen import event, write_events

T0 = 1_790_000_000.0


def add_run(db: Path, run_id: str, started: float, tests: dict[str, list[float]], *, status: str = "passed",
            branch: str | None = "main", latency: float = 100.0) -> None:
    """A finished run whose tests each made calls of the given costs (None: unknown cost)."""
    events, results = [], []
    for nodeid, costs in tests.items():
        for i, cost in enumerate(costs):
            events.append(event(started + i, cost_usd=cost, trace_id=nodeid, run_id=run_id, latency_ms=latency,
                                input_tokens=10, output_tokens=5))
        results.append(runs.TestResult(nodeid, "passed", 0.5, len(costs), 10 * len(costs), 5 * len(costs),
                                       sum(c for c in costs if c is not None),
                                       sum(1 for c in costs if c is None), latency if costs else None))
    write_events(db, events)
    conn = store.connect(db)
    try:
        record = runs.Run(run_id, started, started + 10, status, "pytest", "abc123", branch, "host",
                                len(tests), 0, 0, 0, 0 if status == "passed" else 1, {"tests": len(tests)})
        runs.finish_run(conn, record)
        runs.write_test_results(conn, run_id, results)
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    add_run(path, "20260101-000000-aaaa0001", T0, {"t::a": [0.01], "t::b": [0.01, 0.01]})
    add_run(path, "20260101-000100-bbbb0002", T0 + 100, {"t::a": [0.01], "t::b": [0.01, 0.01]}, branch="other")
    add_run(path, "20260101-000200-cccc0003", T0 + 200, {"t::a": [0.01]})  # other tests
    add_run(path, "20260101-000300-dddd0004", T0 + 300, {"t::a": [0.01], "t::b": [0.01]}, status="interrupted")
    add_run(path, "20260101-000400-eeee0005", T0 + 400, {"t::a": [0.02, 0.01], "t::b": [0.01, 0.01]},
            latency=150.0)
    return path


def connect(path: Path):
    return store.connect(path, readonly=True)


def test_parse_limits() -> None:
    assert compare.parse_limits("cost:10%, p95:20%,calls:0") == [
        compare.Limit("cost", 10.0, True), compare.Limit("p95", 20.0, True), compare.Limit("calls", 0.0, False)]
    assert str(compare.parse_limits("cost:0.5")[0]) == "cost:0.5"
    for spec, message in [("speed:5%", "unknown metric 'speed'"), ("cost", "cannot read the limit 'cost'"),
                          ("cost:-1", "cannot read"), ("cost:1%,cost:2%", "limited twice"), ("", "no limits given")]:
        with pytest.raises(compare.LimitError, match=message):
            compare.parse_limits(spec)


def test_change_and_regressions() -> None:
    base = runs.Run("base", T0)
    new = runs.Run("new", T0 + 1)

    def judge(metric: str, before: float | None, after: float | None, spec: str) -> list[str]:
        totals = {name: compare.Change(name, 0, 0) for name in compare.TOTALS}
        totals[metric] = compare.Change(metric, before, after)
        return [r.message for r in compare.regressions(compare.Comparison(base, new, totals),
                                                       compare.parse_limits(spec))]

    assert judge("cost", 1.0, 1.1, "cost:10%") == []                 # exactly at the limit: no regression
    assert judge("cost", 1.0, 1.11, "cost:10%") == [
        "cost rose from $1.00 to $1.11 (+$0.11, +11.0%) against run base (limit +10%)"]
    assert judge("calls", 3, 4, "calls:0") == ["calls rose from 3 to 4 (+1, +33.3%) against run base (limit +0)"]
    assert judge("calls", 0, 2, "calls:50%") == ["calls rose from 0 to 2 (+2, from zero) against run base (limit +50%)"]
    assert judge("cost", 2.0, 1.0, "cost:0") == []                   # a decrease is never a regression
    assert judge("p95", None, 100.0, "p95:0%") == []                 # no baseline figure: nothing to judge
    assert compare.Change("x", 0, 0).relative is None
    assert math.isinf(compare.Change("x", 0, 1).relative)
    assert compare.Change("x", 0, 1).as_dict()["from_zero"] is True


def test_resolve_run(db: Path) -> None:
    conn = connect(db)
    try:
        assert runs.resolve_run(conn, "latest").run_id == "20260101-000400-eeee0005"
        assert runs.resolve_run(conn, "previous").run_id == "20260101-000300-dddd0004"
        assert runs.resolve_run(conn, "latest~4").run_id == "20260101-000000-aaaa0001"
        assert runs.resolve_run(conn, "20260101-0001").run_id == "20260101-000100-bbbb0002"
        with pytest.raises(runs.RunNotFound, match="more than one run"):
            runs.resolve_run(conn, "20260101-")
        with pytest.raises(runs.RunNotFound, match="no run 'nope'"):
            runs.resolve_run(conn, "nope")
        with pytest.raises(runs.RunNotFound, match="holds 5 run"):
            runs.resolve_run(conn, "latest~5")
        with pytest.raises(runs.RunNotFound):  # LIKE wildcards are taken literally
            runs.resolve_run(conn, "%")
    finally:
        conn.close()


def test_find_baseline_same_tests_completed_earlier_same_branch_first(db: Path) -> None:
    conn = connect(db)
    try:
        latest = "20260101-000400-eeee0005"
        # the interrupted run and the run of other tests are skipped; main's run beats the newer one of 'other'
        assert compare.find_baseline(conn, latest).run_id == "20260101-000000-aaaa0001"
        assert compare.find_baseline(conn, latest, branch="other").run_id == "20260101-000100-bbbb0002"
        assert compare.find_baseline(conn, latest, branch="none-such").run_id == "20260101-000100-bbbb0002"
        assert compare.find_baseline(conn, "20260101-000000-aaaa0001") is None  # nothing earlier
        assert compare.find_baseline(conn, latest, nodeids=["t::zzz"]) is None
    finally:
        conn.close()


def test_compare_runs_totals_are_the_metrics_summaries(db: Path) -> None:
    conn = connect(db)
    try:
        result = compare.compare_runs(conn, "20260101-000000-aaaa0001", "20260101-000400-eeee0005")
        for run_id, side in (("20260101-000000-aaaa0001", "base"), ("20260101-000400-eeee0005", "new")):
            summary = compute_summary(conn, Window(), Filters(run_id=run_id))
            totals = result.totals
            assert getattr(totals["cost"], side) == summary.total_cost_usd
            assert getattr(totals["calls"], side) == summary.events
            assert getattr(totals["p95"], side) == summary.p95_latency_ms
            assert getattr(totals["tokens"], side) == summary.input_tokens + summary.output_tokens
    finally:
        conn.close()
    assert result.totals["cost"].delta == pytest.approx(0.02)
    assert result.totals["calls"].delta == 1
    changed = [t.nodeid for t in result.tests if t.changed]
    assert changed == ["t::a", "t::b"]  # t::a's cost rose most; t::b only changed its latency
    assert result.tests[0].changes["calls"].delta == 1
    assert result.added == [] and result.removed == []
    lines = comparison_lines(result)
    assert lines[0] == "Compared with run 20260101-000000-aaaa0001 (main abc123):"
    assert "  cost: $0.03 -> $0.05  +$0.02 (+67%)" in lines
    assert "  p95 latency: 100ms -> 150ms  +50.0ms (+50%)" in lines


def test_runs_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["runs", "--db", str(db), "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "started", "took", "status"]
    assert out[2].startswith("20260101-000400-eeee0005") and "4 passed" not in out[2] and "$0.05" in out[2]
    assert out[3].startswith("20260101-000300-dddd0004") and "interrupted" in out[3]
    assert len(out) == 4
    assert cli_main(["runs", "--db", str(db), "--branch", "other", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == ["20260101-000100-bbbb0002"]
    assert listed[0]["events"] == 3 and listed[0]["cost_usd"] == pytest.approx(0.03)


def test_runs_command_on_a_database_without_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_events(tmp_path / "plain.db", [event(T0)])
    assert cli_main(["runs", "--db", str(path)]) == 0
    assert "No pytest runs in" in capsys.readouterr().out


def test_compare_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["compare", "20260101-000000", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Compared with run 20260101-000000-aaaa0001")
    assert "t::a" in out and "FAIL" not in out
    assert cli_main(["compare", "latest~4", "latest", "--db", str(db), "--fail", "cost:10%,calls:5"]) == 1
    out = capsys.readouterr().out
    assert "FAIL cost rose from $0.03 to $0.05 (+$0.02, +66.7%) against run 20260101-000000-aaaa0001 (limit +10%)" in out
    assert "FAIL calls" not in out
    assert cli_main(["compare", "latest~4", "--db", str(db), "--format", "json", "--fail", "p95:10%"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["base_run"] == "20260101-000000-aaaa0001" and data["new_run"] == "20260101-000400-eeee0005"
    assert [r["metric"] for r in data["regressions"]] == ["p95"]
    assert list(data["tests"]) == ["t::a", "t::b"]


@pytest.mark.parametrize(("argv", "message"), [
    (["compare", "nope"], "no run 'nope'"),
    (["compare", "latest", "latest"], "are the same run"),
    (["compare", "latest~1", "--fail", "speed:1%"], "--fail: unknown metric 'speed'"),
])
def test_compare_command_errors_are_one_line(db: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             message: str) -> None:
    assert cli_main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_git_info_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_DIR", raising=False)
    assert runs.git_info(tmp_path) == (None, None)
    # git is started only where it could find a repository: a .git here or above, or GIT_DIR
    above = any((folder / ".git").exists() for folder in (tmp_path, *tmp_path.parents))
    assert runs._may_be_in_git_work_tree(tmp_path) is above
    (tmp_path / ".git").mkdir()
    assert runs._may_be_in_git_work_tree(tmp_path / "missing" / "folder") is True


def test_git_info_in_a_repository_and_below_it(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(("git", *args), cwd=tmp_path, check=True, capture_output=True, text=True,
                              env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout.strip()

    git("init", "-q", "-b", "topic")
    assert runs.git_info(tmp_path) == (None, "topic")  # no commit yet
    (tmp_path / "sub").mkdir()
    git("commit", "-q", "--allow-empty", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert runs.git_info(tmp_path / "sub") == (head, "topic")
    git("checkout", "-q", "--detach")
    assert runs.git_info(tmp_path) == (head, None)


def test_git_info_follows_git_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    subprocess.run(("git", "init", "-q", "-b", "elsewhere", str(repo)), check=True, capture_output=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert runs.git_info(outside) == (None, "elsewhere")


def test_status_and_run_ids() -> None:
    assert [runs.status_for_exit(code) for code in (0, 1, 2, 3, 4, 5, 7)] == [
        "passed", "failed", "interrupted", "internal error", "usage error", "no tests", "exit 7"]
    first, second = runs.new_run_id(T0), runs.new_run_id(T0)
    assert first != second and first[:15] == second[:15]
    assert runs.tests_digest(["b", "a", "a"]) == runs.tests_digest(["a", "b"])

_amount = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(before=_amount, after=_amount, tight=st.floats(0, 1e3), extra=st.floats(0, 1e3), relative=st.booleans())
def test_regressions_only_for_growth_and_monotone_in_the_limit(before: float, after: float, tight: float,
                                                               extra: float, relative: bool) -> None:
    base, new = runs.Run("base", T0), runs.Run("new", T0 + 1)
    totals = {name: compare.Change(name, 1, 1) for name in compare.TOTALS}
    totals["cost"] = compare.Change("cost", before, after)
    comparison = compare.Comparison(base, new, totals)

    def fails(limit: float) -> bool:
        return bool(compare.regressions(comparison, [compare.Limit("cost", limit, relative)]))

    if after <= before:
        assert not fails(tight)  # a decrease, or no change, is never a regression
    if fails(tight + extra):
        assert fails(tight)  # whatever fails a loose limit fails a tighter one
    if not relative and after - before > tight * (1 + 1e-6) + 1e-9:
        assert fails(tight)
