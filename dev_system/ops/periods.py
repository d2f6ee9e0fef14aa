"""``dev_system.ops.periods``: the documented path of :mod:`dev_system.analysis.periods`."""

from dev_system.analysis.periods import (  # noqa: F401
    PERIOD_HELP,
    PeriodError,
    Window,
    parse_duration,
    local_midnight,
    local_day,
    day_bounds,
    parse_period,
)
