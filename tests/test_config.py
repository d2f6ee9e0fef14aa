"""Settings layers and when telemetry is on."""

from __future__ import annotations

import pytest

from dev_system import config


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_off_by_default_and_on_with_an_initialised_folder_above(tmp_path):
    assert config.load(cwd=tmp_path, environ={}).enabled is False
    write(tmp_path / ".dev-system" / "config.toml", "[telemetry]\nenabled = true\n")
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    settings = config.load(cwd=nested, environ={})
    assert settings.enabled is True
    assert settings.db_path == tmp_path.resolve() / ".dev-system" / "data" / "telemetry.db"


def test_environment_zero_beats_everything(tmp_path):
    write(tmp_path / ".dev-system" / "config.toml", "[telemetry]\nenabled = true\n")
    env = {"DEV_SYSTEM_TELEMETRY": "0"}
    assert config.load({"enabled": True}, cwd=tmp_path, environ=env).enabled is False
    assert config.load(cwd=tmp_path, environ={"DEV_SYSTEM_TELEMETRY": "1"}).enabled is True


def test_layers_defaults_pyproject_environment_overrides(tmp_path):
    write(tmp_path / "pyproject.toml", """
[tool.dev-system]
sample-rate = 0.5
p95-latency-ms-max = 1500
db-path = "custom/t.db"
redact-keys = ["ssn"]

[tool.dev-system.prices."my-finetune"]
input = 1.5
output = 6
cached-input = 0.5
""")
    settings = config.load(cwd=tmp_path, environ={"DEV_SYSTEM_SAMPLE_RATE": "0.25"})
    assert settings.sample_rate == 0.25
    assert settings.p95_latency_ms_max == 1500
    assert settings.success_rate_min == 90.0
    assert settings.db_path == tmp_path.resolve() / "custom" / "t.db"
    assert settings.redact_keys == (*config.DEFAULT_REDACT_KEYS, "ssn")  # added to the built-in names
    assert settings.prices["my-finetune"] == config.ModelPrice(1.5, 6.0, 0.5)
    assert config.load({"sample_rate": 1.0}, cwd=tmp_path, environ={"DEV_SYSTEM_SAMPLE_RATE": "0.25"}).sample_rate == 1.0


@pytest.mark.parametrize("text, message", [
    ('[tool.dev-system]\nsample-rate = 2\n', "invalid value 2 for sample-rate"),
    ('[tool.dev-system]\nno-such-thing = 1\n', "unknown setting 'no-such-thing'"),
    ('[tool.dev-system\n', "not valid TOML"),
])
def test_bad_configuration_is_one_clear_line(tmp_path, text, message):
    write(tmp_path / "pyproject.toml", text)
    with pytest.raises(config.ConfigError) as info:
        config.load(cwd=tmp_path, environ={})
    assert message in str(info.value) and "\n" not in str(info.value).strip()


def test_a_relative_database_path_is_made_absolute_when_configured(tmp_path):
    """Relative to the working directory of the moment it is configured (``cwd``), once: a later
    ``os.chdir`` cannot move the database."""
    (tmp_path / "pyproject.toml").write_text("")
    given = config.load({"db_path": "rel.db"}, cwd=tmp_path, environ={})
    assert given.db_path == tmp_path / "rel.db"
    from_env = config.load(cwd=tmp_path, environ={"DEV_SYSTEM_DB_PATH": "sub/../env.db"})
    assert from_env.db_path == tmp_path / "env.db"
    assert config.absolute_path(tmp_path / "a.db") == tmp_path / "a.db"
