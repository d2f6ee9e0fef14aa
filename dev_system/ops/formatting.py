"""``dev_system.ops.formatting``: the documented path of :mod:`dev_system.formatting`."""

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
