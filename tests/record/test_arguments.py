"""Argument capture: names, redaction, truncation, odd objects; and the stored JSON is always valid."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.events import TelemetryEvent
from dev_system.ops.telemetry import configure, telemetry_decorator
from dev_system.record.arguments import REDACTED, Redactor, sanitize, sanitize_arguments

redactor = Redactor(("api_key", "password", "token", "secret", "authorization", "cookie"))


def test_secret_keys_are_redacted_at_any_depth_but_lookalikes_are_not():
    data = {"openai_api_key": "sk-1", "max_tokens": 5, "headers": {"Authorization": "Bearer x", "Accept": "json"},
            "items": [{"password": "p"}], "access_token": "t", "author": "ann"}
    assert sanitize(data, redactor, 100) == {
        "openai_api_key": REDACTED, "max_tokens": 5, "headers": {"Authorization": REDACTED, "Accept": "json"},
        "items": [{"password": REDACTED}], "access_token": REDACTED, "author": "ann"}


def test_long_strings_are_truncated_with_a_marker():
    out = sanitize("x" * 5000, redactor, 100)
    assert out.startswith("x" * 100) and out.endswith("[truncated 4900 chars]")


def test_cycles_bytes_failing_repr_and_non_finite_numbers():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    loop: list = [1]
    loop.append(loop)
    out = sanitize({"loop": loop, "raw": b"\x00\xff", "obj": Hostile(), "nan": math.nan, "inf": -math.inf}, redactor, 100)
    assert out == {"loop": [1, "<cycle>"], "raw": "<bytes len=2>", "obj": "<unrepresentable Hostile>",
                   "nan": "nan", "inf": "-inf"}


def test_secret_parameters_are_redacted_in_stored_metadata(recording):
    @telemetry_decorator(agent_name="svc")
    def call(prompt, api_key, *, password=None, **extra):
        return prompt

    call("hi", "sk-live-123", password="hunter2", session_token="abc", temperature=0.2)
    [event] = recording.events()
    assert event.metadata_dict["args"] == {"prompt": "hi", "api_key": REDACTED, "password": REDACTED,
                                           "session_token": REDACTED, "temperature": 0.2}
    assert "sk-live-123" not in event.metadata and "hunter2" not in event.metadata


def test_redact_keys_add_to_the_built_in_names(recording):
    configure(enabled=True, db_path=recording.db_path, redact_keys=("customer_email",))

    @telemetry_decorator(agent_name="svc")
    def f(customer_email, api_key):
        pass

    f("a@b.c", "k")
    assert recording.events()[0].metadata_dict["args"] == {"customer_email": REDACTED, "api_key": REDACTED}


def test_arguments_mutated_by_the_call_are_stored_as_passed(recording):
    @telemetry_decorator(agent_name="svc")
    def grow(items):
        items.append("added")

    grow(["original"])
    assert recording.events()[0].metadata_dict["args"] == {"items": ["original"]}


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
    lambda children: st.one_of(st.lists(children), st.dictionaries(st.text(), children),
                               st.tuples(children, children)),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(value=json_like)
def test_sanitized_values_are_always_strict_json_and_bounded(value):
    out = sanitize(value, redactor, 50)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert len(text) < 200_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_like, deep=st.integers(min_value=0, max_value=40))
def test_stored_metadata_is_valid_json_for_any_argument(recording, value, deep):
    nested = value
    for _ in range(deep):
        nested = {"n": nested}

    @telemetry_decorator(agent_name="svc")
    def f(payload):
        return None

    f(nested)
    stored = recording.events()[-1].metadata
    assert isinstance(json.loads(stored), dict)


events = st.builds(
    TelemetryEvent,
    timestamp=st.floats(min_value=0, max_value=4e9),
    event_type=st.text(min_size=1), agent_name=st.text(min_size=1), function_name=st.text(min_size=1),
    input_tokens=st.none() | st.integers(0, 10**9), output_tokens=st.none() | st.integers(0, 10**9),
    latency_ms=st.floats(min_value=0, max_value=1e7), cost_usd=st.none() | st.floats(min_value=0, max_value=1e4),
    success=st.booleans(), error_type=st.none() | st.text(), trace_id=st.none() | st.text(),
    metadata=st.none() | st.dictionaries(st.text(), st.integers(), min_size=1).map(lambda d: json.dumps(d, sort_keys=True)),
    event_id=st.text(min_size=1), span_id=st.none() | st.text(), parent_span_id=st.none() | st.text(),
    run_id=st.none() | st.text(), model=st.none() | st.text(),
)


@given(event=events)
def test_event_dict_round_trip(event):
    assert TelemetryEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


_argument_names = st.one_of(
    st.sampled_from(["prompt", "x", "temperature", "api_key", "password", "accessToken", "max_tokens", ""]),
    st.text(max_size=120),
)
_argument_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=40), st.text(alphabet="ab", min_size=190, max_size=210),
    st.sampled_from(["sk-" + "a" * 24, "Bearer abcdefghijkl", "https://user:pw@host/x", "é"]),
    st.lists(st.integers(), max_size=3),
)


@given(args=st.dictionaries(_argument_names, _argument_values, max_size=60),
       max_chars=st.sampled_from([0, 5, 200, 20_000]))
@settings(max_examples=300, deadline=None)
def test_the_writer_shortcut_for_arguments_equals_sanitize(args, max_chars):
    redactor = Redactor(["api_key", "password", "token"])
    fast = sanitize_arguments(args, redactor, max_chars)
    slow = sanitize(args, redactor, max_chars)
    assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)


def test_record_like_objects_are_sanitized_by_field_name_like_dicts():
    import dataclasses
    import types
    from typing import NamedTuple

    @dataclasses.dataclass
    class Inner:
        password: str
        depth: int

    @dataclasses.dataclass
    class Config:
        model: str
        api_key: str
        inner: Inner

    class Pair(NamedTuple):
        token: str
        name: str

    value = Config("gpt", "k" * 20, Inner("p" * 20, 2))
    assert sanitize(value, redactor, 100) == {"model": "gpt", "api_key": REDACTED,
                                              "inner": {"password": REDACTED, "depth": 2}}
    assert sanitize(Pair("t" * 20, "n"), redactor, 100) == {"token": REDACTED, "name": "n"}
    assert sanitize(types.SimpleNamespace(secret="s" * 20, n=1), redactor, 100) == {"secret": REDACTED, "n": 1}
    assert sanitize((1, "a"), redactor, 100) == [1, "a"]  # a plain tuple stays a list
    assert sanitize(Config, redactor, 100).startswith("<class ")  # the class itself is not a record


def test_an_object_repr_loses_its_secret_attributes():
    class Client:
        def __init__(self):
            self.api_key, self.region = "k3y-" + "z" * 20, "eu-west-1"

        def __repr__(self):
            return f"Client(api_key={self.api_key!r}, region={self.region!r})"

    assert sanitize(Client(), redactor, 100) == f"Client(api_key='{REDACTED}', region='eu-west-1')"


def test_keys_shaped_like_secrets_are_redacted_in_names_too():
    secret = "sk-proj-" + "A" * 40
    assert sanitize_arguments({secret: 1, "plain": 2}, redactor, 100) == {REDACTED: 1, "plain": 2}
    assert sanitize({"outer": {f"key {secret}": [secret]}}, redactor, 100) == {"outer": {f"key {REDACTED}": [REDACTED]}}
