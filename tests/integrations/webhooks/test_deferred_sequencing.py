"""AUDIT_SEQUENCING=deferred (PostgreSQL): a delivery waits for the sequencer to give the decision
its seq, so the receiver still gets the seq it needs for the inclusion proof."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_pending_sequence
from governance.integrations.webhooks import services
from governance.integrations.webhooks.models import WebhookDelivery
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deferred(settings, postgres_only):
    settings.AUDIT_SEQUENCING = "deferred"


def test_the_delivery_waits_for_the_seq_then_carries_it(deferred, receiver, settings):
    officer, developer = person("risk_officer"), person("developer")
    version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer), user=developer
    )
    audit_pending_sequence()
    _, secret = services.subscription_create(
        by=as_user(officer), url=receiver.url, events=["promotion_request.created"]
    )
    req = wf.request(version, developer, "staging")  # commits; the handler and the first try run after it
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["audit"]["seq"] is None and delivery.payload["audit"]["sequencing"] == "deferred"
    assert receiver.received == [] and delivery.attempts == 0, "held back: the event has no seq yet"
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()

    audit_pending_sequence()
    (delivery,) = services.deliveries_attempt_due(now=timezone.now() + dt.timedelta(seconds=3))
    assert delivery.status == "succeeded" and delivery.attempts == 1
    (body,) = receiver.verified(secret)
    event = AuditEvent.objects.get(seq=body["audit"]["seq"])
    assert (event.action, event.object_id) == ("promotion_request.create", str(req.pk))
    assert body["audit"]["entry_url"].endswith(f"start={event.seq}&end={event.seq + 1}")


def test_without_a_sequencer_the_delivery_goes_out_after_the_wait_without_a_seq(deferred, receiver, settings):
    officer, developer = person("risk_officer"), person("developer")
    version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer), user=developer
    )
    _, secret = services.subscription_create(
        by=as_user(officer), url=receiver.url, events=["promotion_request.created"]
    )
    wf.request(version, developer, "staging")
    assert receiver.received == []
    later = timezone.now() + dt.timedelta(seconds=settings.WEBHOOKS_SEQ_WAIT + 1)
    (delivery,) = services.deliveries_attempt_due(now=later)
    assert delivery.status == "succeeded"
    (body,) = receiver.verified(secret)
    assert body["audit"]["seq"] is None and body["audit"]["sequencing"] == "deferred"
