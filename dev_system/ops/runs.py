"""``dev_system.ops.runs``: the documented path of :mod:`dev_system.store.runs` (and of
:func:`dev_system.render.runs.runs_table`)."""

from dev_system.render.runs import runs_table  # noqa: F401
from dev_system.store.runs import (  # noqa: F401
    COMPLETED,
    RUNNING,
    STATUS_BY_EXIT,
    Run,
    RunNotFound,
    RunTotals,
    TestResult,
    default_db_path,
    event_totals,
    finish_run,
    get_run,
    git_info,
    host_name,
    list_runs,
    merge_metadata,
    new_run_id,
    resolve_run,
    start_run,
    status_for_exit,
    test_results,
    tests_digest,
    write_test_results,
)
