"""Sizing of the hypothesis property tests (marker ``property``, added to every ``@given`` test by
tests/conftest.py): in full under CI=true, a tenth of the examples (at least 5) on a developer
machine, so ``make test`` stays quick. ``HYPOTHESIS_FULL=1`` runs them in full locally."""

from __future__ import annotations

import os

FULL = os.environ.get("CI", "").lower() == "true" or os.environ.get("HYPOTHESIS_FULL") == "1"


def examples(full: int) -> int:
    """``max_examples`` for a property: ``full`` in CI, a tenth of it (at least 5) locally."""
    return full if FULL else max(5, full // 10)
