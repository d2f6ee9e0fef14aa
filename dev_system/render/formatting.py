"""How figures are written for people: see :mod:`dev_system.formatting`."""

# moved to dev_system.formatting; kept for cli/__init__.py, store/runs.py and pytest_devtelemetry (capture, runreport, session)
from dev_system.formatting import (  # noqa: F401
    exact_digits,
    format_crossing,
    format_int,
    format_ms,
    format_percent,
    format_usd,
    plural,
    printable,
)
