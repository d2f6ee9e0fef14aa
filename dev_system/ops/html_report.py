"""``dev_system.ops.html_report``: the documented path of :mod:`dev_system.render.html.page`."""

from dev_system.render.html.page import (  # noqa: F401
    HTML_FORMAT,
    ASSETS,
    CHART_JS,
    TEMPLATE,
    SCRIPT,
    STYLES,
    PALETTE,
    OTHER_COLOUR,
    Limits,
    local_text,
    change_text,
    buckets_for,
    BREAKDOWN_COLUMNS,
    breakdown_rows,
    collect_report,
    embed_json,
    AssetsMissing,
    render_html,
    write_html_report,
    write_run_report,
)
