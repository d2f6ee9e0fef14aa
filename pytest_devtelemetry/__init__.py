"""pytest-devtelemetry: the pytest plugin of dev_system (``pytest --telemetry``).

The plugin module, :mod:`pytest_devtelemetry.plugin`, is registered through the ``pytest11``
entry point; it imports nothing heavy until telemetry is switched on (see docs/pytest.md).
"""
