"""The scores part of the HTML report's data: the scores card (next to the cost card), the
series of the scores chart, the baseline's scores, and the history of each test of a run's page.

Written from :class:`~dev_system.analysis.dashboard_scores.PageScores`; names are clipped as the
rest of the page's text, numbers that JSON cannot hold become ``null``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dev_system.formatting import format_score
from dev_system.render.html.data import _clip, _num

if TYPE_CHECKING:
    from dev_system.analysis.alerts import Alert
    from dev_system.analysis.dashboard import Limits
    from dev_system.analysis.dashboard_scores import PageScores


def score_text(value: float | None) -> str:
    """A score for people, as the run summary writes it (``0.92``)."""
    return "n/a" if value is None else format_score(value)


def _card(scores: PageScores, alerts: Sequence[Alert], clip: int) -> dict[str, Any] | None:
    """The scores card: the lowest mean among the names (the one to watch), the others in the note."""
    if not scores.stats:
        return None
    low = min(scores.stats, key=lambda s: (s.mean, s.name))
    others = [f"{_clip(s.name, clip)} {score_text(s.mean)}" for s in scores.stats if s is not low]
    note = f"lowest test {score_text(low.min)}; {low.tests} test{'s' if low.tests != 1 else ''}"
    if others:
        note += " · " + ", ".join(others)
    return {"id": "scores", "label": f"Score: {_clip(low.name, clip)} (mean)", "value": score_text(low.mean),
            "note": note, "alert": any(str(a.rule).startswith("score") for a in alerts)}


def scores_data(scores: PageScores | None, alerts: Sequence[Alert], limits: Limits) -> dict[str, Any] | None:
    """The page's ``scores`` entry (``None``: the page has no scores and no run)."""
    if scores is None:
        return None
    clip = limits.text_chars
    baseline = {s.name: s.mean for s in scores.baseline or ()}
    out: dict[str, Any] = {
        "stats": [{"name": _clip(s.name, clip), "mean": _num(s.mean), "min": _num(s.min),
                   "min_test": _clip(s.min_nodeid, clip), "tests": s.tests, "mean_text": score_text(s.mean),
                   "baseline": _num(baseline.get(s.name))} for s in scores.stats],
        "baseline": scores.baseline is not None,
        "series": None,
        "history": None,
    }
    if scores.series is not None:
        out["series"] = {"labels": list(scores.series.labels), "names": [_clip(n, clip) for n in scores.series.names],
                         "means": [[_num(v) for v in row] for row in scores.series.means]}
    history = scores.history
    if history is not None:
        out["history"] = {
            "runs": [_clip(r, clip) for r in history.run_ids],
            "labels": [datetime.fromtimestamp(t).strftime("%m-%d %H:%M") for t in history.started],
            "tests": {_clip(nodeid, clip): {
                "cost": [_num(v) for v in test["cost"]],  # type: ignore[union-attr]
                "latency": [_num(v) for v in test["latency"]],  # type: ignore[union-attr]
                "scores": {_clip(name, clip): [_num(v) for v in values]
                           for name, values in test["scores"].items()},  # type: ignore[union-attr]
            } for nodeid, test in history.tests.items()},
        }
    return out


def add_scores(data: dict[str, Any], scores: PageScores | None, alerts: Sequence[Alert], limits: Limits) -> None:
    """Add the scores to the page's ``data``: its ``scores`` entry, and the scores card after the cost card."""
    data["scores"] = scores_data(scores, alerts, limits)
    card = None if scores is None else _card(scores, alerts, limits.text_chars)
    if card is not None:
        ids = [c["id"] for c in data["cards"]]
        data["cards"].insert(ids.index("total_cost") + 1 if "total_cost" in ids else len(ids), card)
