"""``dev_system.ops.integration``: the documented path of :mod:`dev_system.record.services`."""

from dev_system.record.services import (  # noqa: F401
    F,
    ServiceTelemetry,
    service_telemetry,
    make_service_telemetry,
    orchestrator_telemetry,
    persona_runtime_telemetry,
    viral_engine_telemetry,
    DEFAULT_PATTERNS,
    MODEL_CALL_PATTERNS,
    AutoIntegration,
    auto_integrate_service,
    undo_auto_integration,
)
