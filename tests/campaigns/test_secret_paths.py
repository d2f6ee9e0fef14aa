"""Secrets beyond arguments: every path by which a key could reach the database, the reports, the
terminal or OTLP other than a captured argument under a secret name. Each test makes the leak
happen for real (real HTTP errors, the real SDKs against a local server, real pytest runs, the
real OTLP receiver) and looks for the key in every byte written."""

from __future__ import annotations

import collections
import dataclasses
import http.server
import os
import secrets
import shlex
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path
from typing import NamedTuple

import pytest
from test_reliability_figures import note_fault

from dev_system.ops.telemetry import annotate, configure, flush, telemetry_decorator
from dev_system.record.context import trace
from dev_system.record.redaction import REDACTED

TESTS = Path(__file__).resolve().parents[1]


def token(n: int = 40, alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


#: Keys of well-known shapes, fresh each run.
SHAPED = {
    "openai project": f"sk-proj-{token(64)}",
    "anthropic": f"sk-ant-api03-{token(80)}",
    "google": f"AIza{token(35)}",
    "github": f"ghp_{token(36)}",
    "slack": f"xoxb-{token(12, '0123456789')}-{token(24)}",
    "aws access key id": "AKIA" + token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    "jwt": f"eyJhbGciOiJIUzI1NiJ9.eyJ{token(30)}.{token(43)}",
}


def files_of(db: Path) -> bytes:
    """Every byte of the database at ``db`` and its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


def stored_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = env or {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server():
    """An HTTP server on 127.0.0.1 that answers every GET with 401."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver():
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    pytest.importorskip("opentelemetry.proto")
    from fakes.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as running:
        yield running


def received_text(spans) -> str:
    """Everything the OTLP receiver got, as one text: names, attributes, statuses, resources."""
    return "\n".join(f"{s.name}|{s.attributes}|{s.status_message}|{s.resource}" for s in spans)


def otlp_sink():
    from dev_system.ops import otel
    from dev_system.record.recorder import get_recorder

    [sink] = [s for s in get_recorder().sinks if isinstance(s, otel.OtlpSink)]
    return sink


# --- 1. keys in query strings ----------------------------------------------------------------------

QUERY_NAMES = ("api_key", "apikey", "access_token", "key", "token", "appid", "signature", "password", "client_secret")


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_secret_query_parameters_in_http_errors_are_redacted_in_db_html_and_otlp(tmp_path, refusing_server,
                                                                                 receiver, library):
    """A tool calls an API with its key in the query string and raises the library's error for
    the 401: the error's text holds the URL. The key is in no stored byte, no HTML byte, no span."""
    client = pytest.importorskip(library)
    db = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db, otlp_endpoint=receiver.endpoint)
    keys = {name: token(32, "0123456789abcdef") for name in QUERY_NAMES}

    @telemetry_decorator(agent_name="search_tool", event_type="tool_call")
    def search(name: str, query: str) -> None:
        response = client.get(f"{refusing_server}/search.json", params={"q": query, name: keys[name]}, timeout=10)
        annotate(url=str(response.url), note=f"asked {response.url}")
        response.raise_for_status()

    for name in QUERY_NAMES:
        with pytest.raises(Exception) as raised:
            search(name, "coffee")
        assert keys[name] in str(raised.value)  # the library's error does hold the key
    flush()
    otlp_sink().flush(15)
    spans = receiver.wait_for(len(QUERY_NAMES))
    html = tmp_path / "report.html"
    result = run_cli("report", "--html", str(html), "--db", str(db), "--period", "all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        messages = [row[0] for row in conn.execute("SELECT json_extract(metadata, '$.error_message') FROM telemetry_events")]
    assert all("q=coffee" in m and f"={REDACTED}" in m for m in messages)  # the URL is still readable
    places = {"database": files_of(db).decode("utf-8", "replace"), "html": html.read_text(encoding="utf-8"),
              "otlp": received_text(spans)}
    leaked = {(where, name) for where, text in places.items() for name, key in keys.items() if key in text}
    assert leaked == set()
    note_fault("security: keys in the query strings of requests/httpx errors (db, html, otlp)",
               recorded=len(QUERY_NAMES), stored=stored_count(db))


# --- 2. keys an SDK client holds ---------------------------------------------------------------------

SDK_SCRIPT = r"""
import os, sys
sys.path.insert(0, {tests!r})
from fakes.fake_llm_server import FakeLLMServer, openai_error, anthropic_error
import openai, anthropic
from dev_system.ops.telemetry import configure, flush
from dev_system.record.instrument import instrument

keys = {keys!r}
configure(enabled=True, db_path={db!r})
instrument("openai", "anthropic")
server = FakeLLMServer().start()
host = server.url.split("://", 1)[1]
clients = [
    openai.OpenAI(api_key=keys["groq"], base_url=server.url + "/v1", max_retries=0, timeout=5.0),
    openai.OpenAI(api_key=keys["azure"], base_url=server.url + "/v1", max_retries=0, timeout=5.0,
                  default_headers={{"X-Gateway-Key": keys["gateway"]}}),
    openai.OpenAI(api_key=keys["together"], base_url=f"http://proxyuser:{{keys['url password']}}@{{host}}/v1",
                  max_retries=0, timeout=5.0),
]
everything = " ".join(keys.values())
for client in clients:
    server.push(status=401, body=openai_error(f"Incorrect API key provided: {{everything}}", "invalid_request_error",
                                              "invalid_api_key"))
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
    except openai.AuthenticationError as exc:
        assert keys["groq"] in str(exc)
claude = anthropic.Anthropic(api_key=keys["anthropic gateway"], base_url=server.url, max_retries=0, timeout=5.0)
server.push(status=401, body=anthropic_error(f"invalid x-api-key {{everything}}", "authentication_error"))
try:
    claude.messages.create(model="claude-haiku-4-5-20251001", max_tokens=10, messages=[{{"role": "user", "content": "hi"}}])
except anthropic.AuthenticationError:
    pass
flush()
server.stop()
"""


def test_keys_an_sdk_client_holds_are_redacted_whatever_their_shape(tmp_path):
    """Keys without a well-known shape (Groq's ``gsk_``, Azure's 32 hex digits, Together's
    ``tgp_v1_``, a gateway key in a default header, a password in the base URL), echoed by the
    server in a 401: the instrumentation knows them from the client and stores none of them."""
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    db = tmp_path / "telemetry.db"
    keys = {"groq": f"gsk_{token(52)}", "azure": token(32, "0123456789abcdef"), "together": f"tgp_v1_{token(43)}",
            "gateway": f"gw-{token(30)}", "url password": token(24), "anthropic gateway": f"pk_{token(40)}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEV_SYSTEM_", "OPENAI_", "ANTHROPIC_"))}
    env.update(NO_PROXY="127.0.0.1,localhost", DEV_SYSTEM_FLUSH_INTERVAL_S="3600")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(proxy, None)
    script = SDK_SCRIPT.format(tests=str(TESTS), db=str(db), keys=keys)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    stored = stored_count(db)
    assert stored == 4
    blob = files_of(db)
    assert {name for name, key in keys.items() if key.encode() in blob} == set()
    with sqlite3.connect(db) as conn:
        messages = [row[0] for row in conn.execute("SELECT json_extract(metadata, '$.error_message') FROM telemetry_events")]
    assert all(REDACTED in m for m in messages)
    note_fault("security: keys of no known shape held by SDK clients, echoed in 401s", recorded=4, stored=stored)


