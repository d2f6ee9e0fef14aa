"""``dev_system.ops.recorder``: the documented path of :mod:`dev_system.record.recorder` and
:mod:`dev_system.record.sinks`."""

from dev_system.record.recorder import (  # noqa: F401
    CLOSE_WAIT_S,
    STUCK_WRITER_S,
    Recorder,
    get_recorder,
    configure,
)
from dev_system.record.sinks import (  # noqa: F401
    Sink,
    MemorySink,
)
