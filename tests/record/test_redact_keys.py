"""``redact-keys``: a user's names add to the built-in ones; ``!name`` removes a built-in name.

Real processes with their own environment and ``pyproject.toml``, recording into a real SQLite
file: the settings are read where users put them, at import.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dev_system import config

APP = '''
from dev_system.ops.telemetry import telemetry_decorator, flush

@telemetry_decorator(agent_name="svc")
def login(user, password, ssn, api_key, session_id, note):
    return user

login("ann", "hunter2-pw", "123-45-6789", "key-value-1", "sess-42", "my key is envsecret-0123456789")
flush()
'''


def recorded_args(tmp_path: Path, pyproject: str = "", **env: str) -> dict:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n" + pyproject)
    (tmp_path / "app.py").write_text(APP)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DEV_SYSTEM_", "OTEL_"))}
    environ.update(DEV_SYSTEM_TELEMETRY="1", DEV_SYSTEM_DB_PATH=str(tmp_path / "t.db"),
                   OPENAI_API_KEY="envsecret-0123456789", **env)
    done = subprocess.run([sys.executable, "app.py"], cwd=tmp_path, env=environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "t.db") as conn:
        [(metadata,)] = conn.execute("SELECT metadata FROM telemetry_events").fetchall()
    return json.loads(metadata)["args"]


def test_names_in_pyproject_add_to_the_built_in_ones(tmp_path):
    args = recorded_args(tmp_path, '[tool.dev-system]\nredact-keys = ["ssn"]\n')
    assert args["ssn"] == args["password"] == args["api_key"] == "[REDACTED]"
    assert args["user"] == "ann" and args["note"] == "my key is [REDACTED]"


def test_an_empty_variable_means_no_extra_names(tmp_path):
    args = recorded_args(tmp_path, DEV_SYSTEM_REDACT_KEYS="")
    assert args["password"] == args["api_key"] == args["session_id"] == "[REDACTED]"
    assert args["ssn"] == "123-45-6789"
    assert args["note"] == "my key is [REDACTED]"  # the value of OPENAI_API_KEY, inside an argument


def test_names_in_the_environment_add_to_the_built_in_ones(tmp_path):
    args = recorded_args(tmp_path, '[tool.dev-system]\nredact-keys = ["user"]\n', DEV_SYSTEM_REDACT_KEYS="ssn, ")
    assert args["ssn"] == args["password"] == args["api_key"] == "[REDACTED]"
    assert args["user"] == "ann"  # the environment's names replace the file's, never the built-in ones


def test_a_built_in_name_is_removed_only_by_an_explicit_bang(tmp_path):
    args = recorded_args(tmp_path, '[tool.dev-system]\nredact-keys = ["ssn", "!session"]\n')
    assert args["session_id"] == "sess-42"
    assert args["ssn"] == args["password"] == args["api_key"] == "[REDACTED]"


def test_configure_adds_names_too(tmp_path):
    settings = config.load({"redact_keys": ("customer_email",)}, cwd=tmp_path, environ={})
    assert set(config.DEFAULT_REDACT_KEYS) < set(settings.redact_keys)
    assert "customer_email" in settings.redact_keys


@pytest.mark.parametrize("value", ["!nope", "!"])
def test_removing_a_name_that_is_not_built_in_is_one_clear_line(tmp_path, value):
    with pytest.raises(config.ConfigError) as info:
        config.load(cwd=tmp_path, environ={"DEV_SYSTEM_REDACT_KEYS": value})
    message = str(info.value)
    assert "DEV_SYSTEM_REDACT_KEYS" in message and "built-in" in message and "\n" not in message
