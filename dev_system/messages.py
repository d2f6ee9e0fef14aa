"""Text for one-line messages to a person, shared by every stage (a leaf: imports no stage)."""

from __future__ import annotations


def shown(value: object) -> str:
    """``value`` as text for a one-line message: control characters (a newline, an escape
    sequence) are written as Python escapes, so the message stays one line and inert."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
