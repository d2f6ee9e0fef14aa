"""``dev_system.ops.html_report``: the documented path of :mod:`dev_system.render.html.page`."""

from dev_system.render.html.page import (  # noqa: F401
    ASSETS,
    BREAKDOWN_COLUMNS,
    CHART_JS,
    HTML_FORMAT,
    OTHER_COLOUR,
    PALETTE,
    SCRIPT,
    STYLES,
    TEMPLATE,
    AssetsMissing,
    Limits,
    breakdown_rows,
    buckets_for,
    change_text,
    collect_report,
    embed_json,
    local_text,
    render_html,
    write_html_report,
    write_run_report,
)
