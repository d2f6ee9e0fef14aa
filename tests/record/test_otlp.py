"""OpenTelemetry export against a real OTLP/HTTP receiver on 127.0.0.1 that decodes the protobuf
payload with ``opentelemetry-proto``: names, GenAI attributes, parent links, trace ids, and what
happens when the receiver is down, slow or refusing."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from dev_system.config import Settings
from dev_system.ops import otel
from dev_system.ops.telemetry import flush, telemetry_decorator
from dev_system.record.context import trace
from dev_system.record.otlp_sdk import SpanBuilder
from dev_system.record.recorder import get_recorder
from fakes.otlp_receiver import OtlpReceiver, closed_port_endpoint

ERROR = 2  # Status.STATUS_CODE_ERROR
CLIENT, INTERNAL = 3, 1  # Span.SPAN_KIND_*


def response(model: str = "gpt-4o-mini") -> dict:
    """An OpenAI-shaped chat completion (as JSON) with usage and cached tokens."""
    return {"model": model, "choices": [], "usage": {
        "prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 100}}}


@telemetry_decorator("search-tool", "tool_call")
def search(query: str) -> list[str]:
    if query == "boom":
        raise LookupError("no index")
    return [query]


@telemetry_decorator("writer", "model_call", cost_calculator=lambda r: 0.0042)
def write_answer(prompt: str, model: str = "gpt-4o-mini") -> dict:
    search(prompt)
    try:
        search("boom")
    except LookupError:
        pass
    return response(model)


@telemetry_decorator("planner", "agent_call")
def plan(goal: str) -> str:
    write_answer(goal)
    return "done"


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        yield running


def live_sink(endpoint: str, **options) -> otel.OtlpSink:
    sink = otel.OtlpSink(otel.resolve_endpoint(endpoint), **options)
    get_recorder().add_sink(sink)
    return sink


@pytest.fixture
def sinks():
    made: list[otel.OtlpSink] = []
    yield made
    for sink in made:
        get_recorder().remove_sink(sink)
        sink.close()


def by_name(spans) -> dict:
    return {span.name: span for span in spans}


# -- the mapping, end to end ----------------------------------------------------------------------


def test_spans_follow_the_genai_conventions(recording, receiver, sinks) -> None:
    sinks.append(sink := live_sink(receiver.endpoint))
    assert plan("write a haiku") == "done"
    flush()
    assert sink.flush(15)
    spans = by_name(receiver.wait_for(4))
    assert sorted(spans) == ["chat gpt-4o-mini", "execute_tool search", "invoke_agent planner"]
    assert len(receiver.spans) == 4  # two tool calls: one succeeded, one failed

    agent, chat = spans["invoke_agent planner"], spans["chat gpt-4o-mini"]
    tools = [span for span in receiver.spans if span.name == "execute_tool search"]
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "planner"
    assert chat.kind == CLIENT and agent.kind == INTERNAL
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert chat.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 120
    assert chat.attributes["gen_ai.usage.output_tokens"] == 30
    assert chat.attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert chat.attributes[otel.COST_ATTRIBUTE] == pytest.approx(0.0042)
    for tool in tools:
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == "search"
    failed = [tool for tool in tools if tool.status_code == ERROR]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == "LookupError"
    assert failed[0].status_message == "no index"
    assert all("error.type" not in span.attributes for span in receiver.spans if span is not failed[0])

    # The tree of decorated calls, and the ids of the stored events.
    assert agent.parent_span_id == ""
    assert chat.parent_span_id == agent.span_id
    assert all(tool.parent_span_id == chat.span_id for tool in tools)
    assert len({span.trace_id for span in receiver.spans}) == 1
    stored = {event.span_id: event for event in recording.events()}
    assert set(stored) == {span.span_id for span in receiver.spans}
    for span in receiver.spans:
        event = stored[span.span_id]
        assert span.trace_id == event.trace_id
        assert span.attributes["dev_system.event_id"] == event.event_id
        assert span.start_ns == int(event.timestamp * 1e9)
        assert span.end_ns - span.start_ns == pytest.approx(event.latency_ms * 1e6, abs=1000)
    assert agent.resource["service.name"] == "dev-system" and agent.scope == "dev_system"
    assert sink.stats()["exported"] == 4 and sink.dropped == 0


def test_a_test_node_id_trace(recording, receiver, sinks) -> None:
    sinks.append(sink := live_sink(receiver.endpoint))
    nodeid = "tests/test_agent.py::test_plans[fast]"
    with trace(nodeid):
        plan("x")
    flush()
    sink.flush(15)
    spans = receiver.wait_for(4)
    expected = hashlib.sha256(nodeid.encode()).hexdigest()[:32]
    assert {span.trace_id for span in spans} == {expected}
    assert all(span.attributes[otel.NODEID_ATTRIBUTE] == nodeid for span in spans)
    assert all(span.attributes[otel.TRACE_ID_ATTRIBUTE] == nodeid for span in spans)


def test_traceparent_joins_the_trace(recording, receiver, sinks, monkeypatch) -> None:
    trace_hex, parent_hex = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    monkeypatch.setenv("TRACEPARENT", f"00-{trace_hex}-{parent_hex}-01")
    sinks.append(sink := live_sink(receiver.endpoint))
    plan("x")
    plan("y")
    flush()
    sink.flush(15)
    spans = receiver.wait_for(8)
    assert {span.trace_id for span in spans} == {trace_hex}
    roots = [span for span in spans if span.name.startswith("invoke_agent")]
    assert len(roots) == 2 and all(root.parent_span_id == parent_hex for root in roots)
    own = {span.span_id for span in spans}
    assert all(span.parent_span_id in own for span in spans if span not in roots)


def test_headers_from_the_standard_variable(recording, receiver, sinks, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret,x-team=agents")
    sinks.append(sink := live_sink(receiver.endpoint))
    search("q")
    flush()
    sink.flush(15)
    receiver.wait_for(1)
    assert receiver.requests[0]["authorization"] == "Bearer s3cret"
    assert receiver.requests[0]["x-team"] == "agents"
    assert receiver.requests[0]["content-type"] == "application/x-protobuf"


# -- a collector that is down, slow or refusing -----------------------------------------------------


def test_collector_down_costs_one_logged_problem_and_a_count(recording, sinks, caplog) -> None:
    sinks.append(sink := live_sink(closed_port_endpoint(), timeout=0.5))
    with caplog.at_level(logging.WARNING, logger="dev_system"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert plan("x") == "done"
        flush()
        assert sink.flush(15)
    assert sink.dropped == 12 and sink.exported == 0
    assert len(recording.events()) == 12  # the database has every event
    assert not [w for w in caught if "dev-system" in str(w.message)]  # never a warning in the caller's context
    mine = [r.getMessage() for r in caplog.records if r.name == "dev_system"]
    assert len(mine) == 1 and "could not be exported" in mine[0]


def test_collector_down_under_warnings_as_errors(recording, sinks) -> None:
    sinks.append(sink := live_sink(closed_port_endpoint(), timeout=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plan("x") == "done"
        flush()
        sink.flush(15)
    assert sink.dropped == 4


def test_refusing_collector(recording, sinks) -> None:
    with OtlpReceiver(status=400) as refusing:
        sinks.append(sink := live_sink(refusing.endpoint))
        search("q")
        flush()
        sink.flush(15)
        assert sink.dropped == 1 and refusing.spans == []
        assert len(refusing.requests) == 1  # a 400 is not retried


def test_slow_collector_times_out_then_close_is_bounded(recording, sinks) -> None:
    with OtlpReceiver(delay_s=3.0) as slow:
        sink = live_sink(slow.endpoint, timeout=0.3, close_timeout=0.2, interval_s=0.05)
        plan("x")
        flush()
        sink.flush(15)
        assert sink.dropped == 4 and sink.exported == 0
        search("late")  # queued when the process ends: close waits briefly, then counts it
        flush()
        get_recorder().remove_sink(sink)
        sink.close()
        assert sink.dropped == 5
        assert sink.stats()["queued"] == 0


def test_queue_overflow_is_counted(recording, sinks) -> None:
    with OtlpReceiver(delay_s=1.0) as slow:
        sinks.append(sink := live_sink(slow.endpoint, max_queue=3, batch_size=2, timeout=5))
        for i in range(10):
            search(str(i))
        flush()
        assert sink.flush(30)
        assert sink.exported + sink.dropped == 10
        assert sink.dropped >= 10 - 3 - 2  # at most the queue and one batch in flight got through


# -- after the fact ---------------------------------------------------------------------------------


def test_export_stored_events(recording, receiver, monkeypatch) -> None:
    plan("x")
    plan("y")
    events = recording.events()
    outcome = otel.export_events(events, receiver.endpoint, batch_size=3)
    assert (outcome.sent, outcome.failed) == (8, 0)
    spans = receiver.wait_for(8)
    assert {span.span_id for span in spans} == {event.span_id for event in events}
    assert outcome.endpoint == receiver.endpoint + "/v1/traces"


def test_export_to_a_down_collector_stops_at_the_first_failure(recording) -> None:
    plan("x")
    outcome = otel.export_events(recording.events(), closed_port_endpoint(), batch_size=2, timeout=0.5)
    assert (outcome.sent, outcome.failed) == (0, 4)


# -- configuration ----------------------------------------------------------------------------------


def test_resolve_endpoint() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert otel.resolve_endpoint(None, {}) is None
    assert otel.resolve_endpoint(None, env) == "http://collector:4318/v1/traces"
    assert otel.resolve_endpoint(None, {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x"}) == "http://t:1/x"
    assert otel.resolve_endpoint("http://mine:4318/", env) == "http://mine:4318/v1/traces"
    assert otel.resolve_endpoint("http://mine:4318/v1/traces", env) == "http://mine:4318/v1/traces"
    assert otel.resolve_endpoint("off", env) is None
    assert otel.resolve_endpoint("http://mine:4318", {"OTEL_SDK_DISABLED": "true"}) is None


def test_the_hook_gives_a_sink_only_when_configured(monkeypatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert otel.dev_system_sinks(Settings()) is None
    sink = otel.dev_system_sinks(Settings(otlp_endpoint="http://127.0.0.1:9"))
    assert isinstance(sink, otel.OtlpSink) and sink.endpoint == "http://127.0.0.1:9/v1/traces"
    sink.close()


def test_traceparent_parsing() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert otel.traceparent_from_env({"TRACEPARENT": good}) == (
        0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7)
    for bad in ("", "junk", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "ff-" + good[3:], good[:-3]):
        assert otel.traceparent_from_env({"TRACEPARENT": bad}) is None


@given(st.text(max_size=80), st.text(min_size=1, max_size=40))
def test_any_trace_id_maps_to_a_valid_one(trace_id: str, event_id: str) -> None:
    value = otel.otel_trace_id(trace_id or None, event_id)
    assert 0 < value < 2**128
    assert value == otel.otel_trace_id(trace_id or None, event_id)
    assert 0 < otel.otel_span_id(trace_id, event_id) < 2**64


def test_opentelemetry_is_imported_only_when_used() -> None:
    code = ("import sys, dev_system.record.otlp, dev_system.ops.telemetry, dev_system.store.combine; "
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    assert out.stdout.strip() == "[]"


# -- switched on by settings, through the plugin hook ------------------------------------------------


def test_the_setting_switches_the_exporter_on(tmp_path, receiver) -> None:
    from dev_system.ops.telemetry import configure

    configure(enabled=True, db_path=tmp_path / "t.db", otlp_endpoint=receiver.endpoint)
    [sink] = [s for s in get_recorder().sinks if isinstance(s, otel.OtlpSink)]
    plan("x")
    flush()
    sink.flush(15)
    assert len(receiver.wait_for(4)) == 4
    configure(enabled=False)  # closes the exporter
    assert sink.closed and not otel.stats(get_recorder().sinks)


_APP = """
import sys
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator("planner", "agent_call")
def plan():
    return tool()