# --- 3. secret environment variables set after start -----------------------------------------------

ENV_TESTS = '''
import os
import pytest
from dev_system.ops.telemetry import annotate, telemetry_decorator


@telemetry_decorator(agent_name="vendor")
def call_vendor(value):
    annotate(note="using " + value)
    raise PermissionError("vendor said: bad key " + value)


def test_a_key_set_by_monkeypatch(monkeypatch):
    monkeypatch.setenv("VENDOR_API_KEY", "{monkeypatched}")
    with pytest.raises(PermissionError):
        call_vendor(os.environ["VENDOR_API_KEY"])


def test_a_key_from_the_dotenv_file():
    with pytest.raises(PermissionError):
        call_vendor(os.environ["SERVICE_TOKEN"])
'''

DOTENV_CONFTEST = '''
import os
from pathlib import Path

for line in (Path(__file__).parent / ".env").read_text().splitlines():  # what python-dotenv does
    name, _, value = line.partition("=")
    os.environ[name] = value
'''


def test_secret_environment_variables_set_during_the_run_are_redacted(pytester):
    """A ``.env`` loaded while pytest collects, a ``monkeypatch.setenv`` in a test: the keys were
    not in the environment when telemetry started, and are in no stored byte."""
    monkeypatched, dotenv = token(40), token(36)
    pytester.makepyfile(test_env=ENV_TESTS.replace("{monkeypatched}", monkeypatched))
    pytester.makeconftest(DOTENV_CONFTEST)
    (pytester.path / ".env").write_text(f"SERVICE_TOKEN={dotenv}\n")
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    db = pytester.path / "t.db"
    stored = stored_count(db)
    assert stored == 2
    blob = files_of(db)
    assert monkeypatched.encode() not in blob and dotenv.encode() not in blob
    note_fault("security: keys put in the environment during a pytest run (.env, monkeypatch)", recorded=2, stored=stored)


