"""``dev_system.ops.compare``: the documented path of :mod:`dev_system.analysis.compare` and
:func:`dev_system.render.compare.comparison_lines`."""

from dev_system.analysis.compare import (  # noqa: F401
    LIMIT_HELP,
    TEST_FIGURES,
    TOTALS,
    Change,
    Comparison,
    Limit,
    LimitError,
    Regression,
    TestChange,
    compare_runs,
    describe_change,
    find_baseline,
    format_value,
    parse_limits,
    regressions,
    run_totals,
)
from dev_system.render.compare import comparison_lines  # noqa: F401
