"""Racing final approvals on PostgreSQL: row locks let exactly one promotion happen."""

import threading

import pytest
from django.db import connection

from audit.verification import verify_database
from governance.common.errors import DomainError
from governance.registry.models import ModelVersion
from governance.workflow.models import PromotionRequest, StageTransition
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import person


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, fn):
        try:
            barrier.wait(timeout=10)
            results[i] = fn()
        except DomainError as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _staged(model, developer, validator):
    version = registry_factories.model_version(model=model, user=developer)
    wf.good_evidence(version)
    wf.approve(wf.request(version, developer, "staging"), validator)
    return version


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_final_approvals_promote_once(postgres_only):
    developer, validator = person("developer"), person("validator")
    ro1, ro2 = person("risk_officer"), person("risk_officer")
    model = registry_factories.registered_model(owner=developer)
    version = _staged(model, developer, validator)
    req = wf.request(version, developer, "production")
    wf.approve(req, validator)
    results = _race([lambda: wf.approve(req, ro1), lambda: wf.approve(req, ro2)])
    promoted = [r for r in results if isinstance(r, PromotionRequest)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(promoted) == 1 and len(refused) == 1, results
    assert promoted[0].status == "promoted"
    assert StageTransition.objects.filter(model_version=version, to_stage="production").count() == 1
    assert ModelVersion.objects.filter(model=model, stage="production").count() == 1
    req.refresh_from_db()
    assert req.status == "promoted" and req.approvals.count() == 2
    assert verify_database().ok


@pytest.mark.django_db(transaction=True)
def test_two_versions_racing_to_production_promote_one(postgres_only):
    developer, validator, risk_officer = person("developer"), person("validator"), person("risk_officer")
    model = registry_factories.registered_model(owner=developer)
    a, b = _staged(model, developer, validator), _staged(model, developer, validator)
    req_a, req_b = wf.request(a, developer, "production"), wf.request(b, developer, "production")
    wf.approve(req_a, validator)
    wf.approve(req_b, validator)
    results = _race([lambda: wf.approve(req_a, risk_officer), lambda: wf.approve(req_b, risk_officer)])
    promoted = [r for r in results if isinstance(r, PromotionRequest)]
    assert len(promoted) == 1, results
    assert ModelVersion.objects.filter(model=model, stage="production").count() == 1
    statuses = sorted(PromotionRequest.objects.filter(pk__in=[req_a.pk, req_b.pk]).values_list("status", flat=True))
    assert statuses == ["promoted", "superseded"]
    assert verify_database().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_requests_create_one(postgres_only):
    developer = person("developer")
    version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer), user=developer
    )
    results = _race([lambda: wf.request(version, developer), lambda: wf.request(version, developer)])
    assert sum(isinstance(r, PromotionRequest) for r in results) == 1
    assert PromotionRequest.objects.filter(model_version=version).count() == 1
