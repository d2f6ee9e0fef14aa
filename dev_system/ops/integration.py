"""``dev_system.ops.integration``: the documented path of :mod:`dev_system.record.services` and
:mod:`dev_system.record.auto_integration`."""

from dev_system.record.auto_integration import (  # noqa: F401
    DEFAULT_PATTERNS,
    MODEL_CALL_PATTERNS,
    AutoIntegration,
    auto_integrate_service,
    undo_auto_integration,
)
from dev_system.record.services import (  # noqa: F401
    F,
    ServiceTelemetry,
    make_service_telemetry,
    orchestrator_telemetry,
    persona_runtime_telemetry,
    service_telemetry,
    viral_engine_telemetry,
)
