"""``dev_system.ops.recorder``: the documented path of :mod:`dev_system.record.recorder`."""

from dev_system.record.recorder import (  # noqa: F401
    CLOSE_WAIT_S,
    STUCK_WRITER_S,
    Sink,
    MemorySink,
    Recorder,
    get_recorder,
    configure,
)
