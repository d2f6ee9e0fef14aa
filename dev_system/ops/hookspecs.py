"""``dev_system.ops.hookspecs``: the documented path of :mod:`dev_system.hookspecs`."""

from dev_system.hookspecs import (  # noqa: F401
    PROJECT_NAME,
    ENTRY_POINT_GROUP,
    BUILTIN_PLUGINS,
    hookspec,
    hookimpl,
    DevSystemSpecs,
    get_plugin_manager,
    new_plugin_manager,
)
