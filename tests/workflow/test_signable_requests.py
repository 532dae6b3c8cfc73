"""``selectors.signable_requests`` (the queue's and the dashboard's "awaiting my signature", counted and paged
in SQL) agrees with ``signing.signing_refusal`` (what the signing service enforces), request by request."""

from __future__ import annotations

import pytest

from governance.workflow import committees, selectors, signing
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person, service_account

pytestmark = pytest.mark.django_db


def _python(user) -> set[int]:
    return {r.pk for r in selectors.open_requests() if signing.signer_refusal(user, r) is None}


def _sql(user) -> set[int]:
    return set(selectors.signable_requests(user).values_list("pk", flat=True))


def test_sql_and_the_signing_rule_agree(developer, validator, risk_officer):
    other_validator, other_dev = person("validator", "developer"), person("developer")
    inactive = person("validator")
    inactive.is_active = False
    # a tier-3 model (validators or risk officers sign) and a high-risk one with a committee for staging
    low = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    high = registry_factories.registered_model(owner=developer, risk_tier="tier_1", eu_ai_act_category="high")
    committees.committee_create(
        by=as_user(risk_officer),
        name="High-risk staging board",
        scope="high",
        target_stage="staging",
        quorum=2,
        members=[{"user": validator, "role": "validator"}, {"user": risk_officer, "role": "risk_officer"}],
    )
    requests = []
    for model, requester in ((low, developer), (low, other_dev), (high, developer), (high, other_dev)):
        v = registry_factories.model_version(model=model, user=developer)
        wf.good_evidence(v)
        requests.append(wf.request(v, requester, "staging"))
    # registered by the validator: they may not sign it
    own = registry_factories.model_version(model=low, user=other_validator)
    wf.good_evidence(own)
    requests.append(wf.request(own, developer, "staging"))
    # the committee request signed once by the validator (needs the risk officer too: stays open)
    wf.approve(requests[2], validator)
    # one recusal: the risk officer steps back from the other committee request
    committees.promotion_request_recuse(by=as_user(risk_officer), request=requests[3], reason="I advised the team.")

    for user in (developer, other_dev, validator, other_validator, risk_officer, inactive, service_account(), None):
        assert _sql(user) == _python(user), getattr(user, "username", user)
    assert requests[2].pk not in _sql(validator)  # signed already
    assert requests[2].pk in _sql(risk_officer)  # a member, not yet signed
    assert requests[3].pk not in _sql(risk_officer)  # recused
    assert requests[4].pk not in _sql(other_validator) and requests[4].pk in _sql(validator)
    assert not _sql(other_validator) & {requests[2].pk, requests[3].pk}  # not on the committee


def test_the_dashboard_and_the_queue_count_what_the_rule_allows(client, developer, validator):
    low = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    for _ in range(3):
        v = registry_factories.model_version(model=low, user=developer)
        wf.good_evidence(v)
        wf.request(v, developer, "staging")
    client.force_login(validator)
    dashboard = client.get("/admin/").content.decode()
    card = dashboard.split('id="dash-awaiting"', 1)[1].split("</h2>", 1)[0]
    assert '<span class="count-badge">3</span>' in card
    queue = client.get("/admin/workflow/promotionrequest/").content.decode()
    assert 'Awaiting my signature<span class="count">3</span>' in queue


def test_a_signature_past_its_window_puts_the_request_back_in_the_signers_queue(
    version, developer, validator, risk_officer, monkeypatch
):
    import datetime as dt

    from django.utils import timezone

    from governance.workflow import services
    from governance.workflow.models import Policy

    policy = Policy.objects.get(scope="high", target_stage="staging", is_rollback=False, is_current=True)
    services.policy_revise(
        by=as_user(risk_officer),
        policy=policy,
        data={"approvals_required": 2, "approval_validity_days": 30, "request_window_days": 90},
        reason="Signatures older than 30 days are renewed.",
    )
    start = timezone.now()
    wf.good_evidence(version)
    req = wf.request(version, developer)
    wf.approve(req, validator)
    assert req.pk not in _sql(validator) and req.pk not in _python(validator)  # signed, within the window
    monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(days=31))
    assert req.pk in _python(validator)  # the signing rule lets them renew it
    assert _sql(validator) == _python(validator)
