"""``dev_system.ops.instrument.litellm``: the documented path of :mod:`dev_system.record.instrument.litellm`."""

from dev_system.record.instrument.litellm import *  # noqa: F403
