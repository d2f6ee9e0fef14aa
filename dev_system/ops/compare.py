"""``dev_system.ops.compare``: the documented path of :mod:`dev_system.analysis.compare`."""

from dev_system.analysis.compare import (  # noqa: F401
    TOTALS,
    TEST_FIGURES,
    LIMIT_HELP,
    LimitError,
    Limit,
    parse_limits,
    Change,
    TestChange,
    Regression,
    Comparison,
    run_totals,
    find_baseline,
    compare_runs,
    regressions,
    format_value,
    describe_change,
    comparison_lines,
)
