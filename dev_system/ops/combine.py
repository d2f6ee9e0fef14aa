"""``dev_system.ops.combine``: the documented path of :mod:`dev_system.store.combine`."""

from dev_system.store.combine import (  # noqa: F401
    CombineError,
    InputReport,
    CombineResult,
    expand_inputs,
    combine,
)
