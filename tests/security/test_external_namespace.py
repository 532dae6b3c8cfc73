"""Defect 3 of issue 10: pipelines cannot write events in the service's own namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit.models import AuditEvent, AuditHead
from audit.registry import EXTERNAL_NAMESPACE, service_event_types, service_namespaces

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "action",
    [
        "promotion_request.promote",
        "review_flag.resolve",
        "model_version.stage_change",
        "policy.revise",
        "audit.export",
        "api_token.issue",
        "external.promotion_request.promote",
    ],
)
def test_service_namespaces_are_refused_to_pipelines(pipeline, api_for, action):
    client = api_for(pipeline)
    before = AuditHead.objects.get().size
    response = client.post(
        "/api/v1/audit/events", {"events": [{"action": action, "target": {"type": "b", "id": 1}}]}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert "events[0].action" in response.json()["error"]["fields"]
    assert "namespace" in response.json()["error"]["message"]
    assert AuditHead.objects.get().size == before


def test_external_events_are_recorded_in_their_own_namespace(pipeline, api_for):
    response = api_for(pipeline).post(
        "/api/v1/audit/events",
        {
            "events": [
                {"action": "batch.scored", "target": {"type": "batch", "id": 7}},
                {"action": "external.dataset.read", "target": {"type": "dataset", "id": "d1"}},
            ]
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    first = response.json()["first_seq"]
    actions = list(AuditEvent.objects.filter(seq__gte=first).order_by("seq").values_list("action", flat=True))
    assert actions == ["external.batch.scored", "external.dataset.read"]
    assert AuditEvent.objects.get(seq=first).record_json["action"] == "external.batch.scored"


def test_overlong_or_bare_actions_are_refused(pipeline, api_for):
    for action in ("x" * 130 + ".y", "scored"):
        response = api_for(pipeline).post(
            "/api/v1/audit/events", {"events": [{"action": action, "target": {"type": "b", "id": 1}}]}, format="json"
        )
        assert response.status_code == 400, response.json()
        assert "events[0].action" in response.json()["error"]["fields"]


def test_no_service_event_uses_the_external_namespace():
    assert EXTERNAL_NAMESPACE not in service_namespaces()
    assert {"promotion_request", "review_flag", "model_version", "audit", "api_token"} <= service_namespaces()


ACTION_LITERAL = re.compile(r"""\baction\s*=\s*f?"([a-z_]+(?:\.[a-z_{}]+)+)\"""")


def test_every_action_the_code_appends_is_registered():
    """A new action must be registered by its app (AppConfig.ready), or pipelines could claim it."""
    registered = service_event_types()
    missing = []
    for path in [*ROOT.glob("governance/**/*.py"), *ROOT.glob("audit/**/*.py")]:
        for action in ACTION_LITERAL.findall(path.read_text()):
            action = action.removesuffix(".denied")
            if "{" in action:  # f"promotion_request.{decision}": the namespace must be registered
                if action.split(".")[0] not in service_namespaces():
                    missing.append((str(path.relative_to(ROOT)), action))
            elif action not in registered:
                missing.append((str(path.relative_to(ROOT)), action))
    assert not missing, f"register these with audit.registry.register_event_types: {missing}"
