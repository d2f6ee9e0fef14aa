"""``dev_system.ops.costs``: the documented path of :mod:`dev_system.record.usage` and
:mod:`dev_system.record.pricing`."""

from dev_system.record.usage import (  # noqa: F401
    Usage,
    usage_from,
    StreamUsage,
)
from dev_system.record.pricing import (  # noqa: F401
    set_price_overrides,
    cost_from_usage,
    default_cost,
    unknown_price_calls,
    cost_calculator,
    model_cost_calculator,
    openai_cost_calculator,
    anthropic_cost_calculator,
    price_calculator,
)
