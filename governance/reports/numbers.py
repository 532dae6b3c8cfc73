"""The one number rule of the documentation packs (docs/pack-schema.md, "Numbers").

- a measured value (a metric, a rate, a statistic) prints with ``PACK_SIGNIFICANT_DIGITS``
  significant digits (default 4), without trailing zeros: ``0.7391304347826086`` -> ``0.7391``;
- a p-value prints the same way, and below 0.0001 as ``< 0.0001``;
- a threshold prints as written in the policy or evaluation (``0.05``, ``0.8``);
- a count prints as an integer with thousands separators (``1,234,567,890``).

Every number a pack prints goes through these functions; nothing else formats numbers.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from django.conf import settings

P_VALUE_FLOOR = 0.0001


def digits() -> int:
    return int(getattr(settings, "PACK_SIGNIFICANT_DIGITS", 4))


def _as_number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return float(number) if number.is_finite() else None
    return None


def measured(value) -> str:
    """A measured value with the configured significant digits (integers stay integers)."""
    number = _as_number(value)
    if number is None:
        return "\u2014" if value is None else str(value)
    if isinstance(number, int):
        return count(number)
    if not math.isfinite(number):
        return str(number)
    if number == 0:
        return "0"
    sig = digits()
    magnitude = math.floor(math.log10(abs(number)))
    if magnitude >= sig:  # round to the significant digits, print as a grouped integer
        return f"{int(round(number, sig - 1 - magnitude)):,}"
    if magnitude < -4:
        mant, exp = f"{number:.{sig - 1}e}".split("e")
        mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
        return f"{mant}e{int(exp)}"
    decimals = max(sig - 1 - magnitude, 0)
    text = f"{round(number, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if magnitude >= 3 and "." not in text:
        return f"{int(text):,}"
    return "0" if text in ("-0", "") else text


def p_value(value) -> str:
    number = _as_number(value)
    if number is None:
        return measured(value)
    if 0 <= number < P_VALUE_FLOOR:
        return f"< {P_VALUE_FLOOR:g}"
    return measured(float(number))


def threshold(value) -> str:
    """A threshold exactly as written (decimal strings stay as they are; floats by repr)."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return count(value)
    return str(value)


def count(value) -> str:
    """An integer with thousands separators."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return str(value)
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def is_p_value(name: str | None) -> bool:
    n = (name or "").lower()
    return n.endswith("pvalue") or n.endswith("p_value") or n in ("p", "pvalue")


def metric(name: str | None, value) -> str:
    """A metric value by its name: p-values by the p-value rule, counts (n_*, *_count, *_features)
    as counts, everything else as measured."""
    n = (name or "").lower()
    if is_p_value(n):
        return p_value(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return count(value)
    return measured(value)
