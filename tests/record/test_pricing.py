"""Cost of a call: user prices first, then genai-prices; unknown is unknown (None), never $0."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from decimal import Decimal

import genai_prices
import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from dev_system.ops.telemetry import configure, telemetry_decorator
from dev_system.problems import problem_counts
from dev_system.record import pricing
from dev_system.record.pricing import (
    anthropic_cost_calculator,
    cost_calculator,
    default_cost,
    model_cost_calculator,
    openai_cost_calculator,
    price_calculator,
    unknown_price_calls,
)
from dev_system.record.usage import Usage
from fakes.fake_llm_server import anthropic_message, chat_completion, response_object


def _reference(model: str, provider: str, **usage: int) -> float:
    """The price computed by genai-prices itself, straight from its public API."""
    return float(genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price)


@pytest.fixture(autouse=True)
def _no_overrides():
    pricing.set_price_overrides(None)
    yield
    pricing.set_price_overrides(None)


# --- genai-prices ----------------------------------------------------------------------------


def test_openai_chat_cost_matches_genai_prices_with_cached_input():
    result = ChatCompletion.model_validate(chat_completion("gpt-4o-mini", 1200, 300, cached_tokens=1024))
    expected = _reference("gpt-4o-mini", "openai", input_tokens=1200, output_tokens=300, cache_read_tokens=1024)
    assert openai_cost_calculator(result) == pytest.approx(expected)
    assert cost_calculator(result) == pytest.approx(expected)
    assert model_cost_calculator is cost_calculator
    # cached tokens are cheaper: the same call without cache costs more
    uncached = ChatCompletion.model_validate(chat_completion("gpt-4o-mini", 1200, 300))
    assert openai_cost_calculator(uncached) > openai_cost_calculator(result)


def test_responses_cost_matches_genai_prices():
    result = Response.model_validate(response_object("gpt-4.1-mini", 5000, 800))
    assert openai_cost_calculator(result) == pytest.approx(
        _reference("gpt-4.1-mini", "openai", input_tokens=5000, output_tokens=800))


def test_anthropic_cost_prices_cache_reads_and_writes():
    result = Message.model_validate(anthropic_message("claude-haiku-4-5", 100, 50, cache_read=2000, cache_write=300))
    expected = _reference("claude-haiku-4-5", "anthropic", input_tokens=2400, output_tokens=50,
                          cache_read_tokens=2000, cache_write_tokens=300)
    assert anthropic_cost_calculator(result) == pytest.approx(expected)
    assert anthropic_cost_calculator(result.model_dump()) == pytest.approx(expected)


def test_dated_model_names_are_priced():
    assert default_cost(Usage(1000, 1000, "gpt-4o-2024-08-06", {"provider": "openai"})) is not None
    assert default_cost(Usage(1000, 1000, "claude-haiku-4-5-20251001", {"provider": "anthropic"})) is not None


def test_a_wrong_provider_hint_falls_back_to_any_provider():
    # an OpenAI-compatible SDK call to a model another provider prices
    assert openai_cost_calculator(Usage(1000, 10, "claude-haiku-4-5", {})) == pytest.approx(
        _reference("claude-haiku-4-5", "anthropic", input_tokens=1000, output_tokens=10))


@settings(max_examples=50, deadline=None)
@given(prompt=st.integers(0, 10_000_000), completion=st.integers(0, 10_000_000), data=st.data())
def test_cost_is_the_reference_price_for_any_token_counts(prompt, completion, data):
    cached = data.draw(st.integers(0, prompt))
    usage = Usage(prompt, completion, "gpt-4o", {"provider": "openai", "cached_input_tokens": cached})
    expected = _reference("gpt-4o", "openai", input_tokens=prompt, output_tokens=completion,
                          **({"cache_read_tokens": cached} if cached else {}))
    assert default_cost(usage) == pytest.approx(expected)


# --- unknown is unknown ------------------------------------------------------------------------


def test_unknown_model_is_none_logged_once_per_model_and_counted(caplog):
    usage = Usage(100, 10, "my-private-model-x1", {})
    with caplog.at_level(logging.WARNING, logger="dev_system"), warnings.catch_warnings():
        warnings.simplefilter("error")  # never a warning
        assert default_cost(usage) is None
        assert default_cost(usage) is None  # logged once
        assert cost_calculator(usage) is None
    [logged] = [r.getMessage() for r in caplog.records if r.name == "dev_system"]
    assert "my-private-model-x1" in logged
    assert unknown_price_calls()["my-private-model-x1"] >= 3
    assert problem_counts()["unknown-price:my-private-model-x1"] == 3


@pytest.mark.parametrize("usage", [
    None,
    Usage(None, None, "gpt-4o", {}),
    Usage(10, None, "gpt-4o", {}),
    Usage(None, 10, "gpt-4o", {}),
    Usage(10, 10, None, {}),
])
def test_missing_tokens_or_model_give_unknown_cost_without_warning(usage):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert default_cost(usage) is None


def test_calculators_on_results_without_usage_return_none():
    for calculator in (openai_cost_calculator, anthropic_cost_calculator, cost_calculator):
        assert calculator("just text") is None
        assert calculator({"model": "gpt-4o"}) is None


def test_zero_tokens_cost_zero_when_the_price_is_known():
    assert default_cost(Usage(0, 0, "gpt-4o", {"provider": "openai"})) == 0.0


# --- user prices -----------------------------------------------------------------------------


def test_configured_prices_price_unknown_models_and_override_known_ones():
    configure(prices={"my-ft": {"input": 2.0, "output": 8.0, "cached-input": 0.5},
                      "gpt-4o-mini": {"input": 100.0, "output": 100.0}})
    ft = Usage(1_000_000, 500_000, "my-ft", {"cached_input_tokens": 400_000})
    assert default_cost(ft) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)
    assert openai_cost_calculator(Usage(1_000_000, 0, "gpt-4o-mini", {})) == pytest.approx(100.0)
    # a dated name finds its undated override; names are matched without regard to case
    assert default_cost(Usage(1_000_000, 0, "MY-FT-2025-01-31", {})) == pytest.approx(2.0)


def test_without_a_cached_input_price_cached_tokens_cost_the_input_price():
    pricing.set_price_overrides({"self-hosted": {"input": 1.0, "output": 1.0}})
    assert default_cost(Usage(1_000_000, 0, "self-hosted", {"cached_input_tokens": 999_999})) == pytest.approx(1.0)


def test_prices_from_pyproject_reach_the_stored_event(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dev-system.prices."acme-llm-7b"]\ninput = 0.25\noutput = 1.25\ncached-input = 0.05\n')
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, sync=True)

    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call")
    def generate():
        return {"model": "acme-llm-7b", "usage": {"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000}}

    generate()
    import sqlite3

    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT input_tokens, output_tokens, cost_usd, model FROM telemetry_events").fetchone()
    assert row == (2_000_000, 1_000_000, pytest.approx(0.5 + 1.25), "acme-llm-7b")


def test_price_calculator_uses_fixed_prices():
    calc = price_calculator(1.0, 2.0, cached_input_per_million=0.1)
    result = ChatCompletion.model_validate(chat_completion("whatever", 1_000_000, 1_000_000, cached_tokens=500_000))
    assert calc(result) == pytest.approx(0.5 + 0.05 + 2.0)
    assert calc("no usage") is None


# --- through the decorator ---------------------------------------------------------------------


def test_decorated_model_call_stores_tokens_model_cost_and_detail(recording):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call", cost_calculator=openai_cost_calculator)
    def generate_content(prompt: str):
        return ChatCompletion.model_validate(chat_completion("gpt-4o-mini", 1200, 300, cached_tokens=1024,
                                                             reasoning_tokens=20))

    response = generate_content("hi")
    [event] = recording.events()
    assert (event.input_tokens, event.output_tokens, event.model) == (1200, 300, "gpt-4o-mini")
    assert event.cost_usd == pytest.approx(openai_cost_calculator(response))
    assert event.metadata_dict["usage"]["cached_input_tokens"] == 1024
    assert event.metadata_dict["usage"]["reasoning_tokens"] == 20


def test_decorated_stream_gets_tokens_from_its_chunks(recording):
    from fakes.fake_llm_server import anthropic_events

    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call")
    def stream_reply():
        for _, data in anthropic_events("claude-haiku-4-5", input_tokens=40, output_deltas=(3, 9, 27)):
            yield data

    assert len(list(stream_reply())) > 3
    [event] = recording.events()
    assert (event.input_tokens, event.output_tokens) == (40, 27)
    assert event.cost_usd == pytest.approx(
        _reference("claude-haiku-4-5", "anthropic", input_tokens=40, output_tokens=27))


def test_decorated_stream_without_usage_has_unknown_tokens_and_cost(recording):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call")
    def stream_text():
        yield "Hel"
        yield "lo"

    assert "".join(stream_text()) == "Hello"
    [event] = recording.events()
    assert (event.input_tokens, event.output_tokens, event.cost_usd) == (None, None, None)


# --- import cost -----------------------------------------------------------------------------


def test_genai_prices_is_imported_only_when_a_price_is_needed():
    code = (
        "import sys\n"
        "import dev_system.ops.telemetry, dev_system.record.usage, dev_system.record.pricing\n"
        "import dev_system.record.services, dev_system.record.auto_integration, dev_system.record.instrument\n"
        "from dev_system.record.usage import usage_from, Usage\n"
        "from dev_system.record.pricing import default_cost\n"
        "usage_from({'model': 'x', 'usage': {'prompt_tokens': 1, 'completion_tokens': 1}})\n"
        "assert 'genai_prices' not in sys.modules, 'imported too early'\n"
        "assert 'openai' not in sys.modules and 'anthropic' not in sys.modules\n"
        "default_cost(Usage(1, 1, 'gpt-4o', {}))\n"
        "assert 'genai_prices' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reference_helper_agrees_with_decimal_arithmetic():
    # gpt-4o-mini per million: the reference itself, read back from genai-prices
    calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1_000_000, output_tokens=0), "gpt-4o-mini",
                                   provider_id="openai")
    assert Decimal(calc.total_price) == calc.input_price
    assert default_cost(Usage(1_000_000, 0, "gpt-4o-mini", {"provider": "openai"})) == pytest.approx(float(calc.input_price))
