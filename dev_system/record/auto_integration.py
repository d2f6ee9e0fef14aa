"""Auto-integration: :func:`auto_integrate_service` wraps, in place, the AI-looking functions of
a module with :func:`~dev_system.record.decorator.telemetry_decorator`, and
:func:`undo_auto_integration` puts them back.

    import my_service
    from dev_system.record.auto_integration import auto_integrate_service

    auto_integrate_service("my_service", my_service)   # generate_post, chat, embed_text, ... wrapped

A function is chosen by the words of its name (``DEFAULT_PATTERNS``, or the
``auto-integrate-patterns`` setting in force); ``MODEL_CALL_PATTERNS`` decide whether it records
``model_call`` or ``tool_call`` events.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from dev_system.record.decorator import WRAPPED_MARK, telemetry_decorator
from dev_system.record.pricing import cost_calculator as _generic_cost_calculator
from dev_system.record.recorder import get_recorder

__all__ = [
    "auto_integrate_service",
    "undo_auto_integration",
    "AutoIntegration",
    "DEFAULT_PATTERNS",
    "MODEL_CALL_PATTERNS",
]

#: Name words that mark a function as AI-related (``[tool.dev-system] auto-integrate-patterns``
#: replaces this list).
DEFAULT_PATTERNS = (
    "generate", "complete", "completion", "chat", "embed", "predict", "infer",
    "prompt", "llm", "agent", "summarize", "classify", "rerank", "tool",
)
#: Name words that make a matched function a ``model_call``; the other matches are ``tool_call``.
MODEL_CALL_PATTERNS = (
    "generate", "complete", "completion", "chat", "embed", "predict", "infer", "prompt", "llm",
    "summarize", "classify", "rerank", "translate", "rewrite", "answer", "ask", "model",
)

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_lock = threading.Lock()
#: module name -> the integrations done on it, oldest first
_done: dict[str, list[AutoIntegration]] = {}


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


def _matches(words: list[str], patterns: Iterable[str]) -> bool:
    return any(word.startswith(pattern) for word in words for pattern in patterns)


def _configured_patterns() -> tuple[str, ...]:
    """The ``auto-integrate-patterns`` of the settings in force (those the recorder applied)."""
    try:
        return tuple(p.lower() for p in get_recorder().settings.auto_integrate_patterns) or DEFAULT_PATTERNS
    except Exception:
        return DEFAULT_PATTERNS


class AutoIntegration(list):
    """The names wrapped by one :func:`auto_integrate_service` call (a list), with :meth:`undo`."""

    def __init__(self, service_name: str, module: ModuleType, originals: dict[str, Any],
                 event_types: dict[str, str]) -> None:
        super().__init__(originals)
        self.service_name = service_name
        self.module = module
        self.originals = originals
        self.event_types = event_types

    def undo(self) -> list[str]:
        """Put the original functions back (those still wrapped by this integration); returns their names."""
        restored = []
        with _lock:
            for name, original in self.originals.items():
                current = getattr(self.module, name, None)
                if current is not None and getattr(current, "__wrapped__", None) is original:
                    setattr(self.module, name, original)
                    restored.append(name)
            done = _done.get(self.module.__name__, [])
            done[:] = [integration for integration in done if integration is not self]
        return restored


def _defined_here(obj: Any, module: ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def auto_integrate_service(service_name: str, module: ModuleType, *, patterns: Iterable[str] | None = None,
                           model_call_patterns: Iterable[str] | None = None,
                           cost_calculator: Callable[[Any], Any] | None = _generic_cost_calculator,
                           capture_args: bool = True) -> AutoIntegration:
    """Wrap, in place, the AI-related functions defined in ``module`` with ``telemetry_decorator``.

    A function is wrapped when it is defined in ``module`` itself (not imported into it), its name
    is public (no leading ``_``), it is not wrapped already, and a word of its name (split at
    ``_`` and camelCase) starts with one of ``patterns`` (default: the ``auto-integrate-patterns``
    setting, itself defaulting to :data:`DEFAULT_PATTERNS`). Words from ``model_call_patterns``
    (default :data:`MODEL_CALL_PATTERNS`) make it a ``model_call``; the rest are ``tool_call``.
    The agent name is ``service_name``.

    Idempotent: a second call wraps nothing more. Returns the wrapped names (a list) with an
    ``undo()`` method; :func:`undo_auto_integration` undoes every integration of a module.

    Only the module's attribute is replaced: code that did ``from module import name`` before the
    call keeps the unwrapped function. Integrate before the rest of the program imports from it,
    or call ``module.name(...)``.
    """
    if not isinstance(module, ModuleType):
        raise TypeError(f"auto_integrate_service() needs a module, not {type(module).__name__}")
    chosen = tuple(p.lower() for p in (patterns if patterns is not None else _configured_patterns()))
    model_words = tuple(p.lower() for p in (model_call_patterns if model_call_patterns is not None
                                            else MODEL_CALL_PATTERNS))
    originals: dict[str, Any] = {}
    event_types: dict[str, str] = {}
    with _lock:
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or not inspect.isfunction(obj) or not _defined_here(obj, module):
                continue
            if getattr(obj, WRAPPED_MARK, None) is not None:
                continue
            words = _words(name)
            if not _matches(words, chosen):
                continue
            event_type = "model_call" if _matches(words, model_words) else "tool_call"
            wrapper = telemetry_decorator(
                service_name, event_type,
                cost_calculator if event_type == "model_call" else None,
                capture_args=capture_args,
            )(obj)
            setattr(module, name, wrapper)
            originals[name] = obj
            event_types[name] = event_type
        result = AutoIntegration(service_name, module, originals, event_types)
        if originals:
            _done.setdefault(module.__name__, []).append(result)
    return result


def undo_auto_integration(module: ModuleType) -> list[str]:
    """Undo every :func:`auto_integrate_service` done on ``module``; returns the restored names."""
    with _lock:
        integrations = list(_done.get(module.__name__, []))
    restored: list[str] = []
    for integration in reversed(integrations):
        restored.extend(integration.undo())
    return sorted(restored)
