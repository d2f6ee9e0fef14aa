"""``dev_system.ops.problems``: the documented path of :mod:`dev_system.problems`."""

from dev_system.problems import (  # noqa: F401
    TelemetryWarning,
    problem_counts,
    problem_messages,
    report_problem,
    reset_problems,
)
