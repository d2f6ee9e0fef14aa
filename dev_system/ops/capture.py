"""``dev_system.ops.capture``: the documented path of :mod:`dev_system.record.arguments`."""

from dev_system.record.arguments import (  # noqa: F401
    REDACTED,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NODES,
    MIN_TOTAL_CHARS,
    remember_environment_secrets,
    redact_text,
    Redactor,
    CapturePlan,
    snapshot,
    truncate,
    sanitize,
    sanitize_arguments,
)
