"""Fixtures of the record stage's tests."""

from __future__ import annotations

import pytest

from dev_system.record.instrument import uninstrument


@pytest.fixture(autouse=True)
def _uninstrumented():
    """Every test starts and ends with no SDK patched, whatever the test before it instrumented."""
    uninstrument()
    yield
    uninstrument()
