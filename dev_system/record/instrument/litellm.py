"""Recording of LiteLLM calls through LiteLLM's own callback API (a ``CustomLogger``).

``instrument()`` adds one handler to ``litellm.callbacks``; ``uninstrument()`` takes it out of
every list LiteLLM copied it into. When ``litellm`` is not imported yet, nothing is imported
here: the handler is added as soon as the user's code imports it (importing LiteLLM takes
seconds).

Each request LiteLLM sends to a provider (``completion``/``acompletion``, ``embedding``/
``aembedding``, ``text_completion``, streamed or not) becomes one ``model_call`` event named
``litellm.<call type>``, attributed like any call to the context that made it:

- the event opens in ``log_pre_api_call``, in the caller's context (its trace, its test);
- a call answered in one piece ends in ``log_post_api_call``, before LiteLLM returns, with the
  usage and model of the provider's own answer (the JSON body, or the SDK's response object,
  that LiteLLM hands the hook);
- a stream ends in the success hook (sync or async) with the usage LiteLLM assembled from the
  chunks. For a sync stream LiteLLM runs that hook in its logging thread, a moment after the last
  chunk: such a stream, once read to its end, is *pending* until its hook has run, and
  :func:`wait_for_streams` (a waiter of :mod:`dev_system.record.settle`) waits for the pending
  ones, so that a test's figures, read as it ends, include its streams;
- a failure ends in the failure hook (sync or async), with the exception's class name.

Cost: the pricing of :mod:`dev_system.record.pricing` (the user's prices, then genai-prices) for
the model that answered, as for the SDK instrumentation; LiteLLM's own cost figure is not used.
While LiteLLM's request is in flight the SDK instrumentation stands aside (LiteLLM sends some
requests, embeddings for instance, through the ``openai`` SDK), so each request is counted once.
"""

from __future__ import annotations

import collections
import importlib.abc
import json
import sys
import threading
import time
import weakref
from typing import Any

from dev_system.problems import report_problem
from dev_system.record import settle
from dev_system.record.instrument import _core

PROVIDER = "litellm"
#: In-flight calls kept at most; past this the oldest are ended as closed early.
MAX_PENDING = 10_000

_lock = threading.RLock()
_handler: Any = None
_finder: Any = None
#: litellm_call_id -> (span, thread id where the SDK instrumentation was set aside, or None)
_pending: collections.OrderedDict[str, tuple[Any, int | None]] = collections.OrderedDict()
#: litellm_call_id -> a weak reference to LiteLLM's stream object (``_no_stream`` when none could be
#: made), for the sync streams in flight: their success hook runs on LiteLLM's thread (see
#: wait_for_streams)
_sync_streams: dict[str, Any] = {}
#: Notified whenever a call in flight ends.
_call_ended = threading.Condition(_lock)


def instrument() -> bool:
    """Add the handler to ``litellm.callbacks`` (now, or when ``litellm`` is imported); False
    when it is already there or LiteLLM is not installed."""
    global _finder
    with _lock:
        if _handler is not None or _finder is not None:
            return False
        module = sys.modules.get("litellm")
        if module is not None:
            return _register(module)
        import importlib.util

        if importlib.util.find_spec("litellm") is None:
            return False
        _finder = _OnImport()
        sys.meta_path.insert(0, _finder)
        return True


def uninstrument() -> bool:
    """Take the handler out of LiteLLM; calls still in flight end as closed early."""
    global _handler, _finder
    with _lock:
        done = _handler is not None or _finder is not None
        if _finder is not None:
            try:
                sys.meta_path.remove(_finder)
            except ValueError:
                pass
            _finder = None
        handler, _handler = _handler, None
        pending = list(_pending.values())
        _pending.clear()
        _sync_streams.clear()
        _call_ended.notify_all()
    settle.remove_waiter(wait_for_streams)
    if handler is not None:
        _unregister(handler)
    for span, _ in pending:
        span.end(closed_early=True)
    _core._agent_names.pop(PROVIDER, None)
    return done


def active() -> bool:
    """True while instrumented (also while waiting for ``litellm`` to be imported)."""
    return _handler is not None or _finder is not None


# --- registering -------------------------------------------------------------------------------


def _register(module: Any) -> bool:
    global _handler
    try:
        _handler = _make_handler()
        module.callbacks.append(_handler)
        settle.add_waiter(wait_for_streams)
        return True
    except Exception as exc:
        _handler = None
        report_problem("instrument-litellm", f"LiteLLM's callbacks could not be set; its calls are not recorded: {exc!r}")
        return False