def test_a_key_set_in_the_environment_after_configure_is_redacted(recording, monkeypatch):
    @telemetry_decorator(agent_name="app")
    def call(value):
        raise RuntimeError(f"rejected {value}")

    key = token(30)
    monkeypatch.setenv("LATE_SERVICE_PASSWORD", key)
    with pytest.raises(RuntimeError):
        call(key)
    [event] = recording.events()
    assert key not in event.metadata
    assert event.metadata_dict["error_message"] == f"rejected {REDACTED}"
    note_fault("security: a key set in the environment after configure()", recorded=1, stored=1)


class _QuotingSink:
    """A sink that fails with an error quoting the key it was refused with."""

    def __init__(self, key: str) -> None:
        self.key = key

    def write(self, events):
        raise PermissionError(f"collector refused the credentials {self.key}")

    def close(self):
        pass


def test_a_problem_quoting_a_key_is_redacted_in_the_log_and_the_counters(recording, caplog):
    import logging

    from dev_system.ops.telemetry import add_sink, remove_sink, stats

    @telemetry_decorator(agent_name="app")
    def call():
        return "ok"

    key = "sk-proj-" + token(40)
    sink = type(f"QuotingSink{token(6)}", (_QuotingSink,), {})(key)  # its own kind of problem
    add_sink(sink)
    try:
        with caplog.at_level(logging.WARNING, logger="dev_system"):
            assert call() == "ok"
            flush()
    finally:
        remove_sink(sink)
    messages = [m for m in stats()["problem_messages"].values() if "collector refused the credentials" in m]
    assert messages and all(REDACTED in m for m in messages)
    assert key not in str(stats()) and key not in caplog.text
    assert "collector refused the credentials" in caplog.text
    note_fault("security: a problem message quoting a key (a sink's error)", recorded=1, stored=len(recording.events()))


# --- 4. objects ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class DataclassConfig:
    model: str
    api_key: str


class TupleConfig(NamedTuple):
    model: str
    api_key: str


class PlainConfig:
    def __init__(self, model: str, api_key: str) -> None:
        self.model, self.api_key = model, api_key

    def __repr__(self) -> str:
        return f"PlainConfig(model={self.model!r}, api_key={self.api_key!r})"


def _attrs_config():
    attrs = pytest.importorskip("attrs")

    @attrs.define
    class AttrsConfig:
        model: str
        api_key: str

    return AttrsConfig


OBJECT_KINDS = ["dataclass", "namedtuple", "attrs", "simplenamespace", "plain object", "pydantic"]


