"""A real Celery worker on a real Redis broker delivers a webhook after the decision committed; the
decision's HTTP response does not wait for the (slow) receiver."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from governance.integrations.webhooks import services
from governance.integrations.webhooks.models import WebhookDelivery
from tests.conftest import make_api_client, require_service
from tests.evaluations.test_celery_worker import _configure, _database_url, _wait_until_ready
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_the_commit(settings, tmp_path, receiver):
    require_service("redis", "127.0.0.1", 6379)
    from governance.celery import app

    broker_url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    queue = f"mlgov-wh-test-{os.getpid()}-{random.randint(0, 1 << 30)}"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": _database_url(),
        "AUDIT_SIGNING_KEY_FILE": settings.AUDIT_SIGNING_KEY_FILE,
        "WEBHOOKS_ALLOWED_PRIVATE_HOSTS": "127.0.0.0/8",
        "WEBHOOKS_ALLOW_HTTP": "true",
        "WEBHOOKS_TIMEOUT": "10",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "task_default_queue")}
    proc = None
    try:
        _configure(app, broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "governance",
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_until_ready(broker_url, proc, log)

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
        assert delivery.status == "succeeded", (delivery.last_error, log.read_text()[-4000:])
        assert delivery.last_latency_ms >= 6000
        (body,) = receiver.verified(secret)
        assert body["data"]["promotion_request"]["id"] == response.json()["id"]
        assert body["audit"]["action"] == "promotion_request.create"
    finally:
        _configure(app, **saved)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
