"""Errors of the ``dev-system`` command in the user's own words (one line, exit status 2), and the
CSV export's columns: the real command in a subprocess, on real files and folders."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev_system.store.schema import EVENTS_TABLE
from fakes.eventgen import event, write_events

NOW = time.time()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def one_line_usage_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dev-system: error: "), result.stderr
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


# item 11: init where it cannot write

def test_init_where_dev_system_is_a_file(project: Path) -> None:
    (project / ".dev-system").write_text("not a folder\n")
    line = one_line_usage_error(run("init", "--telemetry", cwd=project))
    assert ".dev-system" in line and "is a file" in line


def test_init_where_the_data_folder_is_a_file(project: Path) -> None:
    (project / ".dev-system").mkdir()
    (project / ".dev-system" / "data").write_text("")
    line = one_line_usage_error(run("init", "--telemetry", cwd=project))
    assert "data" in line and "is a file" in line


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` may not be written to, even by root (made immutable, then: root ignores modes)."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only for root here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_init_in_a_read_only_folder(project: Path) -> None:
    with read_only(project):
        line = one_line_usage_error(run("init", "--telemetry", cwd=project))
        assert not (project / ".dev-system").exists()
    assert "cannot create" in line and ".dev-system" in line


def test_init_with_a_database_in_a_read_only_folder(project: Path) -> None:
    (project / "locked").mkdir()
    with read_only(project / "locked"):
        line = one_line_usage_error(run("init", "--telemetry", "--db", str(project / "locked" / "t.db"), cwd=project))
    assert "cannot create" in line and "locked/t.db" in line


# item 13: where to look for help, and a database path that is a folder

@pytest.mark.parametrize("command", [["metrics"], ["events"], ["prune", "--older-than", "1d"], ["runs"]])
def test_an_unknown_flag_points_to_the_help_of_its_command(project: Path, command: list[str]) -> None:
    line = one_line_usage_error(run(*command, "--bogus", cwd=project))
    assert "unrecognized arguments: --bogus" in line
    assert f"see 'dev-system {command[0]} --help'" in line


def test_an_unknown_flag_without_a_command_points_to_the_main_help(project: Path) -> None:
    line = one_line_usage_error(run("--bogus", cwd=project))
    assert "see 'dev-system --help'" in line


@pytest.mark.parametrize("command", [["metrics"], ["events"], ["export"], ["runs"], ["prune", "--older-than", "1d"],
                                     ["prune", "--older-than", "1d", "--dry-run"], ["init", "--telemetry"]])
def test_a_database_path_that_is_a_folder_is_called_a_folder(project: Path, command: list[str]) -> None:
    folder = project / "dir.db"
    folder.mkdir()
    line = one_line_usage_error(run(*command, "--db", str(folder), cwd=project))
    assert "dir.db is a folder, not a database file" in line
    assert "no telemetry database" not in line


# item 17: the CSV export has the table's columns

def test_csv_export_has_the_columns_of_the_table(project: Path) -> None:
    db = write_events(project / "t.db", [event(NOW - 20, agent_name="a", metadata={"k": 1}, run_id="r1"),
                                         event(NOW - 10, agent_name="b", cost_usd=None, success=False)])
    conn = sqlite3.connect(db)
    table = [row[1] for row in conn.execute("PRAGMA table_info(telemetry_events)")]
    rows = conn.execute("SELECT id, created_at FROM telemetry_events ORDER BY timestamp").fetchall()
    conn.close()
    result = run("export", "--format", "csv", "--db", str(db), cwd=project)
    assert result.returncode == 0, result.stderr
    exported = list(csv.reader(io.StringIO(result.stdout)))
    assert exported[0] == table
    assert exported[0][:2] == ["id", "timestamp"] and exported[0][13] == "created_at"
    body = [dict(zip(exported[0], row)) for row in exported[1:]]
    assert [(r["id"], r["created_at"]) for r in body] == [(str(i), c) for i, c in rows]
    assert [r["agent_name"] for r in body] == ["a", "b"]
    assert body[0]["metadata"] == '{"k": 1}' and body[0]["run_id"] == "r1" and body[0]["success"] == "1"
    assert body[1]["cost_usd"] == "" and body[1]["success"] == "0"


def test_csv_export_of_a_version_0_database(project: Path) -> None:
    old = project / "old.db"
    raw = sqlite3.connect(old)
    raw.execute(EVENTS_TABLE)
    raw.execute("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms, success)"
                " VALUES (?, 'model_call', 'old', 'f', 1.0, 1)", (NOW,))
    raw.commit()
    raw.close()
    before = old.read_bytes()
    result = run("export", "--format", "csv", "--db", str(old), cwd=project)
    assert result.returncode == 0, result.stderr
    header, row = list(csv.reader(io.StringIO(result.stdout)))
    record = dict(zip(header, row))
    assert header[:2] == ["id", "timestamp"] and "created_at" in header and "run_id" in header
    assert record["id"] == "1" and record["created_at"] and record["agent_name"] == "old" and record["run_id"] == ""
    assert old.read_bytes() == before
