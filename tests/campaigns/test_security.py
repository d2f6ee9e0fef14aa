"""Security: secrets stay out of the database, the data is its owner's only, and nothing read
from the database or the configuration is ever evaluated, unpickled or imported."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_reliability_figures import note_fault

from dev_system.config import DEFAULT_REDACT_KEYS
from dev_system.ops.telemetry import annotate, telemetry_decorator
from dev_system.record.arguments import REDACTED, Redactor, redact_text, sanitize

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]


def token(n: int = 40, alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def jwt() -> str:
    return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{token(30)}.{token(43)}"


#: One fresh secret of every well-known shape (new values each run, so no test can pass by luck).
SHAPES = {
    "openai": f"sk-{token(48)}",
    "openai project": f"sk-proj-{token(64)}",
    "anthropic": f"sk-ant-api03-{token(80)}",
    "aws access key id": "AKIA" + token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    "jwt": jwt(),
    "github": f"ghp_{token(36)}",
    "slack": f"xoxb-{token(12, '0123456789')}-{token(24)}",
    "google": f"AIza{token(35)}",
}


# --- redaction by key ----------------------------------------------------------------------------

redactor = Redactor(DEFAULT_REDACT_KEYS)


@pytest.mark.parametrize("key", [
    "api_key", "openai_api_key", "OPENAI_API_KEY", "apiKey", "openaiApiKey", "APIKey", "x-api-key", "X-Api-Key",
    "Authorization", "proxy-authorization", "access_token", "accessToken", "refresh_token", "id_token",
    "client_secret", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "db.password", "user password",
    "Cookie", "set-cookie", "private_key", "session_token", "credentials", "passwd",
])
def test_secret_looking_keys_are_redacted_however_they_are_written(key):
    assert sanitize({key: "value-of-the-secret"}, redactor, 1000) == {key: REDACTED}


@pytest.mark.parametrize("key", ["max_tokens", "maxTokens", "author", "tokens_used", "prompt", "keyboard",
                                 "monkey", "secretary_name", "authority", "cookies_eaten"])
def test_lookalike_keys_are_kept(key):
    assert sanitize({key: "kept"}, redactor, 1000) == {key: "kept"}


# --- redaction by value --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_secret_shapes_are_redacted_under_innocent_keys_anywhere(recording, shape):
    secret = SHAPES[shape]

    class Client:
        def __repr__(self):
            return f"Client(key={secret!r})"

    @telemetry_decorator(agent_name="svc")
    def call(prompt, config, *rest, **options):
        annotate(note=f"using {secret} today", nested={"deep": [secret]})
        raise PermissionError(f"Incorrect API key provided: {secret}. You can find your key at ...")

    with pytest.raises(PermissionError):
        call(f"my key is {secret}!", {"settings": {"value": secret}}, secret, Client(),
             header=f"Bearer {secret}", url=f"https://user:{secret}@example.com/x")
    [event] = recording.events()
    assert secret not in event.metadata
    data = event.metadata_dict
    assert data["args"]["prompt"] == f"my key is {REDACTED}!"
    assert data["error_message"].startswith(f"Incorrect API key provided: {REDACTED}")
    note_fault("security: a secret under innocent names in arguments, notes, reprs and errors", recorded=1, stored=1)


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer abc123def456ghi", f"Authorization: Bearer {REDACTED}"),
    ("authorization: basic dXNlcjpwYXNzd29yZA==", f"authorization: basic {REDACTED}"),
    ("postgres://admin:s3cr3t-pass@db.internal:5432/app", f"postgres://admin:{REDACTED}@db.internal:5432/app"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- done", f"{REDACTED} done"),
])
def test_credentials_in_text_are_redacted(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [
    "Please summarise this support ticket about the billing page.",
    "sk-learn is a Python library; task-management-service-v2 is a service",
    "Though the thought was high, the tough ghost laughed.",
    "https://example.com/path?query=1#frag",
    "550e8400-e29b-41d4-a716-446655440000",
    "risk-assessment-report-2026-final-version",
    "a basic idea", "The bearer of bad news",
])
def test_ordinary_text_is_not_redacted(text):
    assert redact_text(text) == text


# --- a key in the environment of a run never reaches the database -------------------------------

LEAK_SCRIPT = r"""
import os, sys
sys.path.insert(0, {tests!r})
from fakes.fake_llm_server import FakeLLMServer, openai_error, anthropic_error
import openai, anthropic
from dev_system.ops.telemetry import annotate, configure, flush, telemetry_decorator
from dev_system.record.instrument import instrument

