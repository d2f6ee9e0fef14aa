"""One grammar for durations (``prune --older-than``) and periods (``--period``): the message of
a refused value suggests only values the same option then takes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dev_system.analysis import periods
from fakes.eventgen import event, write_events


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def suggestions(message: str) -> list[str]:
    """The values a message offers: quoted words and examples such as 30m or 7d."""
    return sorted(set(re.findall(r"'([a-z]+)'", message)) | set(re.findall(r"\b\d+[mhdw]\b", message)))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    write_events(tmp_path / "t.db", [event(1.0)])
    return tmp_path / "t.db"


@pytest.mark.parametrize("bad", ["all", "today", "soon", "0d", "7x"])
def test_prune_suggests_only_durations_it_takes(db, bad):
    refused = run("prune", "--older-than", bad, "--dry-run", "--db", str(db), cwd=db.parent)
    assert refused.returncode == 2
    message = refused.stderr.strip().splitlines()[-1]
    assert f"unknown duration {bad!r}" in message
    offered = suggestions(message.split(":", 2)[-1].replace(repr(bad), ""))
    assert offered and "all" not in offered and "today" not in offered
    for value in offered:
        done = run("prune", "--older-than", value, "--dry-run", "--db", str(db), cwd=db.parent)
        assert done.returncode == 0, (value, done.stderr)


@pytest.mark.parametrize("bad", ["soon", "0d", "yesterday"])
def test_period_suggests_only_periods_it_takes(db, bad):
    refused = run("metrics", "--period", bad, "--db", str(db), cwd=db.parent)
    assert refused.returncode == 2
    message = refused.stderr.strip().splitlines()[-1]
    assert f"unknown period {bad!r}" in message
    offered = suggestions(message.split(":", 2)[-1].replace(repr(bad), ""))
    assert {"all", "today", "7d"} <= set(offered)
    for value in offered:
        done = run("metrics", "--period", value, "--db", str(db), cwd=db.parent)
        assert done.returncode == 0, (value, done.stderr)


def test_the_grammar_is_stated_once():
    assert periods.DURATION_HELP in periods.PERIOD_HELP
    for bad in ("all", "today", "1000001d"):
        with pytest.raises(periods.PeriodError) as info:
            periods.parse_duration(bad)
        offered = str(info.value).replace(repr(bad), "")
        assert "'all'" not in offered and "'today'" not in offered
    with pytest.raises(periods.PeriodError, match="at most"):
        periods.parse_period("400000d")  # a period is a duration too: the same longest one
    assert periods.parse_duration("365000d")[0] == 365_000 * 86400.0