@telemetry_decorator("search", "tool_call")
def tool():
    return 42

for _ in range(5):
    assert plan() == 42
print("app finished")
"""


def run_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEV_SYSTEM_", "TRACEPARENT"))}
    environ.update(DEV_SYSTEM_TELEMETRY="1", DEV_SYSTEM_DB_PATH=str(tmp_path / "app.db"), **env)
    return subprocess.run([sys.executable, "-c", _APP], capture_output=True, text=True, env=environ,
                          cwd=tmp_path, timeout=120)


def test_a_process_exports_through_the_standard_variables(tmp_path, receiver) -> None:
    done = run_app(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="my-agents",
                   TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert done.returncode == 0 and "app finished" in done.stdout, done.stderr
    spans = receiver.wait_for(10)
    assert len(spans) == 10
    assert {span.trace_id for span in spans} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert {span.resource["service.name"] for span in spans} == {"my-agents"}
    assert done.stderr == ""


def test_a_process_with_the_collector_down_finishes_with_one_logged_problem(tmp_path) -> None:
    done = run_app(tmp_path, DEV_SYSTEM_OTLP_ENDPOINT=closed_port_endpoint(), OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert done.returncode == 0 and "app finished" in done.stdout
    lines = [line for line in done.stderr.splitlines() if "dev-system telemetry:" in line]
    assert lines and all("spans" in line for line in lines), done.stderr
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr
    assert "10 spans were not exported" in done.stderr


# -- a real pytest run, and the command line -------------------------------------------------------

_SUITE = """
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator("search", "tool_call")
def search(q):
    return [q]

