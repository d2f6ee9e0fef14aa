"""The HTML report: one self-contained page with headline cards, alerts, charts and tables.

``dev-system report --html PATH`` and ``pytest --telemetry --telemetry-html=PATH`` write it. The
page needs no network to open (it is kept as a CI artifact and opened weeks later): the charting
library (Chart.js, MIT, vendored in ``assets/``), the styles, the script and the data are all
inside the one file, and its Content-Security-Policy forbids every fetch.

The figures are those of the text report: :mod:`dev_system.analysis.dashboard` computes them
(:func:`~dev_system.analysis.metrics.compute_summary`,
:func:`~dev_system.analysis.alerts.evaluate_alerts`, the breakdowns, bounded lists of traces and
failed calls), :mod:`dev_system.render.html.data` writes them as the page's data, and this module
makes the page of that data.

Safety: agent names, messages and every other stored string may be hostile. The data travels as
JSON inside ``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, and the page
script writes it with ``textContent`` only; both scripts are allowed by their hashes in the
Content-Security-Policy, so nothing else on the page can run.

Two steps, so that a front end can add to the data: :func:`collect_report` (a connection in, a
JSON-ready dict out: the dashboard's figures as page data) and :func:`render_html` (dict in, page
out); :func:`write_html_report` writes the page atomically, :func:`write_run_report` writes the
page of a finished pytest run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dev_system.analysis.alerts import Alert, AlertRule, CostScope, Thresholds
from dev_system.analysis.dashboard import Dashboard, Limits, buckets_for, collect_dashboard, collect_run_dashboard
from dev_system.analysis.periods import Window
from dev_system.render.files import write_private_text
from dev_system.render.html.data import (
    BREAKDOWN_COLUMNS,
    HTML_FORMAT,
    OTHER_COLOUR,
    PALETTE,
    breakdown_rows,
    change_text,
    local_text,
    page_data,
)
from dev_system.render.html.score_data import add_scores
from dev_system.store.queries import Filters

__all__ = [
    "ASSETS", "BREAKDOWN_COLUMNS", "CHART_JS", "HTML_FORMAT", "OTHER_COLOUR", "PALETTE", "SCRIPT", "STYLES",
    "TEMPLATE", "AssetsMissing", "Limits", "breakdown_rows", "buckets_for", "change_text", "collect_report",
    "embed_json", "local_text", "render_html", "write_html_report", "write_run_report",
]

ASSETS = Path(__file__).with_name("assets")
CHART_JS = "chart.umd.min.js"
TEMPLATE = "report.html"
SCRIPT = "report.js"
STYLES = "report.css"


def collect_report(conn: sqlite3.Connection, window: Window, filters: Filters = Filters(),
                   thresholds: Thresholds = Thresholds(), *, extra_rules: Iterable[AlertRule] = (),
                   cost_scope: CostScope = "day", run_id: str | None = None, baseline_run_id: str | None = None,
                   title: str | None = None, limits: Limits = Limits(), now: float | None = None,
                   source: str | None = None, alerts: Sequence[Alert] | None = None) -> dict[str, Any]:
    """Everything the page shows, as a JSON-ready dict (see docs/report.md): the page data of
    :func:`~dev_system.analysis.dashboard.collect_dashboard` (which the arguments are passed to).

    ``run_id`` adds the section of a pytest run (its tests; against ``baseline_run_id`` when given);
    pass ``Filters(run_id=run_id)`` and ``cost_scope="total"`` too for the figures of the run alone,
    as the plugin does. ``source`` names where the events came from (shown in the footer).
    ``alerts``, when given, are shown instead of evaluating the thresholds again (the plugin passes
    the alerts its own rules and hooks raised for the run).
    """
    dashboard = collect_dashboard(conn, window, filters, thresholds, extra_rules=extra_rules, cost_scope=cost_scope,
                                  run_id=run_id, baseline_run_id=baseline_run_id, limits=limits, alerts=alerts)
    return _with_scores(page_data(dashboard, title=title, now=now, source=source), dashboard)


def _with_scores(data: dict[str, Any], dashboard: Dashboard) -> dict[str, Any]:
    """``data`` with the dashboard's scores added (:func:`~dev_system.render.html.score_data.add_scores`)."""
    add_scores(data, dashboard.scores, dashboard.alerts, dashboard.limits)
    return data


# --- the page ----------------------------------------------------------------------------------

_MARKER = re.compile(r"@@([A-Z_]+)@@")


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">`` (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _script_body(text: str) -> str:
    """A script's text made safe to inline (no ``</script``, no ``<!--``, no source map)."""
    text = re.sub(r"\n//# sourceMappingURL=\S*\s*$", "\n", text)
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


class AssetsMissing(RuntimeError):
    """The page's files (``dev_system/render/html/assets``) are not installed; the message is one line."""


def _asset(name: str) -> str:
    try:
        return (ASSETS / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise AssetsMissing(f"the HTML report's {name} is missing from {ASSETS} ({exc.strerror or exc}): "
                            "reinstall pytest-devtelemetry") from None


def render_html(data: dict[str, Any]) -> str:
    """The page of :func:`collect_report`'s ``data``: one HTML document, nothing to fetch."""
    library = _script_body(_asset(CHART_JS))
    script = _script_body(_asset(SCRIPT))
    styles = _asset(STYLES).replace("</", "<\\/")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src {_hash(library)} {_hash(script)}; base-uri 'none'; form-action 'none'")
    values = {"CSP": csp, "STYLES": styles, "CHART_JS": library, "SCRIPT": script, "DATA": embed_json(data)}
    template = _asset(TEMPLATE)
    return _MARKER.sub(lambda m: values[m.group(1)], template)


def write_html_report(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write the page of ``data`` to ``path`` atomically (a reader never sees half a file), readable
    by its owner only (mode 0600, like the database it shows)."""
    return write_private_text(path, render_html(data))


def write_run_report(path: str | os.PathLike[str], report: Any, *, limits: Limits = Limits()) -> Path:
    """Write the page of a finished pytest run: ``report`` is the plugin's
    :class:`pytest_devtelemetry.runreport.RunReport` (run id, database, thresholds, alerts, and the
    comparison when ``--telemetry-compare`` made one); the figures are
    :func:`~dev_system.analysis.dashboard.collect_run_dashboard`'s, against the run's baseline."""
    dashboard = collect_run_dashboard(report, limits=limits)
    data = _with_scores(page_data(dashboard, source=str(report.db_path)), dashboard)
    return write_html_report(path, data)
