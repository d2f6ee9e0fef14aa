"""``dev_system.ops.combine``: the documented path of :mod:`dev_system.store.combine`."""

from dev_system.store.combine import (  # noqa: F401
    CombineError,
    CombineResult,
    InputReport,
    combine,
    expand_inputs,
)
