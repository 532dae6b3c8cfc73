"""Subscriptions: who may manage them, what a bad request gets back, and what the audit log keeps."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from governance.integrations.webhooks import services
from governance.integrations.webhooks.models import WebhookSubscription
from tests.factories.accounts import as_user, person

pytestmark = pytest.mark.django_db

ALL = ["promotion_request.created", "model_version.promoted"]


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _create(api, **body):
    return api.post("/api/v1/webhooks/subscriptions", {"url": "", "events": ALL, **body}, format="json")


def test_a_risk_officer_creates_a_subscription_and_sees_the_secret_once(api_for, risk_officer, receiver):
    api = api_for(risk_officer)
    response = _create(api, url=receiver.url, description="CD pipeline")
    assert response.status_code == 201, response.json()
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and body["secret_hint"] == secret[:10] + "…"
    assert body["events"] == ALL and body["owner"] == risk_officer.username and body["is_active"]

    again = api.get(f"/api/v1/webhooks/subscriptions/{body['id']}").json()
    assert "secret" not in again and again["secret_hint"] == body["secret_hint"]
    listed = api.get("/api/v1/webhooks/subscriptions").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]

    (event,) = _events("webhook_subscription.create")
    assert event.actor_id == str(risk_officer.pk)
    assert event.record_json["object"] == {"type": "webhook_subscription", "id": str(body["id"]), "url": receiver.url}
    assert event.record_json["data"]["events"] == ALL
    stored = WebhookSubscription.objects.get()
    assert secret not in stored.secret_encrypted, "stored encrypted"
    for row in AuditEvent.objects.all():
        assert secret.encode() not in bytes(row.record) and secret[6:].encode() not in bytes(row.record)


def test_an_administrator_may_manage_subscriptions(api_for, receiver):
    admin = person(username="root-admin", is_superuser=True)
    assert _create(api_for(admin), url=receiver.url).status_code == 201


@pytest.mark.parametrize("role", ["developer", "validator", "auditor", "pipeline"])
def test_other_roles_are_refused_with_a_clear_403_and_the_refusal_is_audited(api_for, role, receiver):
    from tests.factories.accounts import service_account

    user = service_account() if role == "pipeline" else person(role)
    api = api_for(user)
    response = _create(api, url=receiver.url)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == services.MANAGE_REFUSAL
    (denied,) = _events("webhook_subscription.create.denied")
    assert denied.actor_id == str(user.pk) and denied.record_json["data"]["reason"] == services.MANAGE_REFUSAL
    assert not WebhookSubscription.objects.exists()

    listing = api.get("/api/v1/webhooks/subscriptions")
    assert listing.status_code == 403 and listing.json()["error"]["message"] == services.MANAGE_REFUSAL
    assert _events("api.request.denied"), "reads refused are audited too"
    assert api.get("/api/v1/webhooks/deliveries").status_code == 403
    assert api.get("/api/v1/webhooks/events").status_code == 403


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"events": []}, "events", "at least one event"),
        ({"events": ["model_version.promoted", "model.exploded"]}, "events[1]", "unknown event 'model.exploded'"),
        ({"url": "ftp://127.0.0.1/x"}, "url", "https://"),
        ({"url": "https://user:pw@127.0.0.1/x"}, "url", "credentials"),
        ({"url": "https://no-such-host.invalid/x"}, "url", "does not resolve"),
        ({"url": ""}, "url", "required"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_is_audited(api_for, risk_officer, receiver, body, field, words):
    response = _create(api_for(risk_officer), **{"url": receiver.url, **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert list(error["fields"]) == [field] and words in error["fields"][field][0]
    assert error["message"].startswith(f"{field}: ")
    (denied,) = _events("webhook_subscription.create.denied")
    assert denied.record_json["data"]["reason"].startswith(f"{field}: ")
    assert not WebhookSubscription.objects.exists()


def test_plain_http_is_refused_in_production_mode(api_for, risk_officer, receiver, settings):
    settings.WEBHOOKS_ALLOW_HTTP = False  # what DEBUG=false gives
    response = _create(api_for(risk_officer), url=receiver.url)
    assert response.status_code == 400
    assert "only https://" in response.json()["error"]["fields"]["url"][0]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_private_loopback_and_link_local_hosts_are_refused_unless_listed(api_for, risk_officer, settings, url):
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = []
    response = _create(api_for(risk_officer), url=url)
    assert response.status_code == 400
    reason = response.json()["error"]["fields"]["url"][0]
    assert "private, loopback or link-local" in reason and "WEBHOOKS_ALLOWED_PRIVATE_HOSTS" in reason


def test_a_listed_host_name_is_allowed(api_for, risk_officer, settings):
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["localhost"]
    assert _create(api_for(risk_officer), url="https://localhost:9/hook").status_code == 201


def test_update_disable_enable_and_rotate_are_audited(api_for, risk_officer, receiver):
    api = api_for(risk_officer)
    sub_id = _create(api, url=receiver.url).json()["id"]
    patched = api.patch(
        f"/api/v1/webhooks/subscriptions/{sub_id}",
        {"events": ["review_flag.raised"], "description": "x"},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["events"] == ["review_flag.raised"]
    (update,) = _events("webhook_subscription.update")
    assert update.record_json["data"]["changes"]["events"] == {"before": ALL, "after": ["review_flag.raised"]}

    bad = api.patch(f"/api/v1/webhooks/subscriptions/{sub_id}", {"events": ["nope"]}, format="json")
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["events[0]"]
    assert WebhookSubscription.objects.get().events == ["review_flag.raised"], "nothing half-written"

    no_reason = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/disable", {"reason": ""}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    off = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/disable", {"reason": "receiver retired"}, format="json")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert _events("webhook_subscription.disable")[0].record_json["reason"] == "receiver retired"
    assert api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/disable", {"reason": "again"}).status_code == 409

    on = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/enable")
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert len(_events("webhook_subscription.enable")) == 1

    old = WebhookSubscription.objects.get().secret_encrypted
    rotated = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert WebhookSubscription.objects.get().secret_encrypted != old
    (rotation,) = _events("webhook_subscription.rotate_secret")
    assert rotated.json()["secret"].encode() not in bytes(rotation.record)


def test_a_developer_cannot_change_a_subscription(api_for, risk_officer, developer, receiver):
    sub, _ = services.subscription_create(by=as_user(risk_officer), url=receiver.url, events=ALL)
    api = api_for(developer)
    response = api.patch(f"/api/v1/webhooks/subscriptions/{sub.pk}", {"url": "https://example.org/x"}, format="json")
    assert response.status_code == 403
    assert _events("webhook_subscription.update.denied")
    assert api.post(f"/api/v1/webhooks/subscriptions/{sub.pk}/rotate-secret").status_code == 403
    assert WebhookSubscription.objects.get().url == receiver.url


def test_the_event_catalogue_is_listed(api_for, risk_officer):
    names = [e["name"] for e in api_for(risk_officer).get("/api/v1/webhooks/events").json()["events"]]
    assert names == [
        "promotion_request.created",
        "promotion_request.decided",
        "model_version.promoted",
        "model_version.rolled_back",
        "evaluation.gate_failed",
        "review_flag.raised",
        "audit.checkpoint_signed",
        "audit.verification_failed",
    ]


def test_the_openapi_schema_lists_the_webhook_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/webhooks/subscriptions",
        "/api/v1/webhooks/subscriptions/{id}",
        "/api/v1/webhooks/subscriptions/{id}/rotate-secret",
        "/api/v1/webhooks/deliveries",
        "/api/v1/webhooks/deliveries/{id}/redeliver",
        "/api/v1/webhooks/events",
    ):
        assert any(p.rstrip("/") == expected for p in paths), (expected, sorted(p for p in paths if "webhook" in p))


def test_admin_add_page_shows_the_secret_once(client, risk_officer, receiver):
    client.force_login(risk_officer)
    page = client.get("/admin/webhooks/webhooksubscription/add/")
    assert page.status_code == 200
    response = client.post(
        "/admin/webhooks/webhooksubscription/add/", {"url": receiver.url, "events": ALL, "description": "from admin"}
    )
    assert response.status_code == 200
    sub = WebhookSubscription.objects.get()
    html = response.content.decode()
    assert 'id="new-secret"' in html and sub.secret_hint[:10] in html
    change = client.get(f"/admin/webhooks/webhooksubscription/{sub.pk}/change/").content.decode()
    assert sub.secret_hint[:10] in change and "new-secret" not in change
    assert _events("webhook_subscription.create")[0].actor_id == str(risk_officer.pk)


def test_admin_is_closed_to_other_roles(client, developer):
    client.force_login(developer)
    assert client.get("/admin/webhooks/webhooksubscription/").status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/").status_code == 403


def test_an_idempotency_key_is_refused_where_the_response_holds_the_secret(api_for, risk_officer, receiver):
    from governance.api.models import IdempotencyRecord

    api = api_for(risk_officer)
    response = api.post(
        "/api/v1/webhooks/subscriptions",
        {"url": receiver.url, "events": ALL},
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-hook-1",
    )
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert not WebhookSubscription.objects.exists() and not IdempotencyRecord.objects.exists()
    sub_id = _create(api, url=receiver.url).json()["id"]
    rotated = api.post(f"/api/v1/webhooks/subscriptions/{sub_id}/rotate-secret", HTTP_IDEMPOTENCY_KEY="r1")
    assert rotated.status_code == 400 and not IdempotencyRecord.objects.exists()
    disabled = api.post(
        f"/api/v1/webhooks/subscriptions/{sub_id}/disable", {"reason": "test"}, HTTP_IDEMPOTENCY_KEY="d1"
    )
    assert disabled.status_code == 200, "other actions keep idempotency"


def test_admin_change_goes_through_the_audited_service(client, risk_officer, receiver, settings):
    sub, _ = services.subscription_create(by=as_user(risk_officer), url=receiver.url, events=ALL)
    client.force_login(risk_officer)
    url = f"/admin/webhooks/webhooksubscription/{sub.pk}/change/"
    response = client.post(url, {"url": receiver.url, "events": ["review_flag.raised"], "description": "moved"})
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.events == ["review_flag.raised"] and sub.description == "moved"
    (update,) = _events("webhook_subscription.update")
    assert set(update.record_json["data"]["changes"]) == {"events", "description"}

    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = []
    refused = client.post(url, {"url": "https://10.0.0.8/x", "events": ["review_flag.raised"]}, follow=True)
    assert "Not saved" in refused.content.decode() and "private, loopback or link-local" in refused.content.decode()
    sub.refresh_from_db()
    assert sub.url == receiver.url and _events("webhook_subscription.update.denied")
