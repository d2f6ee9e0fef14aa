"""Service presets and auto-integration, recorded into a real SQLite database."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types

import pytest
from openai.types.chat import ChatCompletion

from dev_system.ops.telemetry import configure
from dev_system.record.auto_integration import (
    DEFAULT_PATTERNS,
    AutoIntegration,
    auto_integrate_service,
    undo_auto_integration,
)
from dev_system.record.services import (
    orchestrator_telemetry,
    persona_runtime_telemetry,
    service_telemetry,
    viral_engine_telemetry,
)
from fakes.fake_llm_server import chat_completion

SERVICE_SOURCE = '''
from json import dumps as generate_json          # imported: must stay unwrapped
from helper_for_tests import chat_helper          # imported from another module: unwrapped

def generate_content(prompt):
    return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 10, "completion_tokens": 5}}

async def chatReply(text):
    return text.upper()

def stream_completion():
    yield "a"
    yield "b"

def run_agent_tool(name):
    return name

def call_llm():
    raise TimeoutError("slow")

def _generate_private():
    return 1

def format_date():
    return "2026"

class Generator:
    def generate(self):
        return 1

GENERATE_LIMIT = 3
'''


@pytest.fixture
def service(monkeypatch):
    helper = types.ModuleType("helper_for_tests")
    exec("def chat_helper():\n    return 'helped'\n", helper.__dict__)
    monkeypatch.setitem(sys.modules, "helper_for_tests", helper)
    module = types.ModuleType("my_service_for_tests")
    exec(SERVICE_SOURCE, module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield module
    undo_auto_integration(module)


@pytest.fixture
def on(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)
    return recording


# --- presets ---------------------------------------------------------------------------------


def test_presets_bare_and_with_arguments(on):
    @persona_runtime_telemetry
    def write_post(topic):
        return ChatCompletion.model_validate(chat_completion("gpt-4o-mini", 100, 20))

    @persona_runtime_telemetry(event_type="tool_call")
    def load_persona(name):
        return name

    @orchestrator_telemetry
    def process_request(data):
        return data

    @orchestrator_telemetry()
    def route(data):
        return data

    @viral_engine_telemetry(function_name="score")
    async def score_post(post):
        return ChatCompletion.model_validate(chat_completion("gpt-4o", 10, 1))

    write_post("cats")
    load_persona("ava")
    process_request({"a": 1})
    route({})
    asyncio.run(score_post("p"))
    assert inspect.iscoroutinefunction(score_post) and score_post.__name__ == "score_post"
    rows = [(e.agent_name, e.event_type, e.function_name, e.input_tokens, e.cost_usd is not None) for e in on.events()]
    assert rows == [
        ("persona_runtime", "model_call", "write_post", 100, True),
        ("persona_runtime", "tool_call", "load_persona", 0, True),
        ("orchestrator", "tool_call", "process_request", 0, True),
        ("orchestrator", "tool_call", "route", 0, True),
        ("viral_engine", "model_call", "score", 10, True),
    ]


def test_a_preset_for_your_own_service(on):
    billing = service_telemetry("billing", event_type="tool_call")
    assert repr(billing) == "service_telemetry('billing', event_type='tool_call')"

    @billing
    def charge(amount):
        return amount

    @billing(agent_name="billing-v2", event_type="api_call")
    def refund(amount):
        return amount

    charge(3)
    refund(1)
    assert [(e.agent_name, e.event_type) for e in on.events()] == [("billing", "tool_call"), ("billing-v2", "api_call")]


def test_a_preset_rejects_a_function_with_arguments():
    with pytest.raises(TypeError):
        persona_runtime_telemetry(print, event_type="tool_call")


# --- auto-integration ------------------------------------------------------------------------


def test_auto_integration_wraps_ai_functions_defined_in_the_module(on, service):
    imported_json, imported_helper = service.generate_json, service.chat_helper
    done = auto_integrate_service("my_service", service)
    assert isinstance(done, AutoIntegration)
    assert sorted(done) == ["call_llm", "chatReply", "generate_content", "run_agent_tool", "stream_completion"]
    assert done.event_types == {"chatReply": "model_call", "call_llm": "model_call", "generate_content": "model_call",
                                "run_agent_tool": "tool_call", "stream_completion": "model_call"}
    assert service.generate_json is imported_json and service.chat_helper is imported_helper
    assert service._generate_private.__name__ == "_generate_private" and not hasattr(service._generate_private, "__wrapped__")
    assert not hasattr(service.format_date, "__wrapped__")
    assert inspect.iscoroutinefunction(service.chatReply)
    assert inspect.isgeneratorfunction(service.stream_completion)

    service.generate_content("hi")
    assert asyncio.run(service.chatReply("x")) == "X"
    assert list(service.stream_completion()) == ["a", "b"]
    service.run_agent_tool("search")
    with pytest.raises(TimeoutError):
        service.call_llm()
    events = on.events()
    assert {e.agent_name for e in events} == {"my_service"}
    by_name = {e.function_name: e for e in events}
    assert (by_name["generate_content"].input_tokens, by_name["generate_content"].output_tokens) == (10, 5)
    assert by_name["generate_content"].cost_usd is not None
    assert by_name["run_agent_tool"].event_type == "tool_call"
    assert (by_name["call_llm"].success, by_name["call_llm"].error_type) == (False, "TimeoutError")


def test_auto_integration_is_idempotent_and_undoable(on, service):
    original = service.generate_content
    first = auto_integrate_service("my_service", service)
    wrapped = service.generate_content
    assert auto_integrate_service("my_service", service) == []
    assert auto_integrate_service("other", service) == []
    assert service.generate_content is wrapped
    service.generate_content("once")
    assert len(on.events()) == 1

    assert sorted(first.undo()) == sorted(first)
    assert service.generate_content is original
    assert first.undo() == []
    service.generate_content("unrecorded")
    assert len(on.events()) == 1
    # integrating again after the undo works
    assert "generate_content" in auto_integrate_service("my_service", service)
    assert undo_auto_integration(service) == sorted(first)
    assert service.generate_content is original


def test_patterns_are_configurable(on, service):
    configure(enabled=True, db_path=on.db_path, sync=True, auto_integrate_patterns=("format",))
    assert auto_integrate_service("svc", service) == ["format_date"]
    assert auto_integrate_service("svc", service, patterns=["stream"], model_call_patterns=[]) == ["stream_completion"]
    assert service.stream_completion is not None
    service.format_date()
    list(service.stream_completion())
    assert [(e.function_name, e.event_type) for e in on.events()] == [("format_date", "tool_call"),
                                                                      ("stream_completion", "tool_call")]


def test_default_patterns_match_the_documented_list():
    assert {"generate", "complete", "chat", "embed", "predict", "infer", "prompt", "llm", "agent"} <= set(DEFAULT_PATTERNS)


def test_auto_integration_needs_a_module():
    with pytest.raises(TypeError, match="needs a module"):
        auto_integrate_service("svc", object())  # type: ignore[arg-type]
