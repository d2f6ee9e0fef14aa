"""Zero-code instrumentation of the provider SDKs: every model call becomes one event.

    from dev_system.record.instrument import instrument
    instrument()                      # openai and anthropic, whichever are installed
    client.chat.completions.create(...)   # recorded: tokens, model, cost, latency, errors

Each call to ``chat.completions``, ``responses``, ``completions``, ``embeddings`` (openai) and
``messages``/``beta.messages`` (anthropic) — sync and async, streaming or not, including the SDKs'
stream helpers — records one ``model_call`` event with agent name ``instrument-agent-name``
(default ``"llm"``, or the ``agent_name`` given here) and function name such as
``openai.chat.completions.create``. Instrumenting twice patches once; :func:`uninstrument`
restores the original methods. SDK errors are recorded with their class name and re-raised
untouched. A call made inside a decorated function joins its trace, as its child.
"""

from __future__ import annotations

import importlib
import importlib.util

from dev_system.record.instrument import _core

__all__ = ["instrument", "instrument_openai", "instrument_anthropic", "uninstrument", "instrumented", "PROVIDERS"]

#: The SDKs this package knows how to instrument.
PROVIDERS = ("openai", "anthropic")


def _provider_module(name: str):
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
    return importlib.import_module(f"dev_system.record.instrument.{name}")


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def instrument_openai(*, agent_name: str | None = None) -> bool:
    """Patch the ``openai`` SDK. True when it is patched now (also when it already was);
    False when ``openai`` is not installed."""
    return _instrument("openai", agent_name)


def instrument_anthropic(*, agent_name: str | None = None) -> bool:
    """Patch the ``anthropic`` SDK. True when it is patched now; False when it is not installed."""
    return _instrument("anthropic", agent_name)


def _instrument(name: str, agent_name: str | None) -> bool:
    module = _provider_module(name)
    if not _installed(name):
        return False
    _core.set_agent_name(name, agent_name)
    module.instrument()
    return _core.patched(name)


def instrument(*names: str, agent_name: str | None = None) -> list[str]:
    """Patch the named SDKs (default: every known SDK that is installed); returns those patched.

    Naming an SDK that is not installed raises :class:`ImportError`; an unknown name raises
    :class:`ValueError`.
    """
    chosen = names or tuple(name for name in PROVIDERS if _installed(name))
    done = []
    for name in chosen:
        _provider_module(name)
        if not _installed(name):
            raise ImportError(f"cannot instrument {name!r}: the {name} package is not installed")
        if _instrument(name, agent_name):
            done.append(name)
    return done


def uninstrument(*names: str) -> list[str]:
    """Restore the original SDK methods (default: every instrumented SDK); returns those restored."""
    chosen = names or PROVIDERS
    for name in chosen:
        _provider_module(name)
    return [name for name in chosen if _core.unpatch(name)]


def instrumented() -> list[str]:
    """The SDKs patched now."""
    return [name for name in PROVIDERS if _core.patched(name)]
