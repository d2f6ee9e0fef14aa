"""Redaction of stored text: query parameters, known values, the environment's changes, cutting
after redacting, command lines and URLs to print."""

from __future__ import annotations

import secrets
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dev_system.config import DEFAULT_REDACT_KEYS
from dev_system.record.redaction import (
    REDACTED,
    Redactor,
    notice_environment_changes,
    redact_and_truncate,
    redact_command_line,
    redact_name,
    redact_text,
    redact_url,
    remember_secret_values,
    secret_parameter,
)


@pytest.fixture(autouse=True)
def _default_redactor():
    Redactor(DEFAULT_REDACT_KEYS)


def key(n: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@pytest.mark.parametrize("name", ["api_key", "apikey", "access_token", "key", "token", "appid", "signature", "sig",
                                  "password", "client_secret", "X-Amz-Signature", "X-Amz-Security-Token", "api-key"])
def test_secret_query_parameters_are_redacted(name):
    value = key()
    url = f"401 Client Error: Unauthorized for url: https://api.example.com/v1/search.json?q=tea&{name}={value}&page=2"
    assert redact_text(url) == url.replace(value, REDACTED)


@pytest.mark.parametrize("text", ["https://example.com/search?q=tea&page=2&sort=asc", "a=1&b=2 said the form",
                                  "https://example.com/?monkey=banana&keyboard=qwerty"])
def test_ordinary_query_parameters_are_kept(text):
    assert redact_text(text) == text


def test_known_values_are_redacted_whatever_their_shape():
    value = f"gsk_{key(40)}"
    assert redact_text(f"bad key {value}!") == f"bad key {value}!"
    remember_secret_values([value, "short", None, 42])
    assert redact_text(f"bad key {value}!") == f"bad key {REDACTED}!"
    assert redact_name(f"agent-{value}") == f"agent-{REDACTED}"
    assert redact_text("short and sweet") == "short and sweet"  # too short to be taken as a secret


def test_an_environment_change_is_noticed_and_remembered(monkeypatch):
    value = key(30)
    monkeypatch.setenv("SOME_VENDOR_TOKEN", value)
    assert value in redact_text(f"x {value}")  # not read yet
    notice_environment_changes()
    assert redact_text(f"x {value}") == f"x {REDACTED}"
    monkeypatch.delenv("SOME_VENDOR_TOKEN")
    notice_environment_changes()
    assert redact_text(f"x {value}") == f"x {REDACTED}"  # once a secret, always redacted


def test_a_new_value_of_a_secret_variable_already_read_is_noticed(monkeypatch):
    first, second = key(30), key(30)
    monkeypatch.setenv("SOME_VENDOR_PASSWORD", first)
    notice_environment_changes()
    monkeypatch.setenv("SOME_PLAIN_SETTING", "another-plain-setting-value")  # changed alongside
    monkeypatch.setenv("SOME_VENDOR_PASSWORD", second)
    notice_environment_changes()
    assert redact_text(f"{first} {second}") == f"{REDACTED} {REDACTED}"
    assert redact_text("another-plain-setting-value") == "another-plain-setting-value"


def test_plain_environment_values_are_not_secrets(monkeypatch):
    monkeypatch.setenv("SOME_PLAIN_SETTING", "a-plain-setting-value")
    notice_environment_changes()
    assert redact_text("a-plain-setting-value here") == "a-plain-setting-value here"


@given(st.integers(min_value=0, max_value=120), st.sampled_from([f"sk-proj-{'A' * 40}", "AKIAABCDEFGHIJKLMNOP",
                                                                   f"ghp_{'b' * 36}"]))
def test_nothing_of_a_key_is_left_before_the_cut(offset, secret):
    text = "x" * offset + " " + secret + " tail"
    cut = redact_and_truncate(text, 60)
    assert secret[:4] not in cut
    assert cut == redact_text(text)[:60] + (f"…[truncated {len(redact_text(text)) - 60} chars]"
                                            if len(redact_text(text)) > 60 else "")


def test_a_long_text_is_read_only_near_the_cut():
    text = "word " * 200_000 + f"sk-proj-{'A' * 40}"
    cut = redact_and_truncate(text, 100)
    assert cut.startswith("word word") and cut.endswith(f"…[truncated {len(text) - 100} chars]")


def test_command_lines_lose_secret_options_and_keys():
    shaped, value = f"sk-proj-{key(40)}", key(20)
    args = ["-x", f"--vendor-key={value}", "--api-token", value, "-k", "login", f"tests/test_a.py::test[{shaped}]",
            "--maxfail=2", "--db-password", "--next"]
    assert redact_command_line(args) == ["-x", f"--vendor-key={REDACTED}", "--api-token", REDACTED, "-k", "login",
                                         f"tests/test_a.py::test[{REDACTED}]", "--maxfail=2", "--db-password", "--next"]


@pytest.mark.parametrize("name, secret", [("key", True), ("vendor-key", True), ("X-Amz-Signature", True),
                                          ("keyboard", False), ("maxfail", False), ("q", False)])
def test_secret_parameter_names(name, secret):
    assert secret_parameter(name) is secret


@pytest.mark.parametrize("url, shown", [
    ("http://user:tok3n-value@collector:4318/v1/traces", f"http://{REDACTED}@collector:4318/v1/traces"),
    ("https://tok3n-value-only@collector/v1/traces", f"https://{REDACTED}@collector/v1/traces"),
    ("http://collector:4318/v1/traces?api_key=abcdefgh12", f"http://collector:4318/v1/traces?api_key={REDACTED}"),
    ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ("http://collector/a@b", "http://collector/a@b"),
])
def test_urls_are_printed_without_credentials(url, shown):
    assert redact_url(url) == shown
