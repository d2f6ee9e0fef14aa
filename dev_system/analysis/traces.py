"""The calls of one trace as a tree: which call ran inside which, in the order they started."""

from __future__ import annotations

from collections.abc import Sequence

from dev_system.events import TelemetryEvent


def trace_tree(events: Sequence[TelemetryEvent]) -> list[tuple[int, TelemetryEvent]]:
    """``(depth, event)`` in display order: children under their parent span, siblings by time.

    An event whose parent span is not in the trace is a root.
    """
    spans = {event.span_id for event in events if event.span_id}
    children: dict[str, list[TelemetryEvent]] = {}
    roots = []
    for event in sorted(events, key=lambda e: e.timestamp):
        if event.parent_span_id and event.parent_span_id in spans and event.parent_span_id != event.span_id:
            children.setdefault(event.parent_span_id, []).append(event)
        else:
            roots.append(event)
    out: list[tuple[int, TelemetryEvent]] = []
    seen: set[str] = set()

    def visit(event: TelemetryEvent, depth: int) -> None:
        out.append((depth, event))
        if event.span_id and event.span_id not in seen:
            seen.add(event.span_id)
            for child in children.get(event.span_id, ()):
                visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    placed = {id(event) for _, event in out}
    out.extend((0, event) for event in events if id(event) not in placed)  # parent cycles
    return out
