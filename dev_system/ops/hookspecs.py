"""``dev_system.ops.hookspecs``: the documented path of :mod:`dev_system.hookspecs`."""

from dev_system.hookspecs import (  # noqa: F401
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    PROJECT_NAME,
    DevSystemSpecs,
    get_plugin_manager,
    hookimpl,
    hookspec,
    new_plugin_manager,
)
