"""Service presets: ready-made decorators for three services (an orchestrator's tool calls, a
persona runtime's and a viral engine's model calls) and :func:`service_telemetry` to make your own.

    from dev_system.record.services import persona_runtime_telemetry, service_telemetry

    @persona_runtime_telemetry                      # bare
    def write_post(topic): ...

    @persona_runtime_telemetry(event_type="tool_call")   # with arguments
    def load_persona(name): ...

    billing_telemetry = service_telemetry("billing", event_type="tool_call")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dev_system.record.decorator import telemetry_decorator
from dev_system.record.pricing import cost_calculator as _generic_cost_calculator

__all__ = [
    "ServiceTelemetry",
    "service_telemetry",
    "make_service_telemetry",
    "orchestrator_telemetry",
    "persona_runtime_telemetry",
    "viral_engine_telemetry",
]

F = TypeVar("F", bound=Callable[..., Any])


class ServiceTelemetry:
    """A preset of ``telemetry_decorator`` arguments for one service.

    Use it bare (``@preset``), called (``@preset()``), or with arguments that override the
    preset for one function (``@preset(event_type="tool_call", function_name="x")``); any
    keyword of :func:`~dev_system.record.decorator.telemetry_decorator` is accepted.
    """

    def __init__(self, agent_name: str, *, event_type: str = "model_call",
                 cost_calculator: Callable[[Any], Any] | None = _generic_cost_calculator, **options: Any) -> None:
        self.agent_name = agent_name
        self.event_type = event_type
        self.cost_calculator = cost_calculator
        self.options = options

    def __call__(self, fn: F | None = None, /, **overrides: Any) -> Any:
        if fn is not None and not overrides and callable(fn):
            return self._decorator()(fn)
        if fn is not None:
            raise TypeError(f"{self!r} takes a function, or keyword arguments only")
        return self._decorator(**overrides)

    def _decorator(self, **overrides: Any) -> Callable[[F], F]:
        options = {"event_type": self.event_type, "cost_calculator": self.cost_calculator, **self.options, **overrides}
        agent_name = options.pop("agent_name", self.agent_name)
        if options.get("event_type") != "model_call" and "cost_calculator" not in overrides:
            options["cost_calculator"] = None  # a tool call has no token cost
        return telemetry_decorator(agent_name, **options)

    def __repr__(self) -> str:
        return f"service_telemetry({self.agent_name!r}, event_type={self.event_type!r})"


def service_telemetry(agent_name: str, *, event_type: str = "model_call",
                      cost_calculator: Callable[[Any], Any] | None = _generic_cost_calculator,
                      **options: Any) -> ServiceTelemetry:
    """Make a decorator preset for your own service, usable like the built-in ones.

    ``cost_calculator`` defaults to the generic calculator (model name + usage, any provider);
    ``options`` are further :func:`telemetry_decorator` keywords (``capture_args=False``, ...).
    """
    return ServiceTelemetry(agent_name, event_type=event_type, cost_calculator=cost_calculator, **options)


make_service_telemetry = service_telemetry

#: Routes requests and calls tools: its events are tool calls.
orchestrator_telemetry = service_telemetry("orchestrator", event_type="tool_call", cost_calculator=None)
#: Generates content with a model: model calls, priced from the response.
persona_runtime_telemetry = service_telemetry("persona_runtime", event_type="model_call")
#: Scores and ranks content with a model: model calls, priced from the response.
viral_engine_telemetry = service_telemetry("viral_engine", event_type="model_call")
