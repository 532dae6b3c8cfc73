"""The OpenAPI schema generates, validates and has no warnings (an enum name collision or an unresolvable
field is a warning; ``--fail-on-warn`` turns it into a failure)."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/committees/" in text and "/api/v1/monitoring/schedules/" in text
    assert "/api/v1/versions/{id}/series/" in text and "/api/v1/post-market-plans/" in text
