"""Issue 10 defect 7: concurrent evaluations of a version under review (PostgreSQL, real HTTP clients).

Every POST /api/v1/evaluations/ of a version with an open promotion request refreshes that
request's gates. Under concurrency this used to deadlock (the audit head lock against the
``FOR KEY SHARE`` lock a deferred foreign key takes at COMMIT), answering 500 and dropping
refreshes so that live evidence silently stopped being live.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from audit.verification import verify_database
from governance.evaluations.models import Evaluation
from governance.workflow import gates
from governance.workflow.models import PromotionRequest
from tests.conftest import make_api_client
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN, person

CLIENTS = 8
POSTS_EACH = 6


def _post(url: str, key: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{url}/api/v1/evaluations/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:300]


@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluations_of_a_version_under_review_neither_fail_nor_drop_a_refresh(postgres_only, live_server):
    from governance.accounts.services import api_token_issue

    developer = person("developer")
    version = registry_factories.model_version(model=registry_factories.registered_model(owner=developer))
    wf.good_evidence(version)
    req = wf.request(version, developer, "staging")
    make_api_client(developer)  # warm the token path once
    pipeline = person("pipeline", is_service_account=True)
    _, key = api_token_issue(by=ADMIN, user=pipeline)

    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        barrier.wait(timeout=30)
        for i in range(POSTS_EACH):
            auc = 0.70 + (n * POSTS_EACH + i) / 1000  # every evaluation changes the gate rows
            body = {
                "model_version": version.pk,
                "kind": "reported",
                "dataset": f"live-{n}-{i}",
                "data": {"auc": auc, "gini": 2 * auc - 1},
            }
            result = _post(live_server.url, key, body)
            with lock:
                statuses.append(result)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)

    errors = [s for s in statuses if s[0] != 201]
    assert len(statuses) == CLIENTS * POSTS_EACH
    assert errors == [], errors  # zero 500s (and no other refusals)
    assert Evaluation.objects.filter(model_version=version, dataset__startswith="live-").count() == len(statuses)

    # Every refresh was done: the request's stored gates are what the evidence says now.
    req = PromotionRequest.objects.get(pk=req.pk)
    rows, passed = gates.evaluate(req.policy, req.model_version)
    assert [r["evaluation_id"] for r in req.gate_results] == [r["evaluation_id"] for r in rows]
    assert req.gates_passed == passed
    latest = Evaluation.objects.filter(model_version=version).order_by("-finished_at", "-pk").first()
    assert latest.pk in {r["evaluation_id"] for r in req.gate_results}
    assert verify_database().ok
