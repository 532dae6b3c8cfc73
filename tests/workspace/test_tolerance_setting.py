"""One tolerance for reported vs computed: EVALUATION_DISCREPANCY_TOLERANCE; EVIDENCE_DISCREPANCY_TOLERANCE
(the packs' former name) is a deprecated alias that warns at startup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = "from django.conf import settings; print('TOLERANCE', settings.EVALUATION_DISCREPANCY_TOLERANCE)"


def _manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EVALUATION_DISCREPANCY_TOLERANCE", "EVIDENCE_DISCREPANCY_TOLERANCE", "DATABASE_URL")
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_default_and_the_one_name():
    default = _manage("shell", "-c", PRINT)
    assert "TOLERANCE 0.02" in default.stdout, default.stderr
    assert "governance.W001" not in default.stdout + default.stderr
    named = _manage("shell", "-c", PRINT, EVALUATION_DISCREPANCY_TOLERANCE="0.05")
    assert "TOLERANCE 0.05" in named.stdout, named.stderr


def test_deprecated_alias_is_read_and_warned_about_at_startup():
    result = _manage("check", EVIDENCE_DISCREPANCY_TOLERANCE="0.07")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "governance.W001" in output
    assert "EVIDENCE_DISCREPANCY_TOLERANCE is deprecated; set EVALUATION_DISCREPANCY_TOLERANCE instead" in output
    value = _manage("shell", "-c", PRINT, EVIDENCE_DISCREPANCY_TOLERANCE="0.07")
    assert "TOLERANCE 0.07" in value.stdout, value.stderr
    assert "EVIDENCE_DISCREPANCY_TOLERANCE is deprecated" in value.stderr + value.stdout  # logged in every process


def test_both_names_with_different_values_stop_startup():
    result = _manage("check", EVALUATION_DISCREPANCY_TOLERANCE="0.02", EVIDENCE_DISCREPANCY_TOLERANCE="0.1")
    assert result.returncode != 0
    assert "keep only EVALUATION_DISCREPANCY_TOLERANCE" in result.stderr


def test_a_tolerance_that_is_not_a_number_stops_startup():
    result = _manage("check", EVALUATION_DISCREPANCY_TOLERANCE="two percent")
    assert result.returncode != 0 and "EVALUATION_DISCREPANCY_TOLERANCE must be a number" in result.stderr
    negative = _manage("check", EVALUATION_DISCREPANCY_TOLERANCE="-0.1")
    assert negative.returncode != 0 and "finite number >= 0" in negative.stderr
