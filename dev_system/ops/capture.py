"""``dev_system.ops.capture``: the documented path of :mod:`dev_system.record.arguments`."""

from dev_system.record.arguments import (  # noqa: F401
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NODES,
    MIN_TOTAL_CHARS,
    REDACTED,
    CapturePlan,
    Redactor,
    redact_text,
    remember_environment_secrets,
    sanitize,
    sanitize_arguments,
    snapshot,
    truncate,
)
