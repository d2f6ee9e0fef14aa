"""``dev_system.ops.queries``: the documented path of :mod:`dev_system.store.queries` (and of
:mod:`dev_system.store.prune`)."""

from dev_system.store.prune import PruneResult, prune  # noqa: F401
from dev_system.store.queries import (  # noqa: F401
    MAX_TIMESTAMP,
    USABLE,
    Filters,
    and_where,
    column_expr,
    count_unusable,
    iter_events,
    list_events,
    select_events_sql,
    table_columns,
    trace_events,
    where_clause,
)