def _make_config(kind: str, key: str):
    if kind == "dataclass":
        return DataclassConfig("gpt-4o-mini", key)
    if kind == "namedtuple":
        return TupleConfig("gpt-4o-mini", key)
    if kind == "attrs":
        return _attrs_config()("gpt-4o-mini", key)
    if kind == "simplenamespace":
        return types.SimpleNamespace(model="gpt-4o-mini", api_key=key)
    if kind == "pydantic":
        pydantic = pytest.importorskip("pydantic")
        return pydantic.create_model("PydanticConfig", model=(str, ...), api_key=(str, ...))(model="gpt-4o-mini", api_key=key)
    return PlainConfig("gpt-4o-mini", key)


@pytest.mark.parametrize("kind", OBJECT_KINDS)
def test_objects_are_redacted_by_field_name_like_dicts(recording, kind):
    key = token(32)  # no well-known shape: only its field's name says it is a secret
    config = _make_config(kind, key)

    @telemetry_decorator(agent_name="app")
    def call(settings, nested):
        annotate(settings=settings)
        return None

    call(config, {"configs": [config], "by_name": collections.OrderedDict(first=config)})
    [event] = recording.events()
    assert key not in event.metadata
    assert "gpt-4o-mini" in event.metadata  # the other fields are kept
    assert REDACTED in event.metadata_dict["args"]["settings"] if kind == "plain object" else \
        event.metadata_dict["args"]["settings"]["api_key"] == REDACTED
    note_fault("security: a key in a field of an object (dataclass, NamedTuple, attrs, ...)", recorded=1, stored=1)


# --- 5. every stored text field -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPED)
def test_key_shapes_in_names_ids_keys_and_annotations_reach_neither_db_nor_otlp(tmp_path, receiver, shape):
    secret = SHAPED[shape]
    db = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db, otlp_endpoint=receiver.endpoint)

    @telemetry_decorator(agent_name=f"agent-{secret}", event_type="model_call")
    def call(data, **options):
        annotate(model=f"model-{secret}", **{f"note {secret}": 1}, nested={secret: [secret]})
        raise ValueError(f"failed with {secret}")

    @telemetry_decorator(agent_name="tool", event_type="tool_call")
    def tool(value):
        return value

    with pytest.raises(ValueError):
        call({secret: "v"}, **{secret: 1})
    tool(1, _trace_id=f"trace-{secret}")
    with trace(f"trace-{secret}-block"):
        tool(2)
    flush()
    otlp_sink().flush(15)
    spans = receiver.wait_for(3)
    assert len(spans) == 3 and stored_count(db) == 3
    assert secret.encode() not in files_of(db)
    assert secret not in received_text(spans)
    with sqlite3.connect(db) as conn:
        agents = {row[0] for row in conn.execute("SELECT agent_name FROM telemetry_events")}
        models = {row[0] for row in conn.execute("SELECT model FROM telemetry_events")}
    assert f"agent-{REDACTED}" in agents and f"model-{REDACTED}" in models
    note_fault("security: key shapes in agent names, trace ids, keys, kwargs names, the model (db, otlp)",
               recorded=3, stored=3)


# --- 6. the pytest command line ---------------------------------------------------------------------

CLI_CONFTEST = '''
def pytest_addoption(parser):
    parser.addoption("--vendor-key")
    parser.addoption("--vendor-token")
'''

CLI_TESTS = '''
import pytest
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="app")
def work(value):
    return value


@pytest.mark.parametrize("value", ["{shaped}", "plain"])
def test_work(value):
    work(1)
'''


