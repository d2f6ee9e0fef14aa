"""The keys an SDK client holds are learnt as secrets before its calls are recorded."""

from __future__ import annotations

import secrets

import pytest

from dev_system.record.instrument._client_secrets import remember_client_secrets
from dev_system.record.redaction import REDACTED, redact_text


def test_the_keys_of_an_openai_client_are_learnt_and_its_plain_headers_are_not():
    openai = pytest.importorskip("openai")
    key, header, password, extra = (secrets.token_hex(16), f"gw_{secrets.token_hex(12)}", secrets.token_hex(10),
                                    f"xk_{secrets.token_hex(12)}")
    client = openai.OpenAI(api_key=key, base_url=f"http://proxy:{password}@127.0.0.1:9/v1",
                           default_headers={"X-Gateway-Key": header, "X-Title": "my-application-name"})
    text = f"echo {key} {header} {password} {extra} my-application-name"
    assert redact_text(text) == text
    remember_client_secrets((client.chat.completions,), {"extra_headers": {"Authorization": f"Bearer {extra}"}})
    assert redact_text(text) == f"echo {REDACTED} {REDACTED} {REDACTED} {REDACTED} my-application-name"


def test_an_odd_owner_changes_nothing_and_never_raises():
    class Odd:
        @property
        def _client(self):
            raise RuntimeError("no")

    remember_client_secrets((Odd(),), {"api_key": 3, "extra_headers": "not a dict"})
    remember_client_secrets((), None)
    assert redact_text("nothing secret in this text") == "nothing secret in this text"
