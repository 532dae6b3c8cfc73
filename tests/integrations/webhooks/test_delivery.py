"""Deliveries to a real HTTP receiver on loopback: every event once per subscription, signatures that
the standardwebhooks library verifies, the audit seq of the decision, retries after 500s and
timeouts on a clock the test moves, and a subscription disabled after 24 hours of failure."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections import Counter

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from audit.checkpoints import checkpoint_create
from audit.models import AuditEvent
from audit.verifier import hash_leaf, verify_checkpoint, verify_inclusion
from governance.evaluations.services import evaluation_create
from governance.integrations.webhooks import catalogue, services
from governance.integrations.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from governance.workflow import services as workflow
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person

pytestmark = pytest.mark.django_db
EVERYTHING = list(catalogue.EVENTS)


def subscribe(user, url: str, events=None) -> tuple[WebhookSubscription, str]:
    return services.subscription_create(by=as_user(user), url=url, events=events or EVERYTHING)


@pytest.fixture
def two_subscribers(risk_officer, receiver):
    return [subscribe(risk_officer, receiver.url + path) for path in ("/a", "/b")]


def _promote(version, developer, validator, risk_officer, stage: str, capture=None):
    """Request and sign, each call its own commit (as each is its own HTTP request), so the
    after-commit handlers run right after each decision, as they do in the service."""
    req = _committed(capture, wf.request, version, developer, stage)
    _committed(capture, wf.approve, req, validator)
    if stage == "production":
        _committed(capture, wf.approve, req, risk_officer)
    return req


def _committed(capture, function, *args, **kwargs):
    if capture is None:
        return function(*args, **kwargs)
    with capture(execute=True):
        return function(*args, **kwargs)


def test_every_event_is_delivered_once_per_subscription_and_verifies(
    two_subscribers, receiver, version, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    (sub_a, secret_a), (sub_b, secret_b) = two_subscribers
    quiet = subscribe(risk_officer, receiver.url + "/quiet", ["audit.verification_failed"])[0]
    model = version.model
    capture = django_capture_on_commit_callbacks
    wf.good_evidence(version)
    _promote(version, developer, validator, risk_officer, "staging", capture)
    _promote(version, developer, validator, risk_officer, "production", capture)
    newer = registry_factories.model_version(model=model, user=developer)
    wf.good_evidence(newer)
    _promote(newer, developer, validator, risk_officer, "staging", capture)
    _promote(newer, developer, validator, risk_officer, "production", capture)
    rollback = _committed(
        capture,
        workflow.rollback_request_create,
        by=as_user(risk_officer),
        version=version,
        reason="Incident 12: back to the previous one.",
    )
    _committed(capture, wf.approve, rollback, person("risk_officer"))
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_create(  # its own threshold fails: evaluation.gate_failed
            by=as_user(developer),
            model_version=newer,
            kind="reported",
            dataset="weekly-2026-11",
            data={"auc": 0.61},
            thresholds=[{"metric": "auc", "comparator": ">=", "threshold": 0.7}],
        )
        # version is in production again: the evaluation service announces the breach, the workflow raises a review flag
        wf.evaluation(version, kind="drift", metrics={"max_psi": 0.4}, dataset="live-2026-11")
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoint_create()

    staging = ["promotion_request.created", "promotion_request.decided", "model_version.promoted"]
    production = [*staging[:2], "promotion_request.decided", "model_version.promoted"]
    expected = [
        *staging,
        *production,
        *staging,
        *production,
        "promotion_request.created",
        "promotion_request.decided",
        "model_version.promoted",
        "model_version.rolled_back",
        "evaluation.gate_failed",
        "review_flag.raised",
        "audit.checkpoint_signed",
    ]
    assert receiver.events("/hooks/a") == expected
    assert receiver.events("/hooks/b") == expected
    assert receiver.events("/hooks/quiet") == [], "only the events a subscription names"
    assert set(expected) == set(EVERYTHING) - {"audit.verification_failed"}

    for path, secret, other in (("/hooks/a", secret_a, secret_b), ("/hooks/b", secret_b, secret_a)):
        bodies = receiver.verified(secret, path)  # raises on any bad signature
        with pytest.raises(WebhookVerificationError):
            receiver.verified(other, path)
        assert [b["type"] for b in bodies] == expected
    ids = Counter(r["headers"]["webhook-id"] for r in receiver.received)
    assert set(ids.values()) == {1}, "one webhook-id per delivery, each sent once"
    assert all(r["headers"]["webhook-signature"].startswith("v1,") for r in receiver.received)
    assert WebhookDelivery.objects.filter(subscription=quiet).count() == 0
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}

    bodies = receiver.verified(secret_a, "/hooks/a")
    for body in bodies:
        seq = body["audit"]["seq"]
        if body["type"].startswith("audit."):
            assert seq is None
            continue
        event = AuditEvent.objects.get(seq=seq)
        assert event.action == body["audit"]["action"]
        assert body["audit"]["entry_url"] == f"https://mlgov.example/api/v1/audit/entries?start={seq}&end={seq + 1}"
    decided = [b for b in bodies if b["type"] == "promotion_request.decided"]
    assert {AuditEvent.objects.get(seq=b["audit"]["seq"]).action for b in decided} == {"promotion_request.approve"}
    assert len({b["audit"]["seq"] for b in decided}) == len(decided), "each signature its own seq"
    promoted = [b for b in bodies if b["type"] == "model_version.promoted"][-1]
    assert promoted["data"]["model_version"]["url"] == f"https://mlgov.example/api/v1/versions/{version.pk}"
    assert promoted["data"]["is_rollback"] is True and promoted["data"]["retired_version"]["id"] == newer.pk
    flag = [b for b in bodies if b["type"] == "review_flag.raised"][0]
    assert flag["data"]["review_flag"]["breaches"][0]["metric"] == "max_psi"
    gate = [b for b in bodies if b["type"] == "evaluation.gate_failed"][0]
    assert gate["data"]["failed_checks"][0]["metric"] == "auc"
    signed = bodies[-1]["data"]["checkpoint"]
    assert signed["size"] == checkpoint.size and signed["note"] == checkpoint.note


def test_the_decisions_seq_has_an_inclusion_proof(
    risk_officer, receiver, version, developer, validator, auditor, api_for, django_capture_on_commit_callbacks
):
    _, secret = subscribe(risk_officer, receiver.url, ["model_version.promoted"])
    with django_capture_on_commit_callbacks(execute=True):
        wf.good_evidence(version)
        _promote(version, developer, validator, risk_officer, "staging")
    (payload,) = receiver.verified(secret)
    checkpoint_create()
    api = api_for(auditor)

    def get(url):
        response = api.get(url.removeprefix("https://mlgov.example"))
        assert response.status_code == 200, response.content
        return response.json()

    keys = get("/api/v1/audit/keys")["keys"]
    origin, size, root, _ = verify_checkpoint(get(payload["audit"]["checkpoint_url"])["note"], keys)
    entry = get(payload["audit"]["entry_url"])["entries"][0]
    record = json.loads(entry["record"])
    assert record["action"] == "promotion_request.promote" and record["log"] == origin
    assert record["object"]["id"] == str(payload["data"]["promotion_request"]["id"])
    proof = get(payload["audit"]["inclusion_proof_url"].format(checkpoint_size=size))
    assert verify_inclusion(
        payload["audit"]["seq"],
        size,
        hash_leaf(entry["record"].encode()),
        [base64.b64decode(h) for h in proof["proof"]],
        root,
    )


def test_retries_after_500s_and_timeouts_with_exponential_backoff(
    risk_officer, receiver, version, developer, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_TIMEOUT = 0.3
    sub, secret = subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    receiver.answer(500, (200, 2.0), 503)  # then 200
    with django_capture_on_commit_callbacks(execute=True):
        req = wf.request(version, developer, "staging")  # first attempt: 500
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.last_response_excerpt == "answer 500"
    first = delivery.first_attempt_at
    assert delivery.next_attempt_at == first + dt.timedelta(seconds=30)

    assert services.deliveries_attempt_due(now=first + dt.timedelta(seconds=29)) == [], "not due yet"
    (delivery,) = services.deliveries_attempt_due(now=first + dt.timedelta(seconds=30))  # the slow answer
    assert delivery.attempts == 2 and delivery.last_status_code is None
    assert delivery.last_error == "timed out after 0.3 s" and delivery.status == "pending"
    assert delivery.next_attempt_at == first + dt.timedelta(seconds=30 + 60)
    (delivery,) = services.deliveries_attempt_due(now=first + dt.timedelta(seconds=90))  # 503
    assert delivery.next_attempt_at == first + dt.timedelta(seconds=90 + 120)
    (delivery,) = services.deliveries_attempt_due(now=first + dt.timedelta(seconds=210))  # 200
    assert delivery.status == "succeeded" and delivery.attempts == 4 and delivery.delivered_at
    assert services.deliveries_attempt_due(now=first + dt.timedelta(days=2)) == [], "never again"

    log = list(delivery.attempt_log.values_list("number", "status_code", "succeeded"))
    assert log == [(1, 500, False), (2, None, False), (3, 503, False), (4, 200, True)]
    assert len(receiver.received) == 4
    assert {r["headers"]["webhook-id"] for r in receiver.received} == {delivery.message_id}, "same id on retries"
    bodies = receiver.verified(secret)
    assert all(b["data"]["promotion_request"]["id"] == req.pk for b in bodies)
    assert WebhookSubscription.objects.get().is_active


def test_a_slow_or_dead_receiver_never_blocks_the_decision(
    risk_officer, receiver, version, developer, validator, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_TIMEOUT = 0.3
    subscribe(risk_officer, receiver.url, ["promotion_request.decided", "model_version.promoted"])
    dead = subscribe(risk_officer, "http://127.0.0.1:9/nobody-listens", ["model_version.promoted"])[0]
    receiver.default = (200, 30.0)  # never answers in time
    wf.good_evidence(version)
    req = wf.request(version, developer, "staging")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        req = wf.approve(req, validator)
    elapsed = time.monotonic() - started
    assert req.status == "promoted"
    version.refresh_from_db()
    assert version.stage == "staging"
    assert elapsed < 10, "the decision did not wait for the receiver's 30 s"
    errors = dict(WebhookDelivery.objects.values_list("subscription_id", "last_error").filter(subscription=dead))
    assert "ConnectionError" in errors[dead.pk]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}, "to be retried"


def test_a_24_hour_failure_disables_the_subscription_and_tells_the_owner(
    risk_officer, receiver, version, developer, django_capture_on_commit_callbacks
):
    sub, _ = subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    receiver.default = (500, 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    delivery = WebhookDelivery.objects.get()
    start, now = delivery.first_attempt_at, delivery.next_attempt_at
    gaps = []
    with django_capture_on_commit_callbacks(execute=True):
        while True:
            (delivery,) = services.deliveries_attempt_due(now=now)
            if delivery.status != "pending":
                break
            gaps.append(delivery.next_attempt_at - now)
            assert sub.deliveries.get().status == "pending"
            WebhookSubscription.objects.get(pk=sub.pk).is_active or pytest.fail("disabled too early")
            now = delivery.next_attempt_at
    assert delivery.status == "failed"
    assert now - start == dt.timedelta(hours=24), "the last attempt is at the end of the 24-hour window"
    assert gaps[:4] == [dt.timedelta(seconds=s) for s in (60, 120, 240, 480)]
    assert max(gaps) <= dt.timedelta(hours=4)
    assert delivery.attempts == len(receiver.received) == len(gaps) + 2

    sub.refresh_from_db()
    assert not sub.is_active and "failed for 24 h" in sub.disabled_reason
    event = AuditEvent.objects.filter(action="webhook_subscription.disable").get()
    assert event.actor_type == "system" and event.record_json["data"]["automatic"] is True
    (message,) = [m for m in mail.outbox if "Webhook" in m.subject]
    assert message.to == [risk_officer.email] and "disabled" in message.subject
    assert services.deliveries_attempt_due(now=now + dt.timedelta(days=1)) == []

    # a later event is not even queued for the disabled subscription
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(registry_factories.model_version(model=version.model, user=developer), developer, "staging")
    assert WebhookDelivery.objects.count() == 1


def test_manual_redelivery_sends_the_same_message_again_and_is_audited(
    risk_officer, receiver, version, developer, api_for, django_capture_on_commit_callbacks
):
    _, secret = subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    delivery = WebhookDelivery.objects.get()
    api = api_for(risk_officer)
    listed = api.get("/api/v1/webhooks/deliveries", {"status": "succeeded"}).json()["results"]
    assert [d["id"] for d in listed] == [delivery.pk] and listed[0]["last_latency_ms"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 202
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [delivery.message_id] * 2
    assert len(receiver.verified(secret)) == 2
    detail = api.get(f"/api/v1/webhooks/deliveries/{delivery.pk}").json()
    assert detail["attempts"] == 2 and [a["succeeded"] for a in detail["attempt_log"]] == [True, True]
    assert AuditEvent.objects.filter(action="webhook_delivery.redeliver", object_id=str(delivery.pk)).count() == 1
    assert api_for(developer).post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver").status_code == 403
    assert AuditEvent.objects.filter(action="webhook_delivery.redeliver.denied").count() == 1


def test_verification_failure_is_delivered(
    risk_officer, receiver, version, settings, tmp_path, django_capture_on_commit_callbacks
):
    from audit.verification import record_verification

    _, secret = subscribe(risk_officer, receiver.url, ["audit.verification_failed"])
    checkpoint_create()
    settings.AUDIT_SIGNING_KEY_FILE = str(tmp_path / "another.key")  # the checkpoint no longer verifies
    with django_capture_on_commit_callbacks(execute=True):
        run = record_verification(trigger="test")
    assert run.ok is False
    (body,) = receiver.verified(secret)
    assert body["type"] == "audit.verification_failed"
    assert body["data"]["verification"]["message"] == run.message


def test_deliveries_are_signed_with_the_rotated_secret(
    risk_officer, receiver, version, developer, django_capture_on_commit_callbacks
):
    sub, old = subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    _, new = services.subscription_rotate_secret(by=as_user(risk_officer), subscription=sub)
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    assert len(receiver.verified(new)) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(receiver.received[0]["body"], receiver.received[0]["headers"])


def test_a_host_that_moved_into_a_private_range_is_not_called(
    risk_officer, receiver, version, developer, settings, django_capture_on_commit_callbacks
):
    subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = []  # as if DNS now answered with a private address
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    delivery = WebhookDelivery.objects.get()
    assert receiver.received == []
    assert delivery.status == "pending" and delivery.last_error.startswith("refused target:")


def test_a_worker_that_died_mid_attempt_is_taken_over(risk_officer, receiver, version, developer):
    subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    wf.request(version, developer, "staging")  # no commit callbacks: nothing sent yet
    services.deliveries_create("promotion_request.created", request_id=version.promotion_requests.get().pk)
    (delivery,) = WebhookDelivery.objects.all()
    now = timezone.now()
    assert services._claim(delivery.pk, now), "a worker takes it ... and dies"
    assert services.delivery_attempt(delivery.pk, now=now) is None, "taken: nobody else sends it"
    later = now + dt.timedelta(minutes=5)
    assert services.deliveries_due(now=later) == [delivery.pk]
    (done,) = services.deliveries_attempt_due(now=later)
    assert done.status == "succeeded" and len(receiver.received) == 1


def test_the_admin_delivery_log_shows_attempts_and_redelivers(
    client, risk_officer, receiver, version, developer, settings, django_capture_on_commit_callbacks
):
    subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    receiver.answer(502)
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    delivery = WebhookDelivery.objects.get()
    client.force_login(risk_officer)
    listing = client.get("/admin/webhooks/webhookdelivery/").content.decode()
    assert "promotion_request.created" in listing and "502" in listing
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "answer 502" in page and "HTTP 502" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/webhooks/webhookdelivery/", {"action": "redeliver_selected", "_selected_action": [delivery.pk]}
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2 and len(receiver.received) == 2
    assert AuditEvent.objects.filter(action="webhook_delivery.redeliver").count() == 1


def test_a_changed_encryption_key_is_a_failed_attempt_that_says_what_to_do(
    risk_officer, receiver, version, developer, settings, django_capture_on_commit_callbacks
):
    from cryptography.fernet import Fernet

    subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    settings.WEBHOOKS_SECRET_KEY = Fernet.generate_key().decode()  # not the key the secret was stored with
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")
    delivery = WebhookDelivery.objects.get()
    assert receiver.received == [] and delivery.attempts == 1 and delivery.status == "pending"
    assert "WEBHOOKS_SECRET_KEY" in delivery.last_error and "rotate" in delivery.last_error


def test_finished_deliveries_are_purged_after_the_retention_period(
    risk_officer, receiver, version, developer, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    subscribe(risk_officer, receiver.url, ["promotion_request.created"])
    receiver.answer(200, 500)
    with django_capture_on_commit_callbacks(execute=True):
        wf.request(version, developer, "staging")  # succeeds
        wf.request(registry_factories.model_version(model=version.model, user=developer), developer, "staging")
    done, open_ = WebhookDelivery.objects.order_by("pk")
    assert (done.status, WebhookDelivery.objects.get(pk=open_.pk).status) == ("succeeded", "pending")
    assert services.deliveries_purge(now=timezone.now() + dt.timedelta(days=29)) == 0
    assert services.deliveries_purge(now=timezone.now() + dt.timedelta(days=31)) == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [open_.pk], "open deliveries stay"
    assert not WebhookAttempt.objects.filter(delivery_id=done.pk).exists()
