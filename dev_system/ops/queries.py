"""``dev_system.ops.queries``: the documented path of :mod:`dev_system.store.queries`."""

from dev_system.store.queries import (  # noqa: F401
    Filters,
    table_columns,
    column_expr,
    select_events_sql,
    MAX_TIMESTAMP,
    USABLE,
    and_where,
    count_unusable,
    where_clause,
    list_events,
    iter_events,
    trace_events,
    PruneResult,
    prune,
)
