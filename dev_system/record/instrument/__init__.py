"""Zero-code instrumentation of the provider SDKs: every model call becomes one event.

    from dev_system.record.instrument import instrument
    instrument()                      # openai, anthropic and google-genai, whichever are installed
    client.chat.completions.create(...)   # recorded: tokens, model, cost, latency, errors

Each call to ``chat.completions``, ``responses``, ``completions``, ``embeddings`` (openai) and
``messages``/``beta.messages`` (anthropic), ``models.generate_content`` and
``models.generate_content_stream`` (google-genai, also named ``"gemini"``) — sync and async,
streaming or not, including the SDKs' stream helpers — records one ``model_call`` event with
agent name ``instrument-agent-name`` (default ``"llm"``, or the ``agent_name`` given here) and
function name such as
``openai.chat.completions.create``. Instrumenting twice patches once; :func:`uninstrument`
restores the original methods. SDK errors are recorded with their class name and re-raised
untouched. A call made inside a decorated function joins its trace, as its child.

LiteLLM (``"litellm"``) is recorded through its own callback API, not patched: see
:mod:`dev_system.record.instrument.litellm`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from dev_system.record.instrument import _core

__all__ = ["instrument", "instrument_openai", "instrument_anthropic", "instrument_google_genai", "uninstrument",
           "instrumented", "provider_name", "PROVIDERS", "ALIASES"]

#: The SDKs this package knows how to instrument.
PROVIDERS = ("openai", "anthropic", "google-genai", "litellm")

#: Other names accepted for a provider (what users also write).
ALIASES = {"gemini": "google-genai", "google_genai": "google-genai", "google.genai": "google-genai"}

#: provider -> (our module, the import name of the SDK), where they differ from the provider name.
_MODULES = {"google-genai": ("google_genai", "google.genai")}


def provider_name(name: str) -> str:
    """The provider ``name`` stands for (``"gemini"`` is ``"google-genai"``); ValueError when unknown."""
    canonical = ALIASES.get(name, name)
    if canonical not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
    return canonical


def _provider_module(provider: str):
    name = _MODULES.get(provider_name(provider), (provider_name(provider),))[0]
    return importlib.import_module(f"dev_system.record.instrument.{name}")


def _installed(name: str) -> bool:
    name = ALIASES.get(name, name)
    try:
        return importlib.util.find_spec(_MODULES.get(name, (name, name))[1]) is not None
    except ImportError:  # the parent package (``google``) is missing
        return False


def instrument_openai(*, agent_name: str | None = None) -> bool:
    """Patch the ``openai`` SDK. True when it is patched now (also when it already was);
    False when ``openai`` is not installed."""
    return _instrument("openai", agent_name)


def instrument_anthropic(*, agent_name: str | None = None) -> bool:
    """Patch the ``anthropic`` SDK. True when it is patched now; False when it is not installed."""
    return _instrument("anthropic", agent_name)


def instrument_google_genai(*, agent_name: str | None = None) -> bool:
    """Patch the ``google-genai`` SDK (Gemini). True when it is patched now; False when it is not installed."""
    return _instrument("google-genai", agent_name)


def _instrument(name: str, agent_name: str | None) -> bool:
    name = provider_name(name)
    module = _provider_module(name)
    if not _installed(name):
        return False
    _core.set_agent_name(name, agent_name)
    module.instrument()
    return _patched(name)


def _patched(name: str) -> bool:
    """Instrumented now: patched by :mod:`._core`, or, for a provider hooked in another way
    (LiteLLM's callbacks), by its module's own ``active()`` (asked only once it is loaded)."""
    module = sys.modules.get(f"{__name__}.{_MODULES.get(name, (name,))[0]}")
    active = getattr(module, "active", None)
    return active() if callable(active) else _core.patched(name)


def _unpatch(name: str) -> bool:
    module = sys.modules.get(f"{__name__}.{_MODULES.get(name, (name,))[0]}")
    undo = getattr(module, "uninstrument", None)
    return undo() if callable(undo) else _core.unpatch(name)


def instrument(*names: str, agent_name: str | None = None) -> list[str]:
    """Patch the named SDKs (default: every known SDK that is installed); returns those patched.

    Naming an SDK that is not installed raises :class:`ImportError`; an unknown name raises
    :class:`ValueError`.
    """
    chosen = tuple(dict.fromkeys(provider_name(name) for name in names))
    chosen = chosen or tuple(name for name in PROVIDERS if _installed(name))
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
    chosen = tuple(dict.fromkeys(provider_name(name) for name in names)) or PROVIDERS
    return [name for name in chosen if _unpatch(name)]


def instrumented() -> list[str]:
    """The SDKs patched now."""
    return [name for name in PROVIDERS if _patched(name)]
