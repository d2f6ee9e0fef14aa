"""``dev_system.ops.instrument``: the documented path of :mod:`dev_system.record.instrument`."""

from dev_system.record.instrument import (  # noqa: F401
    ALIASES,
    PROVIDERS,
    instrument,
    instrument_anthropic,
    instrument_google_genai,
    instrument_openai,
    instrumented,
    uninstrument,
)
