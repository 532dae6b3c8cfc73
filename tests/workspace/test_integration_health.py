"""Issue 16: the dashboard's integration health: MLflow links (last sync, last error, flags, alias writes
owed) and webhook subscriptions (failing or disabled, last delivery), each linked to its admin page."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from governance.common.errors import Unavailable
from governance.integrations.mlflow import services as mlflow_services
from governance.integrations.webhooks import services as webhook_services
from tests.factories.accounts import as_user
from tests.integrations.webhooks.conftest import Receiver

pytestmark = pytest.mark.django_db


def _dead_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["127.0.0.0/8"]
    settings.WEBHOOKS_TIMEOUT = 2.0
    settings.MLFLOW_REQUEST_RETRIES = 0
    settings.MLFLOW_REQUEST_TIMEOUT = 2


def _dashboard(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_empty_state_links_to_the_admin_pages(client, risk_officer):
    page = _dashboard(client, risk_officer)
    panel = page.split('id="dash-integrations"', 1)[1].split('id="dash-', 1)[0]
    assert "No model is linked to an MLflow registry" in panel
    assert reverse("admin:mlflow_bridge_mlflowlink_changelist") in panel
    assert "No webhook subscription yet" in panel
    assert reverse("admin:webhooks_webhooksubscription_changelist") in panel


def test_a_failing_mlflow_link_shows_its_last_error_and_links_to_its_page(client, model, risk_officer, auditor):
    link = mlflow_services.mlflow_link_create(
        by=as_user(risk_officer),
        model=model,
        tracking_uri=f"http://127.0.0.1:{_dead_port()}",
        mlflow_name="credit-scoring",
        check_remote=False,
    )
    with pytest.raises(Unavailable):
        mlflow_services.mlflow_link_sync(by=as_user(risk_officer), link=link)
    for user in (risk_officer, auditor):
        page = _dashboard(client, user)
        panel = page.split('id="integrations-mlflow"', 1)[1].split("</table>", 1)[0]
        assert f"{model.name} → credit-scoring" in panel
        assert reverse("admin:mlflow_bridge_mlflowlink_change", args=[link.pk]) in panel
        assert "error ×1" in panel and "row-fail" in panel
        link.refresh_from_db()
        assert link.last_sync_error and link.last_sync_error[:40] in panel


def test_webhook_subscriptions_show_retrying_disabled_and_the_last_delivery(client, risk_officer, receiver):
    by = as_user(risk_officer)
    failing, _ = webhook_services.subscription_create(
        by=by, url=receiver.url, events=["audit.checkpoint_signed"], description="CD deploy job"
    )
    disabled, _ = webhook_services.subscription_create(
        by=by, url=receiver.url + "/other", events=["review_flag.raised"]
    )
    webhook_services.subscription_disable(by=by, subscription=disabled, reason="receiver decommissioned")
    receiver.answer(500)
    from audit.checkpoints import checkpoint_create

    checkpoint = checkpoint_create()
    if checkpoint is None:  # nothing new since the last one: take the latest
        from audit.selectors import checkpoints

        checkpoint = checkpoints().first()
    (delivery,) = webhook_services.deliveries_create("audit.checkpoint_signed", checkpoint=checkpoint)
    webhook_services.delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 500

    page = _dashboard(client, risk_officer)
    panel = page.split('id="integrations-webhooks"', 1)[1].split("</table>", 1)[0]
    assert reverse("admin:webhooks_webhooksubscription_change", args=[failing.pk]) in panel
    assert reverse("admin:webhooks_webhooksubscription_change", args=[disabled.pk]) in panel
    assert "CD deploy job" in panel and "1 retrying" in panel
    assert reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]) in panel
    assert "audit.checkpoint_signed" in panel and "HTTP 500" in panel
    assert "disabled" in panel and "receiver decommissioned" in panel
    badge = page.split('id="dash-integrations"', 1)[1].split("</h2>", 1)[0]
    assert ">2</span>" in badge  # two subscriptions with a problem


def test_developers_do_not_get_the_panel(client, developer):
    assert 'id="dash-integrations"' not in _dashboard(client, developer)
