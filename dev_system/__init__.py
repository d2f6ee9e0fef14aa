"""dev_system: telemetry for test-driven AI-agent development.

The public API lives in :mod:`dev_system.ops.telemetry`; the command in :mod:`dev_system.cli`.
"""

__version__ = "0.1.0"
