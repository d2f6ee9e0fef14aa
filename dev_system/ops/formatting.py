"""``dev_system.ops.formatting``: the documented path of :mod:`dev_system.render.formatting`."""

from dev_system.render.formatting import (  # noqa: F401
    format_percent,
    format_ms,
    format_usd,
    format_int,
    plural,
    exact_digits,
    format_crossing,
    printable,
)
