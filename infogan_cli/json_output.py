"""What every ``--json`` document passes through before ``json.dumps``: strict JSON values only.

Light on imports (no numpy, no torch): ``infogan inspect --json`` uses it too.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither, and ``json.loads`` lets them
    into crafted metadata), numpy scalars as Python numbers and tuples as lists, through dicts
    and lists at any depth. Everything else is returned as it is."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return int(value)
    if isinstance(value, numbers.Real):  # float, numpy floats
        number = float(value)
        return number if math.isfinite(number) else None
    return value
