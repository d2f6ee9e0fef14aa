"""``dev_system.ops.alerts``: the documented path of :mod:`dev_system.analysis.alerts`."""

from dev_system.analysis.alerts import (  # noqa: F401
    Alert,
    AlertRule,
    CostScope,
    Thresholds,
    builtin_alerts,
    evaluate_alerts,
    plugin_rules,
)