def test_searches():
    assert search("a") == ["a"]
    assert search("b") == ["b"]
"""


def test_a_pytest_run_exports_spans_tagged_with_the_test(pytester: pytest.Pytester, receiver, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    pytester.makepyfile(test_suite=_SUITE)
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db", str(pytester.path / "t.db"))
    assert result.ret == 0
    spans = receiver.wait_for(2)
    assert [span.name for span in spans] == ["execute_tool search"] * 2
    nodeid = "test_suite.py::test_searches"
    assert {span.attributes[otel.NODEID_ATTRIBUTE] for span in spans} == {nodeid}
    assert {span.trace_id for span in spans} == {hashlib.sha256(nodeid.encode()).hexdigest()[:32]}
    assert len({span.attributes["dev_system.run_id"] for span in spans}) == 1


def test_export_command(tmp_path, receiver) -> None:
    import os

    from dev_system.ops.telemetry import configure

    configure(enabled=True, db_path=tmp_path / "t.db")
    plan("x")
    flush()
    configure(enabled=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEV_SYSTEM_"))}

    def export(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dev_system", "export", "--format", "otlp", "--db",
                               str(tmp_path / "t.db"), *args], capture_output=True, text=True, cwd=tmp_path,
                              env={**env, **extra})

    done = export("--endpoint", receiver.endpoint)
    assert done.returncode == 0 and "Exported 4 spans" in done.stderr, done.stderr
    assert len(receiver.wait_for(4)) == 4
    done = export(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, DEV_SYSTEM_OTLP_ENDPOINT=receiver.endpoint)
    assert done.returncode == 0 and len(receiver.wait_for(8)) == 8

    down = export("--endpoint", closed_port_endpoint(), OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert down.returncode == 1 and down.stderr.count("\n") == 1 and "did not accept 4 of 4 spans" in down.stderr
    missing = export()
    assert missing.returncode == 2 and "no OTLP endpoint" in missing.stderr and down.stderr.count("\n") == 1


def test_a_plugin_sink_through_the_hook(tmp_path) -> None:
    from dev_system.hookspecs import get_plugin_manager, hookimpl
    from dev_system.ops.telemetry import configure
    from dev_system.record.sinks import MemorySink

    memory = MemorySink()

    class Plugin:
        @hookimpl
        def dev_system_sinks(self, settings):
            return [memory] if settings.enabled else None

    plugin = Plugin()
    manager = get_plugin_manager()
    manager.register(plugin)
    try:
        configure(enabled=True, db_path=tmp_path / "t.db")
        assert memory in get_recorder().sinks
        search("q")
        flush()
        assert [event.function_name for event in memory.events] == ["search"]
        configure(enabled=False)
        assert memory not in get_recorder().sinks
    finally:
        manager.unregister(plugin)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_exports_its_own_spans(recording, receiver, sinks) -> None:
    import os

    sinks.append(sink := live_sink(receiver.endpoint))
    search("parent")
    flush()
    sink.flush(15)
    pid = os.fork()
    if pid == 0:  # the child: record, then exit through the normal exit path (atexit flushes)
        try:
            search("child")
            flush()
            ok = sink.flush(15) and sink.exported == 1 and sink.dropped == 0
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    spans = receiver.wait_for(2)
    assert sorted(span.attributes["code.function.name"] for span in spans) == ["search", "search"]
    assert len({span.span_id for span in spans}) == 2


_ANY = st.one_of(st.none(), st.text(max_size=30), st.integers(-2**70, 2**70), st.booleans(), st.binary(max_size=10),
                 st.floats(allow_nan=True, allow_infinity=True))


@given(st.fixed_dictionaries({name: _ANY for name in ("timestamp", "event_type", "agent_name", "function_name",
                                                      "input_tokens", "output_tokens", "latency_ms", "cost_usd",
                                                      "success", "error_type", "trace_id", "metadata", "event_id",
                                                      "span_id", "parent_span_id", "run_id", "model")}))
def test_any_stored_row_becomes_a_valid_span(values: dict) -> None:
    """A database edited by hand or written by another tool may hold anything in any column: the
    export still makes a span the protobuf encoder takes (or the whole CLI export would fail)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from dev_system.events import TelemetryEvent

    event = TelemetryEvent(**values)
    fields = otel.span_fields(event)
    assert 0 < fields.trace_id < 2**128 and 0 < fields.span_id < 2**64
    assert 0 <= fields.start_ns <= fields.end_ns < 2**64
    assert all(isinstance(v, (str, int, float, bool)) for v in fields.attributes.values())
    assert encode_spans([_BUILDER.span(fields)]).SerializeToString()


_BUILDER = SpanBuilder()


@pytest.mark.parametrize("variable", [None, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_the_exporter_is_loaded_only_when_an_endpoint_is_set(tmp_path, variable) -> None:
    """Switching telemetry on imports the OTLP exporter only when an endpoint could select it."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEV_SYSTEM_"))}
    if variable is not None:
        env[variable] = closed_port_endpoint()
    code = (
        "import sys\n"
        "from dev_system.ops.telemetry import configure\n"
        f"configure(enabled=True, db_path={str(tmp_path / 't.db')!r})\n"
        "from dev_system.record.recorder import get_recorder\n"
        "rec = get_recorder()\n"
        "print('dev_system.record.otlp' in sys.modules, sum(s is not rec.store_sink for s in rec.plugin_sinks))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded, sinks = proc.stdout.split()
    assert (loaded, sinks) == (("False", "0") if variable is None else ("True", "1"))
