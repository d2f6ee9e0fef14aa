"""The cost of a usage in USD: the user's prices first, then the ``genai-prices`` package.

:func:`default_cost` prices a :class:`~dev_system.record.usage.Usage`: the price table set with
:func:`set_price_overrides` if any, else the one of the settings in force
(``[tool.dev-system.prices]``, handed over by the recorder through :func:`use_configured_prices`),
then ``genai-prices`` (imported on first use only: it is slow to import). An unknown price is
``None`` (stored as NULL), never ``0``, and counted (:func:`unknown_price_calls`). The calculators
(``calc(result) -> float``, the form ``telemetry_decorator`` takes) read the usage of a result and
price it.

Nothing here raises into the caller: a price that cannot be found or computed gives ``None``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.usage import Usage, get_field, token_count, usage_from

__all__ = [
    "default_cost",
    "cost_from_usage",
    "cost_calculator",
    "model_cost_calculator",
    "openai_cost_calculator",
    "anthropic_cost_calculator",
    "price_calculator",
    "set_price_overrides",
    "use_configured_prices",
    "unknown_price_calls",
]

_lock = threading.Lock()
#: The table given to set_price_overrides(); None: the configured one is used.
_overrides: Mapping[str, Any] | None = None
#: The ``prices`` of the settings in force, handed over by use_configured_prices().
_configured: Mapping[str, Any] = {}
_price_cache: dict[tuple[str, str | None], Any] = {}
_unknown_calls: dict[str, int] = {}
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")


def _report(key: str, message: str) -> None:
    """Report once per ``key`` (:func:`~dev_system.problems.report_problem`: logged, never a warning)."""
    try:
        report_problem(key, message)
    except Exception:
        pass


def set_price_overrides(prices: Mapping[str, Any] | None) -> None:
    """Use ``prices`` (model name -> :class:`~dev_system.config.ModelPrice`, or a mapping with
    ``input``/``output``/``cached_input`` in USD per million tokens) as the user's price table,
    instead of the configured one. ``None`` goes back to the configured table: the ``prices`` of
    the settings in force (``[tool.dev-system.prices."model"]`` in ``pyproject.toml``, or
    ``configure(prices={...})``).
    """
    global _overrides
    with _lock:
        _overrides = None if prices is None else dict(prices)


def use_configured_prices(prices: Mapping[str, Any] | None) -> None:
    """Take ``prices`` as the configured price table (the ``prices`` of the settings in force);
    the recorder calls this whenever settings are applied. :func:`set_price_overrides` beats it."""
    global _configured
    with _lock:
        _configured = dict(prices) if prices else {}


def _user_prices() -> Mapping[str, Any]:
    prices = _overrides
    return prices if prices is not None else _configured


def _price_field(price: Any, name: str) -> float | None:
    value = get_field(price, name)
    if value is None and name == "cached_input":
        value = get_field(price, "cached-input")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _override_for(model: str) -> Any:
    prices = _user_prices()
    if not prices:
        return None
    if model in prices:
        return prices[model]
    lowered = {k.lower(): v for k, v in prices.items()}
    if model.lower() in lowered:
        return lowered[model.lower()]
    base = _DATE_SUFFIX.sub("", model)
    if base != model:
        return lowered.get(base.lower())
    return None


def _override_cost(price: Any, usage: Usage) -> float | None:
    per_input = _price_field(price, "input")
    per_output = _price_field(price, "output")
    if per_input is None or per_output is None:
        return None
    per_cached = _price_field(price, "cached_input")
    inp = usage.input_tokens or 0
    cached = min(token_count(usage.details.get("cached_input_tokens")) or 0, inp)
    cost = (inp - cached) * per_input + cached * (per_input if per_cached is None else per_cached)
    cost += (usage.output_tokens or 0) * per_output
    return cost / 1_000_000


def _genai_usage(usage: Usage) -> Any:
    from genai_prices import Usage as GenaiUsage

    values: dict[str, int] = {"input_tokens": usage.input_tokens or 0, "output_tokens": usage.output_tokens or 0}
    read = token_count(usage.details.get("cached_input_tokens")) or 0
    write = token_count(usage.details.get("cache_write_tokens")) or 0
    if read + write <= values["input_tokens"]:
        if read:
            values["cache_read_tokens"] = read
        if write:
            values["cache_write_tokens"] = write
            write_1h = token_count(usage.details.get("cache_write_1h_tokens")) or 0
            if 0 < write_1h <= write:
                values["cache_write_1h_tokens"] = write_1h
    return GenaiUsage(**values)


def _find_model(model: str, provider: str | None) -> Any:
    """The genai-prices (provider, model) for ``model``, or ``None``; cached per process."""
    key = (model, provider)
    try:
        return _price_cache[key]
    except KeyError:
        pass
    found = None
    try:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        for provider_id in ([provider, None] if provider else [None]):
            try:
                found = snapshot.find_provider_model(model, None, provider_id, None)
                break
            except LookupError:
                continue
    except Exception as exc:  # genai-prices missing or broken
        _report("genai-prices", f"genai-prices unusable, costs unknown: {type(exc).__name__}: {exc}")
        found = None
    with _lock:
        _price_cache[key] = found
    return found


def _genai_cost(usage: Usage) -> float | None:
    found = _find_model(usage.model, usage.details.get("provider"))  # type: ignore[arg-type]
    if found is None:
        return None
    provider, model_info = found
    from datetime import datetime, timezone

    calculation = model_info.calc_price(
        _genai_usage(usage), provider, genai_request_timestamp=datetime.now(tz=timezone.utc), auto_update_timestamp=None
    )
    return float(calculation.total_price)


def cost_from_usage(usage: Usage | None) -> float | None:
    """Like :func:`default_cost`, without the warning for an unknown model."""
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None) or not usage.model:
        return None
    if usage.input_tokens is None or usage.output_tokens is None:
        # Half a usage cannot be priced honestly.
        return None
    try:
        override = _override_for(usage.model)
        if override is not None:
            return _override_cost(override, usage)
        return _genai_cost(usage)
    except Exception:
        return None


def default_cost(usage: Usage | None) -> float | None:
    """The cost in USD of ``usage``: the user's prices first, then genai-prices.

    ``None`` (unknown) when the usage or its model is missing or no price source knows the model;
    an unknown model is reported once per process (the ``dev_system`` logger) and counted (:func:`unknown_price_calls`).
    """
    try:
        cost = cost_from_usage(usage)
        if cost is None and usage is not None and usage.model and (
            usage.input_tokens is not None and usage.output_tokens is not None
        ):
            with _lock:
                _unknown_calls[usage.model] = _unknown_calls.get(usage.model, 0) + 1
            _report(
                f"unknown-price:{usage.model}",
                f"no price known for model {usage.model!r}; its cost is recorded as unknown. "
                f'Add it under [tool.dev-system.prices."{usage.model}"] (input/output USD per million tokens).',
            )
        return cost
    except Exception:
        return None


def unknown_price_calls() -> dict[str, int]:
    """Calls priced in this process whose model had no known price, per model."""
    with _lock:
        return dict(_unknown_calls)


# --- calculators: the documented ``calc(result) -> float`` form ------------------------------


def cost_calculator(result: Any) -> float | None:
    """Cost of any provider's result (or a :class:`Usage`), from its model name and usage."""
    return default_cost(usage_from(result))


model_cost_calculator = cost_calculator


def _with_provider(result: Any, provider: str) -> float | None:
    usage = usage_from(result)
    if usage is None:
        return None
    if usage.details.get("provider") is None:
        usage = usage._replace(details={**usage.details, "provider": provider})
    return default_cost(usage)


def openai_cost_calculator(result: Any) -> float | None:
    """Cost of an OpenAI result (chat completion, response, embedding, final stream chunk)."""
    return _with_provider(result, "openai")


def anthropic_cost_calculator(result: Any) -> float | None:
    """Cost of an Anthropic result (message, or the message of a stream)."""
    return _with_provider(result, "anthropic")


def price_calculator(
    input_per_million: float, output_per_million: float, cached_input_per_million: float | None = None
) -> Callable[[Any], float | None]:
    """A calculator with fixed prices (USD per million tokens), whatever the model."""
    price = {"input": input_per_million, "output": output_per_million, "cached_input": cached_input_per_million}

    def calculate(result: Any) -> float | None:
        usage = usage_from(result)
        if usage is None or usage.input_tokens is None or usage.output_tokens is None:
            return None
        return _override_cost(price, usage)

    calculate.__name__ = "price_calculator"
    return calculate
