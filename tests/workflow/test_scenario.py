"""The demo model walked from development to production by the right people, then the audit chain."""

import json

import pytest
from django.core.management.base import BaseCommand

from audit.models import AuditEvent
from audit.verification import verify_database
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.common.management.commands import seed_demo
from governance.registry.models import ModelVersion
from governance.workflow import demo
from governance.workflow.models import PromotionRequest
from tests.factories import workflow as wf

pytestmark = pytest.mark.django_db

WORKFLOW_ACTIONS = ("promotion_request.", "model_version.stage_change", "evaluation.create")


@pytest.fixture
def demo_base(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    command, actor = BaseCommand(), Principal.for_command("seed_demo")
    seed_demo.seed_people(command, actor)
    seed_demo.seed_model(command, actor)
    return command, actor


def test_walk_the_demo_model_to_production(demo_base, api_for):
    people = {u.username: u for u in User.objects.all()}
    dana, victor, rita = people["dana.developer"], people["victor.validator"], people["rita.risk"]
    v1 = ModelVersion.objects.get(model__name=seed_demo.MODEL_NAME, version="1.0.0")
    start = AuditEvent.objects.order_by("-seq").first().seq
    wf.good_evidence(v1)
    sign = {"password": seed_demo.DEMO_PASSWORD}
    dana_api, victor_api, rita_api = api_for(dana), api_for(victor), api_for(rita)

    staging = dana_api.post(
        "/api/v1/promotions/",
        {"model_version": v1.pk, "target_stage": "staging", "reason": "Scorecard 1.0.0 ready for shadow scoring."},
        format="json",
    ).json()
    assert (
        rita_api.post(
            f"/api/v1/promotions/{staging['id']}/approve/",
            {"justification": "fine", "password": "wrong"},
            format="json",
        ).status_code
        == 403
    )
    done = victor_api.post(
        f"/api/v1/promotions/{staging['id']}/approve/",
        {"justification": "Hold-out AUC 0.81, DPD 0.04.", **sign},
        format="json",
    ).json()
    assert done["status"] == "promoted"
    prod = dana_api.post(
        "/api/v1/promotions/",
        {"model_version": v1.pk, "target_stage": "production", "reason": "Shadow run complete."},
        format="json",
    ).json()
    assert (
        dana_api.post(
            f"/api/v1/promotions/{prod['id']}/approve/", {"justification": "mine", **sign}, format="json"
        ).status_code
        == 403
    )
    assert (
        victor_api.post(
            f"/api/v1/promotions/{prod['id']}/approve/",
            {"justification": "Validation report VR-2026-014.", **sign},
            format="json",
        ).json()["status"]
        == "pending"
    )
    final = rita_api.post(
        f"/api/v1/promotions/{prod['id']}/approve/", {"justification": "Risk acceptance RA-88.", **sign}, format="json"
    ).json()
    assert final["status"] == "promoted"
    v1.refresh_from_db()
    assert v1.stage == "production"

    trail = [
        (e.action, e.object_id, e.actor_username)
        for e in AuditEvent.objects.filter(seq__gt=start).order_by("seq")
        if e.action.startswith(WORKFLOW_ACTIONS)
    ]
    steps = [(a, u) for a, _, u in trail if not a.startswith("evaluation.")]
    assert steps == [
        ("promotion_request.create", "dana.developer"),
        ("promotion_request.approve.denied", "rita.risk"),
        ("promotion_request.approve", "victor.validator"),
        ("model_version.stage_change", "victor.validator"),
        ("promotion_request.promote", "victor.validator"),
        ("promotion_request.create", "dana.developer"),
        ("promotion_request.approve.denied", "dana.developer"),
        ("promotion_request.approve", "victor.validator"),
        ("promotion_request.approve", "rita.risk"),
        ("model_version.stage_change", "rita.risk"),
        ("promotion_request.promote", "rita.risk"),
    ]
    seqs = [e.seq for e in AuditEvent.objects.order_by("seq")]
    assert seqs == list(range(len(seqs)))
    promote = json.loads(bytes(AuditEvent.objects.filter(action="promotion_request.promote").last().record))
    assert {a["username"] for a in promote["data"]["approvals"]} == {"victor.validator", "rita.risk"}
    assert verify_database().ok


def test_demo_seed_is_idempotent_and_fills_the_queue(demo_base):
    command, actor = demo_base
    demo.seed(command, actor)
    count = AuditEvent.objects.count()
    demo.seed(command, actor)
    assert AuditEvent.objects.count() == count
    versions = {v.version: v for v in ModelVersion.objects.filter(model__name=seed_demo.MODEL_NAME)}
    assert versions["1.0.0"].stage == "production"
    signers = set(
        PromotionRequest.objects.get(model_version=versions["1.0.0"], target_stage="production").approvals.values_list(
            "approver__username", flat=True
        )
    )
    assert signers == {"victor.validator", "rita.risk"}
    open_req = PromotionRequest.objects.get(model_version=versions["1.1.0"])
    assert open_req.status == "pending" and open_req.target_stage == "staging"
    assert verify_database().ok
