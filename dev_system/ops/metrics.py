"""``dev_system.ops.metrics``: the documented path of :mod:`dev_system.analysis.metrics`."""

from dev_system.analysis.metrics import (  # noqa: F401
    BREAKDOWN_KEYS,
    UNKNOWN_ERROR,
    BreakdownRow,
    Summary,
    compute_breakdown,
    compute_summary,
    percentile,
    rate,
    top_by_count,
)