def _unregister(handler: Any) -> None:
    module = sys.modules.get("litellm")
    if module is None:
        return
    for value in list(vars(module).values()):
        if isinstance(value, list):
            while any(item is handler for item in value):
                value[:] = [item for item in value if item is not handler]
    manager = getattr(module, "logging_callback_manager", None)
    remove = getattr(manager, "remove_callback_from_all_lists", None)
    if callable(remove):
        try:
            remove(handler)
        except Exception:
            pass


class _OnImport(importlib.abc.MetaPathFinder):
    """Adds the handler once the user's code has imported ``litellm`` (nothing imports it here)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "litellm":
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            _imported(self, module)

        loader.exec_module = exec_module  # this spec's own loader
        return spec


def _imported(finder: _OnImport, module: Any) -> None:
    global _finder
    with _lock:
        if _finder is not finder:
            return
        _finder = None
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass
        _register(module)


# --- the handler -------------------------------------------------------------------------------


def _make_handler() -> Any:
    from litellm.integrations.custom_logger import CustomLogger

    class DevSystemLogger(CustomLogger):
        """dev-system's recording of LiteLLM calls (one event per provider request)."""

        def log_pre_api_call(self, model, messages, kwargs):
            _begin(kwargs)

        async def async_log_pre_api_call(self, model, messages, kwargs):
            _begin(kwargs)

        def log_post_api_call(self, kwargs, response_obj, start_time, end_time):
            _answered(kwargs)

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            _succeeded(kwargs, response_obj, start_time, end_time)

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            _succeeded(kwargs, response_obj, start_time, end_time)

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):
            _failed(kwargs, start_time, end_time)

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
            _failed(kwargs, start_time, end_time)

    return DevSystemLogger()


def _call_id(kwargs: Any) -> str | None:
    try:
        call_id = kwargs.get("litellm_call_id") or (kwargs.get("litellm_params") or {}).get("litellm_call_id")
    except Exception:
        return None
    return call_id if isinstance(call_id, str) and call_id else None


def _function_name(kwargs: dict) -> str:
    call_type = kwargs.get("call_type")
    return f"litellm.{call_type}" if isinstance(call_type, str) and call_type else "litellm.completion"


def _provider(kwargs: dict) -> str | None:
    provider = kwargs.get("custom_llm_provider") or (kwargs.get("litellm_params") or {}).get("custom_llm_provider")
    return provider if isinstance(provider, str) and provider else None


def _begin(kwargs: Any) -> None:
    """A request is about to go out: its event opens here, in the caller's context."""
    try:
        if _handler is None or _core._off():
            return
        call_id = _call_id(kwargs)
        if call_id is None:
            return
        with _lock:
            if call_id in _pending:
                return  # the async and sync pre-call hooks of one request
        params = {key: kwargs.get(key) for key in ("model", "stream") if kwargs.get(key) is not None}
        _core.remember_client_secrets((), kwargs)
        span = _core._span(PROVIDER, _function_name(kwargs), params)
        span.annotate(provider=_provider(kwargs) or PROVIDER, via="litellm")
        # The SDK instrumentation stands aside until the answer is in (see _answered).
        _core._ACTIVE.set(True)
        evicted = None
        with _lock:
            _pending[call_id] = (span, threading.get_ident())
            if len(_pending) > MAX_PENDING:
                evicted_id, (evicted, _) = _pending.popitem(last=False)
                _sync_streams.pop(evicted_id, None)
        if evicted is not None:
            evicted.end(closed_early=True)
    except Exception as exc:
        report_problem("instrument-litellm", f"a LiteLLM call could not be recorded: {exc!r}")


def _release(entry: tuple[Any, int | None]) -> None:
    """Give the SDK instrumentation back to the caller, when this runs where it was set aside."""
    if entry[1] == threading.get_ident():
        _core._ACTIVE.set(False)


def _take(kwargs: Any) -> tuple[Any, int | None] | None:
    call_id = _call_id(kwargs)
    if call_id is None:
        return None
    with _lock:
        return _pending.pop(call_id, None)


def _ended(kwargs: Any) -> None:
    """A call's event has ended (it is in the recorder): a sync stream is no longer waited for."""
    call_id = _call_id(kwargs)
    if call_id is not None and call_id in _sync_streams:
        with _lock:
            if _sync_streams.pop(call_id, None) is not None:
                _call_ended.notify_all()


