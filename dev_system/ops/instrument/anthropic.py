"""``dev_system.ops.instrument.anthropic``: the documented path of :mod:`dev_system.record.instrument.anthropic`."""

from dev_system.record.instrument.anthropic import *  # noqa: F403
