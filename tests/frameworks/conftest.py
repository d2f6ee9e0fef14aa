"""Fixtures for the framework tests: the fake provider server (``llm``). Their helpers are in
``framework_runs.py``."""

import pytest

pytest.register_assert_rewrite("framework_runs")

from fakes.fake_llm_server import llm, llm_server  # noqa: E402, F401  (fixtures)
