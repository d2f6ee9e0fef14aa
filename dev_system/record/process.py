"""The recorder and the life of the process: what is buffered is stored however the process ends.

- at interpreter exit (``atexit``): the recorder closes (flushes, closes its sinks);
- at ``os.fork()``: the recorder lets its writer finish a batch first, and the child starts
  with an empty buffer, fresh locks and a fresh writer (:meth:`Recorder.before_fork` and the
  two ``after_fork_*`` methods say how);
- in a multiprocessing child, which ends with ``os._exit`` and no ``atexit``: multiprocessing's
  finalizers close the recorder;
- on SIGTERM, where the process left it to its default action: the recorder closes, then the
  process ends by SIGTERM as it would have without telemetry.

Functions here take the recorder as an argument; they are installed by the recorder itself.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any

_sigterm_installed = False
_multiprocessing_watched = False


def attach(rec: Any) -> None:
    """Close ``rec`` at interpreter exit and let it follow ``os.fork()`` (once per process-wide recorder)."""
    atexit.register(rec.close)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=rec.before_fork, after_in_parent=rec.after_fork_in_parent,
                            after_in_child=rec.after_fork_in_child)


def _close_at_multiprocessing_exit(rec: Any) -> None:
    """Close ``rec`` when this multiprocessing child ends: it ends with ``os._exit``, without
    ``atexit`` (the fork and forkserver start methods), but it runs multiprocessing's finalizers."""
    try:
        from multiprocessing import util

        util.Finalize(None, rec.close, exitpriority=100)
    except Exception:
        pass


def watch_multiprocessing(rec: Any) -> None:
    """Have every multiprocessing child close ``rec`` at its end. Registered once, when
    multiprocessing is in use; multiprocessing runs the registered function in each child it starts."""
    global _multiprocessing_watched
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_watched:
        return
    try:
        util.register_after_fork(rec, _close_at_multiprocessing_exit)
        _multiprocessing_watched = True
    except Exception:
        pass


def end_by_signal(signum: int) -> None:
    """End the process by ``signum`` with the default action, as it would have ended without telemetry."""
    import signal

    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _flush_on_sigterm(rec: Any, signum: int) -> None:
    """Python's default for SIGTERM ends the process at once, without ``atexit``: what is in the
    buffer would be lost. Store it (waiting at most 5 s for the writer), then end the process by
    SIGTERM as it would have ended without telemetry (same exit status for the parent)."""
    try:
        owned = getattr(rec.write_lock, "_is_owned", lambda: False)()
    except Exception:
        owned = False
    if owned and getattr(rec, "closing", False):  # interrupted inside close() at exit: it ends the process
        rec.term_pending = signum
        return
    try:
        # Interrupted inside a flush of this very thread: a second one would nest in its transaction.
        if not owned and rec.write_lock.acquire(timeout=5.0):
            try:
                rec.close()
            finally:
                rec.write_lock.release()
    except BaseException:
        pass
    finally:
        end_by_signal(signum)


def install_sigterm_handler(rec: Any) -> None:
    """Close ``rec`` on SIGTERM, only where the process left SIGTERM to its default action, and
    only from the main thread (where Python lets handlers be set). A handler of the application's
    own, set before or after, is left alone: it decides, and ``sys.exit`` from it runs ``atexit``,
    which flushes."""
    global _sigterm_installed
    if _sigterm_installed:
        return
    try:
        import signal

        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def flush_on_sigterm(signum: int, frame: Any) -> None:
            _flush_on_sigterm(rec, signum)

        signal.signal(signal.SIGTERM, flush_on_sigterm)
        _sigterm_installed = True
    except (AttributeError, ValueError, OSError):  # no SIGTERM here, or not allowed
        pass
