"""Shared test fixtures. Data comes from factories (tests/factories), built through the services."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import settings
from rest_framework.test import APIClient

from tests import properties
from tests.factories import accounts as account_factories
from tests.factories.accounts import ADMIN

IN_CI = os.environ.get("CI", "").lower() == "true"

# Property tests without their own max_examples: 100 examples in CI, 10 locally (tests/properties.py).
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("local", max_examples=10, deadline=None)
settings.load_profile("ci" if properties.FULL else "local")


def pytest_collection_modifyitems(items):
    """Every hypothesis test carries the ``property`` marker (``pytest -m "not property"`` skips them)."""
    for item in items:
        if getattr(getattr(item, "function", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a real service is absent on a developer machine; fail under CI=true."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc})"
        if IN_CI:
            pytest.fail(f"{message}; CI needs it running")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _fast_passwords(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.AUDIT_SIGNING_KEY_FILE = str(tmp_path / "audit-signing.key")
    settings.DEMO_SAMPLES_DIR = tmp_path / "samples"


@pytest.fixture
def is_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-only behaviour; covered by the PostgreSQL pass of .ci/run (DATABASE_URL)")


def make_api_client(user) -> APIClient:
    from governance.accounts.services import api_token_issue

    _, key = api_token_issue(by=ADMIN, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def developer(db):
    return account_factories.person("developer")


@pytest.fixture
def validator(db):
    return account_factories.person("validator")


@pytest.fixture
def risk_officer(db):
    return account_factories.person("risk_officer")


@pytest.fixture
def auditor(db):
    return account_factories.person("auditor")


@pytest.fixture
def pipeline(db):
    return account_factories.service_account()


@pytest.fixture
def api_for():
    return make_api_client


@pytest.fixture
def model(developer):
    """A tier 1, EU high-risk model owned by the developer (judged under the 'high' policies)."""
    from tests.factories import registry as registry_factories

    return registry_factories.registered_model(owner=developer)


@pytest.fixture
def version(model, developer):
    from tests.factories import registry as registry_factories

    return registry_factories.model_version(model=model, user=developer)


@pytest.fixture(autouse=True)
def _audit_log_flushable(request):
    """Transactional tests (``django_db(transaction=True)``) end with a flush of every table,
    which the guard triggers refuse. Around those tests only: at setup the head row, the
    triggers and the migrated reference data (roles, default policies) are put back; at teardown
    (which runs before pytest-django's flush) the triggers are lifted."""
    marker = request.node.get_closest_marker("django_db")
    if not marker or not marker.kwargs.get("transaction"):
        yield
        return
    from tests.audit.helpers import disable_triggers, ensure_head, reinstall_triggers, restore_reference_data

    request.getfixturevalue("_django_db_helper")
    ensure_head()
    reinstall_triggers()
    restore_reference_data()
    yield
    disable_triggers(governed=True)


@pytest.fixture
def celery_workers(settings, tmp_path):
    """Real Celery workers for this test (tests/celery_harness.py): ``celery_workers.start(**env)``.
    Needs Redis (skipped without it on a developer machine, a failure under CI=true)."""
    from tests.celery_harness import CeleryWorkers

    require_service("redis", "127.0.0.1", 6379)
    workers = CeleryWorkers(settings, tmp_path)
    try:
        yield workers
    finally:
        workers.close()
