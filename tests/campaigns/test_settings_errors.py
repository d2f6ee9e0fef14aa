"""Settings and errors in the user's own words.

A value that cannot be used is refused wherever it enters — a pytest option or ini key, a
``[tool.dev-system]`` key, a ``DEV_SYSTEM_*`` variable, a ``dev-system`` flag — in one line
naming what the user wrote, with or without ``--telemetry``. In the user's application (the
recorder), a bad setting is one warning naming it and recording goes on with the valid ones.
Real pytest runs in subprocesses, real ``dev-system`` and application processes, real SQLite.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dev_system import config
from fakes.eventgen import event, write_events


def clean_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEV_SYSTEM_", "OTEL_"))}
    env.update(more)
    return env


def dev_system(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in [n for n in os.environ if n.startswith(("DEV_SYSTEM_", "OTEL_"))]:
        monkeypatch.delenv(name)
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.makefile(".toml", pyproject="[project]\nname = 'demo'\n")
    return pytester


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# -- item 9: pytest options and ini keys --------------------------------------------------------

@pytest.mark.parametrize("args, named", [
    (["--telemetry-top=abc"], "--telemetry-top"),
    (["--telemetry-top=-1"], "--telemetry-top"),
    (["--telemetry-instrument=bogus"], "--telemetry-instrument"),
    (["--telemetry-success-rate-min=abc"], "--telemetry-success-rate-min"),
    (["--telemetry-success-rate-min=150"], "--telemetry-success-rate-min"),
    (["--telemetry-cost-usd-max=-1"], "--telemetry-cost-usd-max"),
    (["--telemetry-p95-latency-ms-max=fast"], "--telemetry-p95-latency-ms-max"),
    (["--telemetry-compare-fail=zz"], "--telemetry-compare-fail"),
])
@pytest.mark.parametrize("telemetry", [False, True], ids=["without", "with-telemetry"])
def test_a_bad_option_is_a_usage_error_naming_the_flag(project, args, named, telemetry):
    line = usage_error(project.runpytest_subprocess(*(["--telemetry", "--telemetry-db=t.db"] if telemetry else []), *args))
    assert named in line and "configure()" not in line
    if "=" in args[0]:
        assert repr(args[0].split("=", 1)[1]) in line


def test_good_options_without_telemetry_stay_quiet(project):
    result = project.runpytest_subprocess("--telemetry-top=0", "--telemetry-success-rate-min=off",
                                          "--telemetry-cost-usd-max=0", "--telemetry-instrument=openai,anthropic")
    assert result.ret == 0 and "telemetry:" not in result.stdout.str() + result.stderr.str()
    assert not list(project.path.rglob("*.db"))


@pytest.mark.parametrize("ini, named", [
    ("telemetry_success_rate_min = 150", "telemetry_success_rate_min"),
    ("telemetry_top = many", "telemetry_top"),
    ("telemetry_instrument = openai bogus", "telemetry_instrument"),
    ("telemetry_cost_usd_max = -0.5", "telemetry_cost_usd_max"),
])
@pytest.mark.parametrize("telemetry", [False, True], ids=["without", "with-telemetry"])
def test_a_bad_ini_key_is_a_usage_error_naming_the_key_and_file(project, ini, named, telemetry):
    project.makeini(f"[pytest]\n{ini}\n")
    line = usage_error(project.runpytest_subprocess(*(["--telemetry", "--telemetry-db=t.db"] if telemetry else [])))
    assert named in line and "tox.ini" in line and "configure()" not in line


@pytest.mark.parametrize("pyproject, named", [
    ("success-rate-min = 150", "success-rate-min"),
    ("daily-cost-usd-max = -1", "daily-cost-usd-max"),
    ("p95-latency-ms-max = true", "p95-latency-ms-max"),
    ('otlp-endpoint = "not a url"', "otlp-endpoint"),
    ('otlp-endpoint = "ftp://collector:4318"', "otlp-endpoint"),
    ("max-value-chars = 1.5", "max-value-chars"),
])
def test_a_bad_pyproject_key_is_a_usage_error_naming_the_key(project, pyproject, named):
    project.makefile(".toml", pyproject=f"[tool.dev-system]\n{pyproject}\n")
    line = usage_error(project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db"))
    assert "[tool.dev-system]: invalid value" in line and f"for {named} (" in line
    assert "pyproject.toml" in line and "configure()" not in line


def test_a_bad_variable_is_a_usage_error_naming_the_variable(project, monkeypatch):
    monkeypatch.setenv("DEV_SYSTEM_SUCCESS_RATE_MIN", "high")
    line = usage_error(project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db"))
    assert "DEV_SYSTEM_SUCCESS_RATE_MIN" in line and "'high'" in line and "0 to 100" in line


# -- item 9: the dev-system command -------------------------------------------------------------

@pytest.mark.parametrize("args, named", [
    (["metrics", "--success-rate-min", "150"], "--success-rate-min"),
    (["metrics", "--success-rate-min", "-5"], "--success-rate-min"),
    (["metrics", "--daily-cost-usd-max", "-1"], "--daily-cost-usd-max"),
    (["report", "--html", "r.html", "--p95-latency-ms-max", "nan"], "--p95-latency-ms-max"),
    (["export", "--format", "otlp", "--endpoint", "not a url"], "--endpoint"),
])
def test_a_bad_flag_is_one_line_naming_it(tmp_path, args, named):
    write_events(tmp_path / "t.db", [event(1.0)])
    done = dev_system(*args, "--db", str(tmp_path / "t.db"), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("dev-system: error: argument " + named) and repr(args[-1]) in line


@pytest.mark.parametrize("pyproject, env, named", [
    ("success-rate-min = 150", {}, "success-rate-min"),
    ('otlp-endpoint = "collector"', {}, "otlp-endpoint"),
    ("", {"DEV_SYSTEM_DAILY_COST_USD_MAX": "-3"}, "DEV_SYSTEM_DAILY_COST_USD_MAX"),
])
def test_a_bad_setting_stops_a_report_in_one_line(tmp_path, pyproject, env, named):
    (tmp_path / "pyproject.toml").write_text(f"[tool.dev-system]\n{pyproject}\n")
    write_events(tmp_path / "t.db", [event(1.0)])
    done = dev_system("metrics", "--db", str(tmp_path / "t.db"), "--period", "all", cwd=tmp_path, **env)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("dev-system: error: ") and named in line and "configure()" not in line


@pytest.mark.parametrize("key, good, bad", [
    ("success_rate_min", [0, 100, "99.5"], [150, -1, "high", True, "nan"]),
    ("p95_latency_ms_max", [0, 3000], [-1, "inf"]),
    ("daily_cost_usd_max", [0, "0.01"], [-0.01, "cheap"]),
    ("sample_rate", [0, 1, "0.5"], [1.5, -0.1]),
    ("flush_interval_s", [0.1], [0, -1]),
    ("buffer_size", [1, "10"], [0, 1.5, "many"]),
    ("otlp_endpoint", ["http://localhost:4318", "https://c.example/v1/traces", "off"],
     ["not a url", "localhost:4318", "http://", "ftp://x", "http://host:port"]),
])
def test_ranges_and_shapes(key, good, bad):
    for value in good:
        config.convert(key, value)
    for value in bad:
        with pytest.raises(config.ConfigError, match=f"invalid value {value!r} for {key.replace('_', '-')} "):
            config.convert(key, value)


# -- item 10: in the application, a bad setting is one warning and recording goes on ---------------

APP = '''
import warnings
warnings.simplefilter("always")
from dev_system.ops.telemetry import telemetry_decorator, flush, stats

@telemetry_decorator(agent_name="svc")
def call(x):
    return x

call(1)
flush()
print("ENABLED", stats()["enabled"], "STORED", stats()["stored"])
'''


def run_app(root: Path, **env: str) -> subprocess.CompletedProcess:
    (root / "app.py").write_text(APP)
    return subprocess.run([sys.executable, "app.py"], cwd=root, env=clean_env(**env), capture_output=True,
                          text=True, timeout=120)


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]


@pytest.mark.parametrize("env, pyproject, named", [
    ({"DEV_SYSTEM_SUCCESS_RATE_MIN": "high"}, "", "DEV_SYSTEM_SUCCESS_RATE_MIN"),
    ({"DEV_SYSTEM_SAMPLE_RATE": "all"}, "", "DEV_SYSTEM_SAMPLE_RATE"),
    ({}, "daily-cost-usd-max = -1", "daily-cost-usd-max"),
    ({}, "no-such-setting = 1", "no-such-setting"),
])
def test_a_bad_setting_is_one_logged_problem_and_recording_goes_on(tmp_path, env, pyproject, named):
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'demo'\n[tool.dev-system]\n{pyproject}\n")
    init = dev_system("init", "--telemetry", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    done = run_app(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "ENABLED True STORED 1" in done.stdout
    assert stored(tmp_path / ".dev-system" / "data" / "telemetry.db") == 1
    problems = [line for line in done.stderr.splitlines() if "dev-system telemetry:" in line]
    assert len(problems) == 1 and named in problems[0] and "ignored" in problems[0]
    assert "Warning" not in done.stderr


@pytest.mark.parametrize("written", ['"yes"', '"true"', "1"])
def test_a_folder_config_that_cannot_say_is_reported(tmp_path, written):
    (tmp_path / ".dev-system").mkdir()
    (tmp_path / ".dev-system" / "config.toml").write_text(f"[telemetry]\nenabled = {written}\n")
    done = run_app(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ENABLED False" in done.stdout
    [problem] = [line for line in done.stderr.splitlines() if "dev-system telemetry:" in line]
    assert "config.toml" in problem and "enabled" in problem and "telemetry stays off" in problem
    report = dev_system("metrics", cwd=tmp_path)
    assert report.returncode == 2 and "config.toml" in report.stderr and "true or false" in report.stderr