def test_the_stored_command_line_holds_no_key(pytester):
    """``--vendor-key=...``, ``--vendor-token VALUE`` and a selected node id holding a key: the
    run's ``command`` in the database, the JSON report and the HTML report show none of them."""
    shaped = SHAPED["openai project"]
    option_key, option_token = f"vk_cli_{token(30)}", token(30)
    pytester.makeconftest(CLI_CONFTEST)
    pytester.makepyfile(test_cli=CLI_TESTS.replace("{shaped}", shaped))
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    result = pytester.runpytest_subprocess(
        "--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider", f"--vendor-key={option_key}",
        "--vendor-token", option_token, f"test_cli.py::test_work[{shaped}]", "--telemetry-json=report.json",
        "--telemetry-html=report.html")
    assert result.ret == 0, result.stdout.str()
    db = pytester.path / "t.db"
    with sqlite3.connect(db) as conn:
        [command] = [row[0] for row in conn.execute("SELECT command FROM runs")]
    words = shlex.split(command)
    assert f"--vendor-key={REDACTED}" in words and words[words.index("--vendor-token") + 1] == REDACTED
    assert f"test_cli.py::test_work[{REDACTED}]" in words
    outputs = {"db": files_of(db), "json": (pytester.path / "report.json").read_bytes(),
               "html": (pytester.path / "report.html").read_bytes()}
    leaked = {(where, name) for where, blob in outputs.items()
              for name, secret in (("shaped", shaped), ("option", option_key), ("token", option_token))
              if secret.encode() in blob}
    assert leaked == set()
    note_fault("security: keys on the pytest command line (db, json, html)", recorded=1, stored=stored_count(db))


# --- 7. redact first, then cut ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["openai project", "aws access key id", "github", "jwt"])
def test_a_key_straddling_the_cut_leaves_no_prefix(tmp_path, shape):
    secret = SHAPED[shape]
    configure(enabled=True, db_path=tmp_path / "t.db", max_value_chars=60)

    @telemetry_decorator(agent_name="app")
    def call(text, items):
        raise RuntimeError("x" * 489 + " " + secret)

    with pytest.raises(RuntimeError):
        call("x" * 49 + " " + secret, ["y" * 54 + "=" + secret])
    flush()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        [metadata] = [row[0] for row in conn.execute("SELECT metadata FROM telemetry_events")]
    prefix = secret[:4]
    assert prefix not in metadata, metadata
    note_fault("security: a key straddling the cut of a long value or error", recorded=1, stored=1)


# --- 8. the digest of a redacted node id ----------------------------------------------------------------

DIGEST_TESTS = '''
import pytest
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="app")
def work():
    return 1


@pytest.mark.parametrize("password", ["{first}", "{second}"])
def test_login(password):
    work()
'''


def _stored_test_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(row[0] for row in conn.execute("SELECT nodeid FROM test_results"))


def test_the_digest_of_a_redacted_node_id_is_keyed_per_database(pytester):
    """Two tests differing only in a key stay two tests; the same test has the same id in every
    run of a database, and the digest is not a plain hash of the id (no offline guessing)."""
    import hashlib

    first, second = SHAPED["openai project"], f"sk-proj-{token(64)}"
    pytester.makepyfile(test_digest=DIGEST_TESTS.replace("{first}", first).replace("{second}", second))
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    for db in ("a.db", "a.db", "b.db"):
        result = pytester.runpytest_subprocess("--telemetry", f"--telemetry-db={db}", "-p", "no:cacheprovider")
        assert result.ret == 0, result.stdout.str()
    in_a, in_b = _stored_test_ids(pytester.path / "a.db"), _stored_test_ids(pytester.path / "b.db")
    assert len(set(in_a)) == 2 and in_a[0] == in_a[1] and in_a[2] == in_a[3]  # two runs, the same two ids
    assert set(in_a).isdisjoint(in_b)  # another database, another key
    for nodeid in (f"test_digest.py::test_login[{first}]", f"test_digest.py::test_login[{second}]"):
        plain = hashlib.sha256(nodeid.encode()).hexdigest()[:8]
        assert not any(stored.endswith(plain) for stored in in_a + in_b)
    for db in ("a.db", "b.db"):
        assert first.encode() not in files_of(pytester.path / db)
        with sqlite3.connect(pytester.path / db) as conn:
            traces = {row[0] for row in conn.execute("SELECT DISTINCT trace_id FROM telemetry_events")}
        assert traces == set(_stored_test_ids(pytester.path / db))  # events still match their tests
    note_fault("security: guessing a key from the digest of a redacted node id", recorded=6, stored=6)


# --- 9. endpoints, Markdown, file modes ---------------------------------------------------------------

