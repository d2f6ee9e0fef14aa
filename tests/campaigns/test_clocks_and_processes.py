"""Clocks and processes: telemetry measures real time whatever a test does to the clock
(freezegun, time-machine, a stubbed ``time.perf_counter``), and no process of a run is left out
(children started by multiprocessing or ``os.fork``, a SIGTERM to pytest, a call still running
as the process exits, a working directory changed after configuration).

Every test runs the real thing in a subprocess or a real pytest run, and notes the fault it
survived for the campaign's figures (:mod:`test_reliability_figures`).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_reliability_figures import note_fault

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and fork")


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env.update(extra)
    return env


def run_python(code: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def rows(db: Path, where: str = "") -> int:
    return query(db, f"SELECT COUNT(*) FROM telemetry_events {where}")[0][0] if db.exists() else 0


# --- a relative database path, then os.chdir ---------------------------------------------------

CHDIR = """
    import os
    from dev_system.ops.telemetry import configure, flush, telemetry_decorator
    {configure}

    @telemetry_decorator(agent_name="moving")
    def call(i):
        return i

    for i in range(5):
        call(i)
    flush()
    os.chdir("elsewhere")
    for i in range(5):
        call(i)
    flush()
"""


@pytest.mark.parametrize("how", ["configure", "environment"])
def test_a_relative_database_path_is_resolved_once_when_configured(tmp_path, how):
    """``configure(db_path="rel.db")`` or ``DEV_SYSTEM_DB_PATH=rel.db``, then ``os.chdir``: every
    event goes to the one database, in the folder the path was configured in."""
    (tmp_path / "elsewhere").mkdir()
    if how == "configure":
        code, env = CHDIR.format(configure='configure(enabled=True, db_path="rel.db")'), {}
    else:
        code, env = CHDIR.format(configure="configure()"), {"DEV_SYSTEM_TELEMETRY": "1", "DEV_SYSTEM_DB_PATH": "rel.db"}
    result = run_python(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "elsewhere" / "rel.db").exists()
    assert rows(tmp_path / "rel.db") == 10
    note_fault("working directory changed after a relative database path was configured", recorded=10,
               stored=rows(tmp_path / "rel.db"))
