"""``dev_system.ops.instrument``: the documented path of :mod:`dev_system.record.instrument`."""

from dev_system.record.instrument import (  # noqa: F401
    PROVIDERS,
    instrument,
    instrument_anthropic,
    instrument_openai,
    instrumented,
    uninstrument,
)
