"""Fixtures shared by the test suite. Keep it small: each module owns its own helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dev_system.events import TelemetryEvent
from dev_system.ops.telemetry import configure, flush
from dev_system.problems import reset_problems
from dev_system.store.events import SELECT_EVENTS, row_to_event


class Recording:
    """A telemetry database in a temporary folder, with telemetry switched on into it."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def events(self) -> list[TelemetryEvent]:
        """Every stored event, oldest first (flushes first)."""
        flush()
        if not self.db_path.exists():
            return []
        with sqlite3.connect(self.db_path) as conn:
            return [row_to_event(row) for row in conn.execute(SELECT_EVENTS + " ORDER BY id")]


@pytest.fixture(autouse=True)
def _telemetry_off():
    """Every test starts and ends with telemetry off and no remembered warnings, whatever the
    folder the suite runs in holds."""
    configure(enabled=False)
    reset_problems()
    yield
    configure(enabled=False)
    reset_problems()


@pytest.fixture
def recording(tmp_path: Path) -> Recording:
    """Telemetry on, into ``tmp_path/telemetry.db``."""
    db_path = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db_path)
    return Recording(db_path)
