"""``dev_system.ops.costs``: the documented path of :mod:`dev_system.record.usage` and
:mod:`dev_system.record.pricing`."""

from dev_system.record.pricing import (  # noqa: F401
    anthropic_cost_calculator,
    cost_calculator,
    cost_from_usage,
    default_cost,
    model_cost_calculator,
    openai_cost_calculator,
    price_calculator,
    set_price_overrides,
    unknown_price_calls,
)
from dev_system.record.usage import (  # noqa: F401
    StreamUsage,
    Usage,
    usage_from,
)
