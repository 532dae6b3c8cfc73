"""docs/permissions.md is the permission matrices as the tests enforce them (issue 10)."""

from __future__ import annotations

from pathlib import Path

from tests.security.permission_docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_permissions_page_is_the_matrix():
    assert DOC.read_text() == render(), (
        "docs/permissions.md differs from the permission matrices: regenerate it with "
        "`.venv/bin/python -m tests.security.permission_docs docs/permissions.md`"
    )
