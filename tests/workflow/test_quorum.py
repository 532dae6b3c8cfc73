"""Quorum with recusal, and expiring approvals (issue 17.3): a committee of M signs N approvals with a
minimum per role; a recusal lowers M for one request; a signature older than the policy's window must be
renewed before promotion (time travel on a fixed clock, not sleeps)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.common.errors import Conflict, IllegalTransition, PermissionRefused, ValidationFailed
from governance.workflow import committees, services
from governance.workflow.models import Committee, CommitteeMember, Policy, Recusal
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person
from tests.workflow.conftest import events, last_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(risk_officer):
    """Three validators and a risk officer sign EU high-risk models to staging: 3 of 4, with at least
    two validators and one risk officer."""
    members = {"v1": person("validator"), "v2": person("validator"), "v3": person("validator"), "r1": risk_officer}
    committee = committees.committee_create(
        by=as_user(risk_officer),
        name="Model risk committee",
        scope="high",
        target_stage="staging",
        quorum=3,
        role_minimums={"validator": 2, "risk_officer": 1},
        members=[{"user": u, "role": "risk_officer" if k == "r1" else "validator"} for k, u in members.items()],
    )
    return committee, members


def _denied(action: str) -> dict:
    return last_event(f"{action}.denied").record_json["data"]


def test_a_committee_request_needs_its_quorum_and_role_minimums(board, version, developer):
    committee, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    assert req.committee == committee and len(req.committee_snapshot["members"]) == 4
    out = services.approvals_outstanding(req)
    assert out["required"] == 3 and out["committee"]["members"] == 4 and out["committee"]["eligible"] == 4
    req = wf.approve(req, m["v1"])
    req = wf.approve(req, m["v2"])
    assert req.status == "pending"
    out = services.approvals_outstanding(req)
    assert out["approvals"] == 1 and out["roles"] == ["risk_officer"]
    req = wf.approve(req, m["r1"])
    assert req.status == "promoted"


def test_a_recusal_changes_the_quorum_arithmetic(board, version, developer):
    committee, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    recusal = committees.promotion_request_recuse(
        by=as_user(m["v3"]), request=req, reason="I co-developed the scorecard's feature pipeline."
    )
    assert recusal.role == "validator"
    state = services.approvals_outstanding(req)["committee"]
    assert (state["members"], state["recused"], state["eligible"], state["quorum"]) == (4, 1, 3, 3)
    assert state["reachable"] is True
    event = last_event("promotion_request.recuse")
    assert event.record_json["data"]["member"] == m["v3"].username
    assert event.record_json["reason"] == "I co-developed the scorecard's feature pipeline."
    # the recused member can no longer sign
    with pytest.raises(PermissionRefused, match="recused"):
        wf.approve(req, m["v3"])
    # a second recusal leaves 2 eligible for a quorum of 3: unreachable, shown as such
    committees.promotion_request_recuse(by=as_user(m["v2"]), request=req, reason="My spouse owns the model.")
    state = services.approvals_outstanding(req)["committee"]
    assert (state["eligible"], state["reachable"]) == (2, False)


def test_recusals_replay_from_the_audit_log(board, version, developer):
    from audit.state import verify_state

    _, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    committees.promotion_request_recuse(by=as_user(m["v3"]), request=req, reason="Conflict: I built it.")
    result = verify_state()
    assert result.ok, result.message


def test_recusal_bad_paths_are_refused_audited_and_write_nothing(board, version, developer, validator):
    _, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with pytest.raises(PermissionRefused, match="not a member"):
        committees.promotion_request_recuse(by=as_user(validator), request=req, reason="conflict")
    assert _denied("promotion_request.recuse")["field"] == "committee"
    with pytest.raises(ValidationFailed) as exc:
        committees.promotion_request_recuse(by=as_user(m["v1"]), request=req, reason="  ")
    assert exc.value.field == "reason"
    wf.approve(req, m["v1"])
    with pytest.raises(Conflict, match="recusal after signing is refused"):
        committees.promotion_request_recuse(by=as_user(m["v1"]), request=req, reason="late conflict")
    assert "recusal after signing" in _denied("promotion_request.recuse")["reason"]
    committees.promotion_request_recuse(by=as_user(m["v2"]), request=req, reason="conflict")
    with pytest.raises(Conflict, match="already recused"):
        committees.promotion_request_recuse(by=as_user(m["v2"]), request=req, reason="again")
    assert Recusal.objects.count() == 1
    assert len(events("promotion_request.recuse")) == 1
    # a non-member is also refused signing
    with pytest.raises(PermissionRefused, match="not a member"):
        wf.approve(req, validator)


def test_a_seat_does_not_lift_separation_of_duties(risk_officer, model, developer):
    """A committee member who registered the version (or requested the promotion) still cannot sign it."""
    from tests.factories import registry as registry_factories

    builder = person("validator", "developer")
    others = [person("validator"), person("validator")]
    committees.committee_create(
        by=as_user(risk_officer),
        name="Builders' committee",
        scope="high",
        target_stage="staging",
        quorum=2,
        members=[{"user": u, "role": "validator"} for u in (builder, *others)],
    )
    version = registry_factories.model_version(model=model, user=builder)
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with pytest.raises(PermissionRefused, match="you registered this version"):
        wf.approve(req, builder)
    wf.approve(req, others[0])
    assert wf.approve(req, others[1]).status == "promoted"


def test_a_closed_request_takes_no_recusal(board, version, developer):
    _, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    services.promotion_request_withdraw(by=as_user(developer), request=req, reason="not yet")
    with pytest.raises(IllegalTransition):
        committees.promotion_request_recuse(by=as_user(m["v1"]), request=req, reason="conflict")


def test_a_quorum_larger_than_its_committee_is_refused(risk_officer, validator):
    with pytest.raises(ValidationFailed) as exc:
        committees.committee_create(
            by=as_user(risk_officer),
            name="Too small",
            scope="tier_1",
            target_stage="production",
            quorum=3,
            members=[{"user": validator, "role": "validator"}, {"user": risk_officer, "role": "risk_officer"}],
        )
    assert exc.value.field == "quorum" and "committee of 2 members" in exc.value.message
    assert _denied("committee.create")["field"] == "quorum"
    with pytest.raises(ValidationFailed) as exc:
        committees.committee_create(
            by=as_user(risk_officer),
            name="Two validators wanted",
            scope="tier_1",
            target_stage="production",
            quorum=2,
            role_minimums={"validator": 2},
            members=[{"user": validator, "role": "validator"}, {"user": risk_officer, "role": "risk_officer"}],
        )
    assert exc.value.field == "role_minimums.validator"
    with pytest.raises(ValidationFailed) as exc:  # a seat in a role its holder does not have
        committees.committee_create(
            by=as_user(risk_officer),
            name="Wrong role",
            scope="tier_1",
            target_stage="production",
            quorum=1,
            members=[{"user": validator, "role": "risk_officer"}],
        )
    assert exc.value.field == "members[0].role"
    assert not Committee.objects.exists() and not CommitteeMember.objects.exists()


def test_only_risk_officers_set_up_committees_and_revisions_are_audited(board, validator, risk_officer):
    committee, m = board
    with pytest.raises(PermissionRefused):
        committees.committee_create(
            by=as_user(validator),
            name="Mine",
            scope="tier_2",
            target_stage="staging",
            quorum=1,
            members=[{"user": validator, "role": "validator"}],
        )
    with pytest.raises(ValidationFailed) as exc:  # removing members below the quorum
        committees.committee_revise(
            by=as_user(risk_officer),
            committee=committee,
            reason="v3 leaves",
            members=[{"user": m["v1"], "role": "validator"}, {"user": m["r1"], "role": "risk_officer"}],
        )
    assert exc.value.field == "quorum"
    committees.committee_revise(
        by=as_user(risk_officer),
        committee=committee,
        reason="v3 leaves the committee",
        members=[
            {"user": m["v1"], "role": "validator"},
            {"user": m["v2"], "role": "validator"},
            {"user": m["r1"], "role": "risk_officer"},
        ],
    )
    seats = CommitteeMember.objects.filter(committee=committee)
    assert seats.count() == 4 and seats.filter(removed_at__isnull=False).get().user == m["v3"]
    data = last_event("committee.revise").record_json["data"]
    assert len(data["before"]["members"]) == 4 and len(data["after"]["members"]) == 3


def test_a_tier_committee_signs_a_high_risk_model_without_a_category_committee(version, developer, risk_officer):
    v1, v2 = person("validator"), person("validator")
    tier = committees.committee_create(
        by=as_user(risk_officer),
        name="Tier 1 staging committee",
        scope="tier_1",
        target_stage="staging",
        quorum=2,
        members=[{"user": v1, "role": "validator"}, {"user": v2, "role": "validator"}],
    )
    wf.good_evidence(version)
    req = wf.request(version, developer)  # judged under the "high" policy; the tier's committee signs
    assert req.policy.scope == "high" and req.committee == tier
    assert wf.approve(req, v1).status == "pending"
    assert wf.approve(req, v2).status == "promoted"


def test_a_model_committee_wins_over_its_scope(board, version, developer, risk_officer):
    _, m = board
    own = committees.committee_create(
        by=as_user(risk_officer),
        name="Scorecard panel",
        model=version.model,
        target_stage="staging",
        quorum=1,
        members=[{"user": m["v1"], "role": "validator"}],
    )
    wf.good_evidence(version)
    req = wf.request(version, developer)
    assert req.committee == own
    assert wf.approve(req, m["v1"]).status == "promoted"


# --- expiring approvals -----------------------------------------------------------------------------------------


@pytest.fixture
def travel(monkeypatch):
    """Move the service clock (``django.utils.timezone.now``) to a fixed instant."""

    def to(moment: dt.datetime) -> dt.datetime:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return to


def _two_signatures_valid_30_days(risk_officer):
    policy = Policy.objects.get(scope="high", target_stage="staging", is_rollback=False, is_current=True)
    return services.policy_revise(
        by=as_user(risk_officer),
        policy=policy,
        data={"approvals_required": 2, "approval_validity_days": 30, "request_window_days": 90},
        reason="Signatures older than 30 days are renewed.",
    )


def test_a_stale_signature_must_be_renewed_before_promotion(version, developer, validator, risk_officer, travel):
    _two_signatures_valid_30_days(risk_officer)
    start = timezone.now()
    wf.good_evidence(version)
    req = wf.request(version, developer)
    first = wf.approve(req, validator).approvals.get()
    travel(start + dt.timedelta(days=31))
    out = services.approvals_outstanding(req)
    assert out["given"] == 0 and out["stale"][0]["approval_id"] == first.pk
    with pytest.raises(Conflict) as exc:
        wf.approve(req, risk_officer)
    assert exc.value.field == "approvals"
    assert f"approval #{first.pk} by {validator.username}" in exc.value.message
    assert "30-day approval window" in exc.value.message
    denied = _denied("promotion_request.approve")
    assert f"approval #{first.pk}" in denied["reason"]
    req.refresh_from_db()
    assert req.status == "pending" and req.approvals.count() == 1  # nothing half-written
    # the validator renews: the old signature is kept, invalidated as renewed
    req = wf.approve(req, validator)
    first.refresh_from_db()
    assert first.invalidated_at is not None and first.invalidated_reason.startswith("renewed")
    assert last_event("promotion_request.approve").record_json["data"]["renewed_approval"] == first.pk
    req = wf.approve(req, risk_officer)
    assert req.status == "promoted"


def test_a_signature_within_the_window_counts(version, developer, validator, risk_officer, travel):
    _two_signatures_valid_30_days(risk_officer)
    start = timezone.now()
    wf.good_evidence(version)
    req = wf.request(version, developer)
    wf.approve(req, validator)
    travel(start + dt.timedelta(days=29))
    with pytest.raises(Conflict, match="already signed"):
        wf.approve(req, validator)  # not stale: no renewal
    assert wf.approve(req, risk_officer).status == "promoted"


def test_approval_validity_must_be_a_positive_number_of_days(risk_officer):
    policy = Policy.objects.get(scope="high", target_stage="staging", is_rollback=False, is_current=True)
    with pytest.raises(ValidationFailed) as exc:
        services.policy_revise(by=as_user(risk_officer), policy=policy, data={"approval_validity_days": 0})
    assert exc.value.field == "approval_validity_days"


# --- API --------------------------------------------------------------------------------------------------------


def test_committees_and_recusals_over_the_api(api_for, version, developer, risk_officer, validator, auditor):
    v2, v3 = person("validator"), person("validator")
    officer = api_for(risk_officer)
    body = {
        "name": "Retail credit committee",
        "scope": "high",
        "target_stage": "staging",
        "quorum": 4,
        "members": [{"user": u.username, "role": "validator"} for u in (validator, v2, v3)],
    }
    response = officer.post("/api/v1/committees/", body, format="json")
    assert response.status_code == 400 and "quorum" in response.json()["error"]["fields"], response.json()
    body["quorum"] = 2
    response = officer.post("/api/v1/committees/", body, format="json", HTTP_IDEMPOTENCY_KEY="committee-1")
    assert response.status_code == 201, response.json()
    again = officer.post("/api/v1/committees/", body, format="json", HTTP_IDEMPOTENCY_KEY="committee-1")
    assert again.status_code == 201 and again.json()["id"] == response.json()["id"]
    assert Committee.objects.count() == 1
    listed = api_for(auditor).get("/api/v1/committees/").json()
    assert listed["results"][0]["quorum"] == 2 and len(listed["results"][0]["members"]) == 3

    wf.good_evidence(version)
    req = wf.request(version, developer)
    response = api_for(v3).post(f"/api/v1/promotions/{req.pk}/recuse/", {"reason": "I built it."}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["recusals"][0]["member"] == v3.username and data["recusals"][0]["reason"] == "I built it."
    assert data["outstanding"]["committee"]["eligible"] == 2 and data["outstanding"]["committee"]["members"] == 3
    assert data["committee"]["name"] == "Retail credit committee"
    response = api_for(auditor).post(f"/api/v1/promotions/{req.pk}/recuse/", {"reason": "x"}, format="json")
    assert response.status_code == 403 and "not a member" in response.json()["error"]["message"]
    wf.approve(req, validator)
    response = api_for(validator).post(f"/api/v1/promotions/{req.pk}/recuse/", {"reason": "late"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["fields"]["committee"]
    response = api_for(v2).post(f"/api/v1/promotions/{req.pk}/recuse/", {"reason": ""}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]


# --- admin ------------------------------------------------------------------------------------------------------


def test_the_request_page_shows_who_recused_and_why(board, version, developer, risk_officer):
    from django.test import Client

    _, m = board
    wf.good_evidence(version)
    req = wf.request(version, developer)
    client = Client()
    client.force_login(m["v2"])
    url = f"/admin/workflow/promotionrequest/{req.pk}/change/"
    assert "Recuse myself" in client.get(url).content.decode()
    response = client.post(url, {"recuse": "1", "recusal_reason": "I reviewed its data pipeline as a developer."})
    assert response.status_code == 302
    other = Client()
    other.force_login(risk_officer)
    html = other.get(url).content.decode()
    assert 'id="committee"' in html and "1 recused" in html and "3 eligible members" in html
    assert "I reviewed its data pipeline as a developer." in html and m["v2"].username in html
    assert "Recuse myself" in html  # the risk officer sits on the committee and has not signed
    assert "Recuse myself" not in client.get(url).content.decode()
    listing = other.get("/admin/workflow/committee/")
    assert listing.status_code == 200 and "Model risk committee" in listing.content.decode()
    assert other.get(f"/admin/workflow/committee/{req.committee_id}/change/").status_code == 200


def test_a_committee_is_created_and_revised_in_the_admin(risk_officer, validator):
    from django.test import Client

    second = person("validator")
    client = Client()
    client.force_login(risk_officer)
    form = {
        "name": "Tier 1 production committee",
        "description": "",
        "scope": "tier_1",
        "model": "",
        "target_stage": "production",
        "quorum": "3",
        "role_minimums": '{"validator": 1}',
        "is_active": "on",
        "members_text": f"{validator.username} validator\n{second.username} validator",
    }
    response = client.post("/admin/workflow/committee/add/", form, follow=True)
    assert "3 approvals cannot come from a committee of 2 members" in response.content.decode()
    assert not Committee.objects.exists()
    form["quorum"] = "2"
    response = client.post("/admin/workflow/committee/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    committee = Committee.objects.get()
    assert committee.quorum == 2 and committee.active_members().count() == 2
    # the description is fixed at creation: the change form shows it read-only rather than dropping an edit
    change_page = client.get(f"/admin/workflow/committee/{committee.pk}/change/").content.decode()
    assert 'name="description"' not in change_page
    form.update(
        {"quorum": "1", "change_reason": "One signature is enough for tier 1.", "description": "edited after creation"}
    )
    response = client.post(f"/admin/workflow/committee/{committee.pk}/change/", form)
    assert response.status_code == 302
    committee.refresh_from_db()
    assert committee.quorum == 1 and last_event("committee.revise").record_json["reason"].startswith("One signature")
    assert committee.description == ""
