"""Fixtures of the record stage's tests."""

from __future__ import annotations

import pytest

from dev_system.ops.telemetry import configure
from dev_system.record.instrument import instrument, uninstrument


@pytest.fixture(autouse=True)
def _uninstrumented():
    """Every test starts and ends with no SDK patched, whatever the test before it instrumented."""
    uninstrument()
    yield
    uninstrument()


@pytest.fixture
def on(recording):
    """Telemetry on (stored at once) and the openai and anthropic SDKs instrumented."""
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("openai", "anthropic") == ["openai", "anthropic"]
    return recording
