"""A real Celery worker on a real Redis broker delivers a webhook after the decision committed; the
decision's HTTP response does not wait for the (slow) receiver."""

from __future__ import annotations

import time

import pytest

from governance.integrations.webhooks import services
from governance.integrations.webhooks.models import WebhookDelivery
from tests.conftest import make_api_client
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_the_commit(celery_workers, receiver):
    worker = celery_workers.start(
        WEBHOOKS_ALLOWED_PRIVATE_HOSTS="127.0.0.0/8", WEBHOOKS_ALLOW_HTTP="true", WEBHOOKS_TIMEOUT="10"
    )
    officer, developer = person("risk_officer"), person("developer")
    _, secret = services.subscription_create(
        by=as_user(officer), url=receiver.url, events=["promotion_request.created"]
    )
    version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer), user=developer
    )
    wf.good_evidence(version)
    receiver.default = (200, 6.0)  # a slow receiver
    started = time.monotonic()
    response = make_api_client(developer).post(
        "/api/v1/promotions/",
        {"model_version": version.pk, "target_stage": "staging", "reason": "Ready."},
        format="json",
    )
    answered = time.monotonic() - started
    assert response.status_code == 201, response.json()
    assert answered < 6.0, "the decision's response did not wait for the receiver"

    receiver.wait_for(1, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and WebhookDelivery.objects.get().status != "succeeded":
        time.sleep(0.2)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded", (delivery.last_error, worker.tail())
    assert delivery.last_latency_ms >= 6000
    (body,) = receiver.verified(secret)
    assert body["data"]["promotion_request"]["id"] == response.json()["id"]
    assert body["audit"]["action"] == "promotion_request.create"
