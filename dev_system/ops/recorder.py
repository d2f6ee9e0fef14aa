"""``dev_system.ops.recorder``: the documented path of :mod:`dev_system.record.recorder` and
:mod:`dev_system.record.sinks`."""

from dev_system.record.recorder import (  # noqa: F401
    CLOSE_WAIT_S,
    STUCK_WRITER_S,
    Recorder,
    configure,
    get_recorder,
)
from dev_system.record.sinks import (  # noqa: F401
    MemorySink,
    Sink,
)
