"""Integration health on the dashboard (issue 16), in Chromium: a failing MLflow link and a webhook
subscription whose receiver answers 500, each linked to its admin page."""

from __future__ import annotations

import os
import re
import socket

import pytest

from tests.browser.conftest import DOCS_IMG, assert_no_horizontal_overflow, login
from tests.integrations.webhooks.conftest import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def troubled_integrations(demo, settings):
    from audit.checkpoints import checkpoint_create
    from audit.selectors import checkpoints
    from governance.accounts.principal import Principal
    from governance.common.errors import Unavailable
    from governance.integrations.mlflow import services as mlflow_services
    from governance.integrations.webhooks import services as webhook_services
    from governance.registry.models import RegisteredModel

    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["127.0.0.0/8"]
    settings.WEBHOOKS_TIMEOUT = 2.0
    settings.MLFLOW_REQUEST_RETRIES = 0
    settings.MLFLOW_REQUEST_TIMEOUT = 2
    risk = Principal.for_user(demo.users["risk_officer"], auth="session")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    model = RegisteredModel.objects.get(name=demo.model_name)
    link = mlflow_services.mlflow_link_create(
        by=risk, model=model, tracking_uri=f"http://127.0.0.1:{dead}", mlflow_name=demo.model_name, check_remote=False
    )
    with pytest.raises(Unavailable):
        mlflow_services.mlflow_link_sync(by=risk, link=link)
    receiver = Receiver()
    receiver.answer(*[500] * 50)  # the receiver is down for the whole test
    webhook_services.subscription_create(
        by=risk, url=receiver.url + "/deploy", events=["audit.checkpoint_signed"], description="CD deploy job"
    )
    checkpoint = checkpoint_create() or checkpoints().first()
    (delivery,) = webhook_services.deliveries_create("audit.checkpoint_signed", checkpoint=checkpoint)
    webhook_services.delivery_attempt(delivery.pk)
    yield link
    receiver.close()


def test_risk_officer_sees_integration_health_and_opens_the_link(page, troubled_integrations, tmp_path):
    login(page, "risk_officer")
    card = page.locator("#dash-integrations")
    assert card.is_visible()
    text = card.inner_text()
    assert "error ×1" in text and "HTTP 500" in text
    assert re.search(r"\d+ retrying", text), text  # each checkpoint signed meanwhile adds a delivery
    assert_no_horizontal_overflow(page)
    _card_screenshot(card, "dashboard-integrations", tmp_path)
    page.locator("#integrations-mlflow a").first.click()
    page.wait_for_url(f"**/mlflowlink/{troubled_integrations.pk}/change/")
    assert "MLflow" in page.inner_text("#content")


def _card_screenshot(card, name: str, tmp_path) -> None:
    """The card alone: docs/img/<name>.png (128 colours) with MLGOV_SCREENSHOTS=docs, else in tmp_path."""
    folder = DOCS_IMG if os.environ.get("MLGOV_SCREENSHOTS") == "docs" else tmp_path
    target = folder / f"{name}.png"
    card.screenshot(path=str(target))
    if folder == DOCS_IMG:
        from PIL import Image

        Image.open(target).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
            target, optimize=True
        )
