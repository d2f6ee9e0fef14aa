"""``dev_system.ops.instrument.google_genai``: the documented path of :mod:`dev_system.record.instrument.google_genai`."""

from dev_system.record.instrument.google_genai import *  # noqa: F403
