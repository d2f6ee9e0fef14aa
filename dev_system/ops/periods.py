"""``dev_system.ops.periods``: the documented path of :mod:`dev_system.analysis.periods`."""

from dev_system.analysis.periods import (  # noqa: F401
    DURATION_HELP,
    MAX_DURATION_DAYS,
    PERIOD_HELP,
    PeriodError,
    Window,
    day_bounds,
    local_day,
    local_midnight,
    parse_duration,
    parse_period,
)
