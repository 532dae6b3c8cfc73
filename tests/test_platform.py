"""Settings, health, demo data and the production configuration."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.verification import verify_database
from governance.common import demo
from governance.registry.models import ModelVersion, RegisteredModel
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    result = run_manage("check", env_overrides={"DEBUG": "false", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_overrides={
            "DEBUG": "false",
            "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-value-0123456789",
            "ALLOWED_HOSTS": "mlgov.example.com",
            "VAR_DIR": str(tmp_path),
            "AUDIT_SIGNING_KEYS": "PRIVATE+KEY+mlgov.example.com/audit+3e2d0b0b+AQ" + "A" * 42 + "=",
            "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_healthz_in_eager_mode(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] and body["broker"]["mode"] == "eager"
    assert body["database"]["audit_log_size"] >= 0 and body["database"]["audit_pending"] == 0


@pytest.mark.django_db
@pytest.mark.broker
@pytest.mark.parametrize(
    "url, port", [("redis://127.0.0.1:6379/15", 6379), ("amqp://guest:guest@127.0.0.1:5672//", 5672)]
)
def test_healthz_reports_a_real_broker(client, settings, url, port):
    require_service("broker", "127.0.0.1", port)
    from governance.celery import app

    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    try:
        body = client.get("/healthz").json()
        assert body["broker"] == {"ok": True, "mode": "broker", "transport": body["broker"]["transport"]}
        app.conf.broker_url = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        response = client.get("/healthz")
        assert response.status_code == 503 and not response.json()["broker"]["ok"]
    finally:
        app.conf.broker_url = None


@pytest.mark.django_db
def test_seed_demo_is_idempotent_with_real_lineage_hashes():
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=io.StringIO())
    assert "Demo logins" in out.getvalue() and "rita.risk" in out.getvalue()
    counts = (RegisteredModel.objects.count(), ModelVersion.objects.count())
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    assert (RegisteredModel.objects.count(), ModelVersion.objects.count()) == counts
    for version in ModelVersion.objects.all():
        assert version.artifact_sha256 == demo.sha256_file(ROOT / version.artifact_uri)
        assert version.training_data_sha256 == demo.sha256_file(demo.DATA_FILE)
    assert verify_database().ok