def _answered(kwargs: Any) -> None:
    """The provider answered: a body in one piece ends the event with its own usage and model."""
    try:
        call_id = _call_id(kwargs)
        if call_id is None:
            return
        with _lock:
            entry = _pending.get(call_id)
        if entry is None:
            return
        _release(entry)
        original = kwargs.get("original_response")
        body = _body(original)
        if body is None:  # a stream, or an error: the success or failure hook ends it
            if kwargs.get("stream") and not _function_name(kwargs).startswith("litellm.a"):
                _watch_sync_stream(call_id, original)
            return
        with _lock:
            if _pending.pop(call_id, None) is None:
                return
        span = entry[0]
        span.set_result(body)
        span.end()
    except Exception as exc:
        report_problem("instrument-litellm", f"a LiteLLM call could not be recorded: {exc!r}")


def _watch_sync_stream(call_id: str, stream: Any) -> None:
    """Note a sync stream in flight (its success hook will run on LiteLLM's thread)."""
    try:
        ref = weakref.ref(stream)
    except TypeError:  # not LiteLLM's stream object (the raw text LiteLLM logs first)
        ref = _no_stream
    with _lock:
        if call_id in _pending:
            _sync_streams[call_id] = ref


def _no_stream() -> None:
    """The stand-in for a stream object that cannot be watched: it looks collected."""
    return None


def wait_for_streams(timeout: float) -> bool:
    """Wait at most ``timeout`` seconds for the sync streams read to their end whose success hook
    has not run yet; True when none is left. A stream still being read is not waited for; one
    waited for in vain (closed before its end, when LiteLLM sends no hook) is not waited for again:
    its event still ends if its hook comes."""
    if not _sync_streams:
        return True
    deadline = time.monotonic() + timeout
    with _call_ended:
        while True:
            ended = [call_id for call_id, ref in _sync_streams.items() if _read_to_its_end(ref())]
            if not ended:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                for call_id in ended:
                    del _sync_streams[call_id]
                return False
            _call_ended.wait(left)


def _read_to_its_end(stream: Any) -> bool:
    """Whether the caller is done with a sync stream: LiteLLM closes its stream object once it
    has read the last chunk (it then hands the success hook to its logging thread). A stream
    object already collected, or one that does not say, counts as done."""
    return stream is None or getattr(stream, "_closed", True) is not False


def _body(original: Any) -> Any:
    """The provider's answer (its JSON, or the SDK's object) when it carries a usage block, else None."""
    if isinstance(original, (bytes, bytearray)):
        original = original.decode("utf-8", "replace")
    if isinstance(original, str):
        if not original.lstrip().startswith("{"):
            return None
        try:
            original = json.loads(original)
        except ValueError:
            return None
    if isinstance(original, dict):
        return original if original.get("usage") and "error" not in original else None
    try:  # an SDK object (LiteLLM hands over the ``openai`` SDK's embedding response as it is)
        return original if original is not None and getattr(original, "usage", None) is not None else None
    except Exception:
        return None


def _succeeded(kwargs: Any, response: Any, start_time: Any, end_time: Any) -> None:
    try:
        entry = _take(kwargs)
        if entry is None:
            return
        _release(entry)
        span = entry[0]
        usage = _usage(response, _provider(kwargs))
        if usage is not None:
            span.set_usage(usage)
        else:
            span.set_result(response)
        span.end()
    except Exception as exc:
        report_problem("instrument-litellm", f"a LiteLLM call could not be recorded: {exc!r}")
    finally:
        _ended(kwargs)


def _usage(response: Any, provider: str | None) -> Any:
    """The usage LiteLLM assembled (OpenAI's shape whatever the provider), named after the
    provider that answered, so that it is priced as that provider's model."""
    from dev_system.record.usage import usage_from

    usage = usage_from(response)
    if usage is None:
        return None
    if provider in ("openai", "anthropic", "gemini", "vertex_ai"):
        name = "google" if provider in ("gemini", "vertex_ai") else provider
        usage = usage._replace(details={**usage.details, "provider": name})
    return usage


def _failed(kwargs: Any, start_time: Any, end_time: Any) -> None:
    try:
        entry = _take(kwargs)
        if entry is None:
            return
        _release(entry)
        span = entry[0]
        exc = kwargs.get("exception")
        if not isinstance(exc, BaseException):
            exc = RuntimeError(str(exc) if exc is not None else "LiteLLM call failed")
        span.end(exc)
    except Exception as exc:
        report_problem("instrument-litellm", f"a LiteLLM call could not be recorded: {exc!r}")
    finally:
        _ended(kwargs)
