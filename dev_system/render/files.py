"""Writing a report file: atomically (a reader never sees half a file) and readable by its owner
only (mode 0600, whatever the umask), like the database the report is made from."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` (its folders made as needed), mode 0600, atomically."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