configure(enabled=True, db_path={db!r})
instrument("openai", "anthropic")
server = FakeLLMServer().start()
env = dict(os.environ)
key, ant = env["OPENAI_API_KEY"], env["ANTHROPIC_API_KEY"]

client = openai.OpenAI(base_url=server.url + "/v1", max_retries=0, timeout=5.0)  # the key from the environment
claude = anthropic.Anthropic(base_url=server.url, max_retries=0, timeout=5.0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
claude.messages.create(model="claude-haiku-4-5-20251001", max_tokens=10, messages=[{{"role": "user", "content": "hi"}}])
server.push(status=401, body=openai_error(f"Incorrect API key provided: {{key}}.", "invalid_request_error", "invalid_api_key"))
try:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
except openai.AuthenticationError:
    pass
server.push(status=401, body=anthropic_error(f"invalid x-api-key {{ant}}", "authentication_error"))
try:
    claude.messages.create(model="claude-haiku-4-5-20251001", max_tokens=10, messages=[{{"role": "user", "content": "hi"}}])
except anthropic.AuthenticationError:
    pass

@telemetry_decorator(agent_name="app", event_type="model_call")
def generate(prompt, client, settings, *extra, **options):
    annotate(environment=env, note="key " + key)
    raise RuntimeError(f"upstream said: bad key {{key}} / {{ant}} / {{env['AWS_SECRET_ACCESS_KEY']}}")

@telemetry_decorator(agent_name="app")
def tool(os_environ, headers):
    return len(os_environ)

for _ in range(3):
    try:
        generate("hello " + key, client, {{"provider": {{"credentials": [key, ant]}}}}, env, ant,
                 headers={{"Authorization": "Bearer " + key, "x-api-key": ant}}, environ=env)
    except RuntimeError:
        pass
    tool(os.environ, {{"Authorization": "Bearer " + key}})
flush()
server.stop()
"""


def test_keys_in_the_environment_never_reach_the_database(tmp_path):
    """The real SDKs read their keys from the environment and echo them in their errors; the
    application passes them around in every way it can. None of it is in any byte on disk."""
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    db = tmp_path / "telemetry.db"
    keys = {"OPENAI_API_KEY": SHAPES["openai project"], "ANTHROPIC_API_KEY": SHAPES["anthropic"],
            "AWS_ACCESS_KEY_ID": SHAPES["aws access key id"], "AWS_SECRET_ACCESS_KEY": token(40),
            "GITHUB_TOKEN": SHAPES["github"], "MY_SERVICE_PASSWORD": token(24)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env.update(keys, NO_PROXY="127.0.0.1,localhost", DEV_SYSTEM_FLUSH_INTERVAL_S="3600")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(proxy, None)
    script = LEAK_SCRIPT.format(tests=str(TESTS), db=str(db))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]
        agents = {row[0] for row in conn.execute("SELECT DISTINCT agent_name FROM telemetry_events")}
    assert stored >= 10 and "app" in agents and len(agents) >= 2  # the SDK calls were recorded too
    files = [p for p in tmp_path.iterdir() if p.name.startswith("telemetry.db")]
    blob = b"".join(p.read_bytes() for p in files)
    leaked = {name for name, value in keys.items() if value.encode() in blob}
    # Only the variables without a well-known shape or a secret-looking name may be stored: the
    # AWS secret key and the password are 40 and 24 random characters, found only by their names.
    assert leaked == set(), f"secrets found on disk: {sorted(leaked)}"
    note_fault("security: keys from the environment through SDKs, errors, arguments, notes",
               recorded=stored, stored=stored)


# --- owner-only data -----------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_everything_recording_creates_is_owner_only_whatever_the_umask(tmp_path, umask):
    project = tmp_path / "project"
    code = f"""
        import os
        os.umask({umask})
        from dev_system.ops.telemetry import configure, telemetry_decorator
        configure(enabled=True, db_path={str(project / ".dev-system" / "data" / "telemetry.db")!r})
        @telemetry_decorator(agent_name="a")
        def f():
            pass
        f()
        from dev_system.ops.telemetry import flush
        flush()
        made = []
        for folder, dirs, files in os.walk({str(project)!r}):
            for name in dirs + files:
                path = os.path.join(folder, name)
                made.append((path, oct(os.stat(path).st_mode & 0o777)))
        print(made)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    made = dict(eval(result.stdout))  # our own script's output, a list of (path, mode) tuples
    assert str(project / ".dev-system" / "data" / "telemetry.db-wal") in made  # open WAL files checked too
    too_open = {path: mode for path, mode in made.items() if int(mode, 8) & 0o077}
    assert too_open == {}
    assert stat.S_IMODE(project.stat().st_mode) == 0o700


def test_dev_system_init_is_owner_only_under_umask_000(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    result = subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0); from dev_system.cli import main;"
                             " sys.exit(main(['init', '--telemetry']))"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for path in [tmp_path / ".dev-system", *(tmp_path / ".dev-system").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


# --- nothing read is ever run -------------------------------------------------------------------

#: Calls that turn data into code or objects. Each allowed use is listed with why it is safe.
DANGEROUS = re.compile(r"\b(eval|exec|compile|__import__|import_module|pickle|cPickle|marshal|shelve|dill|"
                       r"yaml\.load|jsonpickle|runpy|execfile|load_source|SourceFileLoader|spec_from_file_location|"
                       r"os\.system|shell\s*=\s*True|Popen)\b")
ALLOWED = {
    # the provider SDKs and our own instrumentation modules, by names from fixed lists in the code
    # (PROVIDERS, _TARGETS), never by a name read from the database or the configuration
    ("dev_system/record/instrument/__init__.py", "import_module"): "PROVIDERS",
    ("dev_system/hookspecs.py", "import_module"): "BUILTIN_PLUGINS",
    ("dev_system/record/instrument/openai.py", "import_module"): "_TARGETS",
    ("dev_system/record/instrument/anthropic.py", "import_module"): "_TARGETS",
    ("dev_system/record/instrument/google_genai.py", "import_module"): "_TARGETS",
    # the module of the command the parser chose, from the parser's fixed table of commands
    ("dev_system/cli/__init__.py", "import_module"): "COMMANDS",
}
#: Where a constant of ALLOWED is defined, when not in the module that imports by it.
DEFINED_IN = {"COMMANDS": "dev_system/cli/parser.py"}


def _dangerous_lines() -> list[tuple[str, str, str]]:
    hits = []
    for package in ("dev_system", "pytest_devtelemetry"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                for match in DANGEROUS.finditer(code):
                    word = match.group(1)
                    if re.search(r"""["'][^"']*\b""" + re.escape(word) + r"""\b[^"']*["']""", code):
                        continue  # the word inside a string (a message), not a call
                    if word == "compile" and "re.compile" in code:
                        continue
                    hits.append((relative, word, f"{relative}:{number}: {line.strip()}"))
    return hits


def test_no_code_path_evaluates_unpickles_or_imports_what_it_reads():
    assert [where for relative, word, where in _dangerous_lines() if (relative, word) not in ALLOWED] == []


def test_the_allowed_imports_take_names_from_fixed_lists_only():
    for (relative, word), source in ALLOWED.items():
        path = ROOT / relative
        assert path.exists(), relative
        text = path.read_text(encoding="utf-8")
        defining = (ROOT / DEFINED_IN[source]).read_text(encoding="utf-8") if source in DEFINED_IN else text
        assert re.search(rf"^{source}\b.*=", defining, re.MULTILINE), (relative, source)  # a module constant
        for line in text.splitlines():
            code = line.split("#", 1)[0]
            if f"{word}(" in code:
                argument = code.split(f"{word}(", 1)[1]
                assert re.match(r"""(["'][\w.]+["']|module_name\b|f"dev_system\.record\.instrument\.\{name\}"|"""
                                r"""f"dev_system\.cli\.\{COMMANDS\[args\.command\]\}")""", argument), line


def test_settings_and_stored_data_are_read_as_data(tmp_path, monkeypatch):
    """Values that would run code if anything evaluated them stay inert strings."""
    marker = tmp_path / "ran"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    (tmp_path / "pyproject.toml").write_text(
        "[tool.dev-system]\n"
        f"run-id = {json.dumps(payload)}\n"
        f"redact-keys = [{json.dumps(payload)}]\n"
        f'db-path = "x.db"\n'
        f'[tool.dev-system.prices.{json.dumps(payload)}]\ninput = 1\noutput = 2\n')
    monkeypatch.chdir(tmp_path)
    from dev_system import config

    settings = config.load()
    assert settings.run_id == payload and not marker.exists()
    from dev_system import cli

    for argv in (["metrics", "--period", "all", "--agent", payload], ["events", "--trace", payload],
                 ["trace", payload], ["export", "--run", payload]):
        cli.main(argv)
    assert not marker.exists()


PYTEST_LEAK_TESTS = '''
import os
import pytest
from dev_system.ops.telemetry import telemetry_decorator

KEY = os.environ["OPENAI_API_KEY"]


@telemetry_decorator(agent_name="app", event_type="model_call")
def ask(prompt, client_config):
    raise PermissionError(f"401: Incorrect API key provided: {client_config['key']}")


@telemetry_decorator(agent_name="app")
def tool(token_value, headers):
    return headers


def test_calls():
    tool(KEY, {"Authorization": f"Bearer {KEY}"})
    with pytest.raises(PermissionError):
        ask(f"use {KEY}", {"key": KEY})
'''

PARAMETRIZED_BY_THE_KEY = '''

@pytest.mark.parametrize("key", [KEY])
def test_with_the_key_as_a_parameter(key):
    tool("x", {})
'''


def _pytest_run_leaks(pytester, tests: str, events: int) -> bool:
    secret = SHAPES["openai project"]
    pytester.makepyfile(test_leak=tests)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester._monkeypatch.setenv("OPENAI_API_KEY", secret)
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    with sqlite3.connect(pytester.path / "t.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0] == events
    files = [p for p in pytester.path.iterdir() if p.name.startswith("t.db")]
    return secret.encode() in b"".join(p.read_bytes() for p in files)


def test_a_pytest_run_never_stores_a_key_from_its_environment(pytester):
    """A test session with the key in its environment, in the arguments of recorded calls and in
    the errors they raise: no byte of the database holds it."""
    assert not _pytest_run_leaks(pytester, PYTEST_LEAK_TESTS, 2)
    note_fault("security: a pytest --telemetry run with the key in its environment", recorded=2, stored=2)


def test_a_key_in_a_test_id_is_not_stored(pytester):
    """A test parametrized by the key: its id holds it; the stored trace ids and node ids do not."""
    assert not _pytest_run_leaks(pytester, PYTEST_LEAK_TESTS + PARAMETRIZED_BY_THE_KEY, 3)
    note_fault("security: a key in a pytest test id", recorded=3, stored=3)
