"""Electronic signatures by step-up re-authentication at the real provider."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pdfplumber
import pytest
from django.urls import reverse

from audit.models import AuditEvent
from governance.accounts.models import User
from governance.common.errors import PermissionRefused
from governance.reports.outlines import load_outline
from governance.reports.render.assembly import render_pack_pdf
from governance.reports.snapshot import build_pack
from governance.workflow.models import Approval
from tests.factories import workflow as wf
from tests.sso.conftest import SUBJECTS, OpAgent, query, rp_path, sso_sign_in

pytestmark = pytest.mark.django_db


def records(action: str) -> list[dict]:
    return [json.loads(bytes(e.record)) for e in AuditEvent.objects.filter(action=action).order_by("seq")]


@pytest.fixture
def staging_request(version, developer):
    wf.good_evidence(version)
    return wf.request(version, developer, "staging")


def page(req) -> str:
    return reverse("admin:workflow_promotionrequest_change", args=[req.pk])


def start_signing(rp, req, decision="approve", justification="Evidence reviewed; within thresholds."):
    response = rp.post(page(req), {"decision": decision, "justification": justification})
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def signed_in(rp, username: str) -> OpAgent:
    agent = OpAgent()
    assert sso_sign_in(rp, agent, username).status_code == 302
    time.sleep(1.1)  # auth_time has one-second resolution: signing starts strictly after the sign-in
    return agent


def test_sso_user_signs_by_re_authenticating(sso, rp, staging_request, tmp_path):
    agent = signed_in(rp, "victor")
    form = rp.get(page(staging_request))
    assert b"sign in again at Test IdP" in form.content and b'name="password"' not in form.content
    to_provider = start_signing(rp, staging_request)
    params = query(to_provider)
    assert to_provider.startswith(f"{sso.issuer}/auth?")
    assert params["prompt"] == "login" and params["max_age"] == "0" and params["code_challenge_method"] == "S256"
    asked = agent.asked
    callback = agent.authorize(to_provider, "victor")
    assert agent.asked == asked + 1  # the provider asked for the password again despite its session
    back = rp.get(rp_path(callback))
    assert back.status_code == 302 and back["Location"] == page(staging_request)
    approval = Approval.objects.get(request=staging_request)
    evidence = approval.reauthentication
    assert evidence["method"] == "oidc_step_up"
    assert evidence["provider"] == sso.issuer and evidence["subject"] == SUBJECTS["victor"]
    assert evidence["auth_time"] >= evidence["step_up_started_at"]
    staging_request.refresh_from_db()
    assert staging_request.status == "promoted"
    # The transition's signer snapshot (read by documentation packs) and its audit event carry it too.
    assert staging_request.transitions.get().approvers[0]["reauthentication"] == evidence
    assert records("promotion_request.promote")[-1]["data"]["approvals"][0]["reauthentication"] == evidence
    event = records("promotion_request.approve")[-1]
    assert event["data"]["reauthentication"] == evidence
    assert event["actor"]["username"] == "victor" and event["actor"]["auth"] == "oidc"
    shown = rp.get(page(staging_request)).content.decode()
    assert f"re-authenticated at {sso.issuer} at {evidence['auth_time']}" in shown
    # An auditor sees it in the documentation pack's approval chain (the document and the printed PDF).
    pack, _, _ = build_pack(staging_request.model_version, "sr11-7")
    assert [a["reauthentication"] for a in pack["approvals"]] == [evidence]
    pdf = tmp_path / "pack.pdf"
    render_pack_pdf(pack, load_outline("sr11-7"), pdf)
    with pdfplumber.open(pdf) as document:
        printed = " ".join((p.extract_text() or "") for p in document.pages).replace("\n", " ")
    assert "step-up sign-in" in printed and SUBJECTS["victor"] in printed and "auth_time" in printed
    # The same answer cannot sign twice: its state was used.
    replay = rp.get(rp_path(callback))
    assert replay.status_code == 400 and b"Nothing was signed" in replay.content
    assert Approval.objects.filter(request=staging_request).count() == 1


def test_stale_re_authentication_is_refused_and_audited(sso, rp, staging_request):
    agent = signed_in(rp, "victor")
    to_provider = start_signing(rp, staging_request)
    # A provider (or a tampered request) that ignores prompt=login / max_age=0 answers from its
    # existing session: auth_time is the earlier sign-in, before signing started.
    params = {k: v for k, v in query(to_provider).items() if k not in ("prompt", "max_age")}
    callback = agent.authorize(f"{sso.issuer}/auth?{urlencode(params)}")
    back = rp.get(rp_path(callback))
    assert back.status_code == 302
    assert not Approval.objects.filter(request=staging_request).exists()
    denied = records("promotion_request.approve.denied")[-1]
    assert "stale re-authentication" in denied["data"]["reason"]
    assert denied["data"]["reauthentication"]["subject"] == SUBJECTS["victor"]
    assert denied["data"]["reauthentication"]["auth_time"] < denied["data"]["reauthentication"]["step_up_started_at"]
    message = rp.get(back["Location"]).content.decode()
    assert "Refused (recorded in the audit log): stale re-authentication" in message


def test_re_authentication_as_someone_else_is_refused(sso, rp, staging_request):
    agent = signed_in(rp, "victor")
    callback = agent.authorize(start_signing(rp, staging_request), "rita")  # another person at the keyboard
    rp.get(rp_path(callback))
    assert not Approval.objects.filter(request=staging_request).exists()
    denied = records("promotion_request.approve.denied")[-1]
    assert "for another person" in denied["data"]["reason"]
    assert denied["data"]["reauthentication"]["subject"] == SUBJECTS["rita"]
    assert denied["actor"]["username"] == "victor"


def test_cancelled_re_authentication_is_refused(sso, rp, staging_request):
    agent = signed_in(rp, "victor")
    to_provider = start_signing(rp, staging_request, decision="reject", justification="Not convinced.")
    login_page = agent.http.get(to_provider, timeout=10)
    uid = login_page.url.rsplit("/", 1)[1]
    cancelled = agent.http.post(f"{sso.issuer}/interaction/{uid}/abort", allow_redirects=False, timeout=10)
    callback = agent.authorize(cancelled.headers["location"])
    rp.get(rp_path(callback))
    staging_request.refresh_from_db()
    assert staging_request.status != "rejected"
    denied = records("promotion_request.reject.denied")[-1]
    assert "access_denied" in denied["data"]["reason"]


def test_sso_user_cannot_sign_with_a_password(sso, rp, staging_request):
    signed_in(rp, "victor")
    victor = User.objects.get(username="victor")
    with pytest.raises(PermissionRefused, match="re-authenticating there"):
        wf.approve(staging_request, victor, password="anything")
    assert "step-up" in records("promotion_request.approve.denied")[-1]["data"]["reason"]


def test_local_signers_keep_their_password(sso, staging_request, validator):
    wf.approve(staging_request, validator)
    assert Approval.objects.get(request=staging_request).reauthentication == {"method": "password"}
    assert records("promotion_request.approve")[-1]["data"]["reauthentication"] == {"method": "password"}


def test_step_up_when_the_provider_is_down(sso, settings, rp, staging_request):
    from governance.accounts.oidc import reset_caches

    signed_in(rp, "victor")
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    reset_caches()
    back = rp.post(page(staging_request), {"decision": "approve", "justification": "ok"})
    assert back.status_code == 302 and back["Location"] == page(staging_request)
    assert "did not answer" in rp.get(page(staging_request)).content.decode()
    assert not Approval.objects.filter(request=staging_request).exists()
