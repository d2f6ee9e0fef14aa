"""``dev_system.ops.instrument.openai``: the documented path of :mod:`dev_system.record.instrument.openai`."""

from dev_system.record.instrument.openai import *  # noqa: F403