def test_otlp_endpoint_credentials_are_never_printed(tmp_path, receiver):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    user_token = token(32)
    db = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db)

    @telemetry_decorator(agent_name="app")
    def work():
        return 1

    work()
    flush()
    configure(enabled=False)
    port = receiver.endpoint.rsplit(":", 1)[1]
    endpoint = f"http://collector:{user_token}@127.0.0.1:{port}/v1/traces"
    result = run_cli("export", "--format", "otlp", "--endpoint", endpoint, "--db", str(db), "--period", "all",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Exported 1 span" in result.stderr and user_token not in result.stdout + result.stderr
    # a collector that refuses: the warning names the endpoint without its credentials
    code = f"""
        import logging, sys
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
        from dev_system.ops.telemetry import configure, flush, telemetry_decorator
        configure(enabled=True, db_path={str(tmp_path / 'other.db')!r},
                  otlp_endpoint="http://collector:{user_token}@127.0.0.1:9/v1/traces")
        @telemetry_decorator(agent_name="app")
        def work():
            return 1
        work()
        flush()
        from dev_system.ops.telemetry import stats
        print(stats())
        configure(enabled=False)
    """
    closed = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert closed.returncode == 0, closed.stderr
    assert "127.0.0.1:9" in closed.stdout + closed.stderr  # the endpoint is named
    assert user_token not in closed.stdout + closed.stderr
    note_fault("security: credentials in the OTLP endpoint (export output, warnings, stats)", count=2)


def test_a_refused_endpoint_is_named_without_its_credentials(tmp_path):
    user_token = token(32)
    endpoint = f"ftp://collector:{user_token}@127.0.0.1/v1/traces"
    flag = run_cli("export", "--format", "otlp", "--endpoint", endpoint, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env["DEV_SYSTEM_OTLP_ENDPOINT"] = endpoint
    variable = run_cli("metrics", cwd=tmp_path, env=env)
    for result in (flag, variable):
        assert result.returncode == 2 and "ftp://[REDACTED]@127.0.0.1/v1/traces" in result.stderr, result.stderr
        assert user_token not in result.stdout + result.stderr
    note_fault("security: credentials in the OTLP endpoint (export output, warnings, stats)", count=2)


HOSTILE_NAMES = ["evil | injected | cells", "[click me](https://evil.example/steal)", "![pixel](https://evil.example/p.png)",
                 "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "`code` **bold**"]


def test_markdown_escapes_stored_names(tmp_path):
    db = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db)
    for name in HOSTILE_NAMES:
        telemetry_decorator(agent_name=name)(lambda: 1)()
        telemetry_decorator(agent_name=name)(lambda: 1)()  # the top agent is one of these
    flush()
    configure(enabled=False)
    result = run_cli("metrics", "--format", "markdown", "--by", "agent", "--period", "all", "--db", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table_lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    widths = {line.count("|") - line.count("\\|") for line in table_lines if "Metric" not in line and "Value" not in line}
    assert len(widths) == 2  # the summary table's rows and the breakdown's: no name added a cell
    for raw in ("<img", "<script", "](https://", "![", "`code`", "**bold**", "https://evil"):
        assert raw not in result.stdout, raw
    note_fault("security: hostile names in Markdown reports (cells, links, images, HTML)", count=len(HOSTILE_NAMES))


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o000])
def test_html_and_json_reports_are_owner_only_whatever_the_umask(tmp_path, umask):
    db = tmp_path / "telemetry.db"
    configure(enabled=True, db_path=db)
    telemetry_decorator(agent_name="a")(lambda: 1)()
    flush()
    configure(enabled=False)
    code = f"""
        import os, sys
        os.umask({umask})
        from dev_system.cli import main
        sys.exit(main(["report", "--html", {str(tmp_path / 'out' / 'report.html')!r}, "--db", {str(db)!r},
                       "--period", "all"]))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "out" / "report.html").stat().st_mode) == 0o600
    from dev_system.render.files import write_private_text

    old = os.umask(umask)
    try:
        path = write_private_text(tmp_path / "report.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    note_fault("security: reports written under a permissive umask", count=2)
