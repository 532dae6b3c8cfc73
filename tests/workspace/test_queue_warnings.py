"""Issue 12: warnings travel with the evidence, onto the queue's chips and the request page's checklist."""

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_event_append
from governance.evaluations.models import Evaluation
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN_ACTOR

pytestmark = pytest.mark.django_db

SMALL = {"code": "small_group", "group": {"age": "75+"}, "rows": 12, "message": "group age=75+ has 12 rows (< 30)"}


def _warned_evidence(version) -> list[Evaluation]:
    """Passing evidence whose fairness evaluation carries a small-group warning (as the service records it)."""
    perf = wf.evaluation(version, kind="performance")
    drift = wf.evaluation(version, kind="drift")
    now = timezone.now()
    with transaction.atomic():
        fair = Evaluation.objects.create(
            model_version=version,
            kind="fairness",
            dataset="holdout-2026-10",
            source="computed",
            status="done",
            metrics=dict(wf.GOOD["fairness"]),
            warnings=[SMALL],
            created_by=version.registered_by,
            created_at=now,
            finished_at=now,
        )
        audit_event_append(
            actor=ADMIN_ACTOR, action="evaluation.create", target={"type": "evaluation", "id": str(fair.pk)}
        )
    return [perf, fair, drift]


def _queue(client, user, tab="open"):
    client.force_login(user)
    return client.get(reverse("admin:workflow_promotionrequest_changelist") + f"?tab={tab}").content.decode()


def test_the_queue_chip_of_a_warned_evaluation_shows_the_warning(version, developer, risk_officer, client):
    _warned_evidence(version)
    req = wf.request(version, developer, "staging")
    page = _queue(client, risk_officer)
    assert f"#{req.pk}" in page
    assert "has-warning" in page and "⚠ 1 warning" in page
    assert "⚠ group age=75+ has 12 rows (&lt; 30)" in page  # the chip's title names it
    # only the fairness chips carry it: the performance chip stays plain
    chips = [c for c in page.split('<span class="chip ') if c.startswith("pass")]
    warned = [c for c in chips if "has-warning" in c]
    assert warned and all("fairness" in c for c in warned)
    assert any("auc" in c and "has-warning" not in c for c in chips)


def test_no_warning_no_mark(version, developer, risk_officer, client):
    wf.good_evidence(version)
    wf.request(version, developer, "staging")
    page = _queue(client, risk_officer)
    assert "has-warning" not in page and "⚠" not in page


def test_request_page_checklist_shows_the_warning_beside_its_row(version, developer, risk_officer, client):
    _warned_evidence(version)
    req = wf.request(version, developer, "staging")
    client.force_login(risk_officer)
    page = client.get(reverse("admin:workflow_promotionrequest_change", args=[req.pk])).content.decode()
    checklist = page.split("Gate checklist", 1)[1].split("</table>", 1)[0]
    assert "⚠ group age=75+ has 12 rows (&lt; 30)" in checklist


def test_queue_is_paged_with_counts_over_every_row(model, version, developer, risk_officer, client, monkeypatch):
    from governance.workflow import admin as workflow_admin
    from tests.factories.registry import model_version

    monkeypatch.setattr(workflow_admin, "QUEUE_PAGE_SIZE", 1)
    second = model_version(model=model, user=developer)
    requests = []
    for v in (version, second):
        wf.good_evidence(v)
        requests.append(wf.request(v, developer, "staging"))
    page = _queue(client, risk_officer)
    assert '<span class="count">2</span>' in page  # the tab counts every request
    assert "page 1 of 2 (2 requests)" in page and f"#{requests[0].pk}<" in page and f"#{requests[1].pk}<" not in page
    client.force_login(risk_officer)
    second_page = client.get(reverse("admin:workflow_promotionrequest_changelist") + "?tab=open&page=2")
    assert f"#{requests[1].pk}<" in second_page.content.decode()
