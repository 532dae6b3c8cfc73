"""Jobs queued while the broker is unreachable are not lost (issue 10, defect 8): the evaluation
and the documentation pack commit ``queued``, the request answers, and the beat sweep
``jobs.redispatch_queued`` sends their tasks to the real broker once it is reachable again, at
ages that double from the grace period (never on every sweep).

The broker is made unreachable for real: the app points at a loopback port nobody listens on.
Then it points at the real Redis (a database and a queue of this run only), and the test reads
the messages the sweep put on that queue.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import socket

import numpy as np
import pytest

from governance.common.jobs import dispatch_due
from governance.evaluations.models import Evaluation
from governance.reports.models import DocumentationPack
from tests.celery_harness import _configure
from tests.conftest import make_api_client, require_service


def test_dispatch_points_double_from_the_grace_period():
    sweeps = [t for t in range(0, 1000, 30) if dispatch_due(t, grace=60, interval=30)]
    assert sweeps == [60, 120, 240, 480, 960]
    with pytest.raises(ValueError):
        dispatch_due(10, grace=0, interval=30)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def _queued_tasks(redis_url: str, queue: str) -> list[tuple[str, list]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        out = []
        for raw in client.lrange(queue, 0, -1):
            message = json.loads(raw)
            args = json.loads(base64.b64decode(message["body"]))[0]
            out.append((message["headers"]["task"], args))
        return out
    finally:
        client.delete(queue)
        client.close()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_jobs_queued_while_the_broker_is_down_are_sent_when_it_is_back(settings, developer, auditor, caplog):
    require_service("redis", "127.0.0.1", 6379)
    from governance.celery import app
    from governance.evaluations.jobs import redispatch_queued
    from governance.evaluations.services import evaluation_fail
    from governance.reports.services import pack_request
    from tests.factories import workflow
    from tests.factories.accounts import ADMIN, as_user, service_account
    from tests.factories.registry import model_version

    version = model_version(user=developer)
    workflow.good_evidence(version)
    pipeline = service_account()
    queue = f"mlgov-redispatch-test-{os.getpid()}-{random.randint(0, 1 << 30)}"
    keys = ("broker_url", "task_always_eager", "task_default_queue", "broker_connection_timeout")
    saved = {k: app.conf[k] for k in (*keys, "task_publish_retry_policy")}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.EVALUATION_SYNC_MAX_ROWS = 1000
    settings.JOB_DISPATCH_GRACE_SECONDS = 60
    settings.JOB_REDISPATCH_INTERVAL_SECONDS = 30
    try:
        # 1. The broker is unreachable: the jobs commit queued and the requests still answer.
        _configure(
            app,
            broker_url=f"redis://127.0.0.1:{_closed_port()}/0",
            task_always_eager=False,
            task_default_queue=queue,
            broker_connection_timeout=1,
            task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
        )
        rng = np.random.default_rng(3)
        y = rng.integers(0, 2, 5000)
        response = make_api_client(pipeline).post(
            "/api/v1/evaluations/",
            {
                "model_version": version.pk,
                "kind": "performance",
                "dataset": "large",
                "data": {"y_true": y.tolist(), "y_score": np.clip(0.4 * y + rng.uniform(0, 0.6, 5000), 0, 1).tolist()},
            },
            format="json",
        )
        assert response.status_code == 202, response.content
        evaluation = Evaluation.objects.get(pk=response.json()["id"])
        pack = pack_request(by=as_user(auditor), version=version, regime="sr11-7")
        assert evaluation.status == "queued"
        assert DocumentationPack.objects.get(pk=pack.pk).status == "queued"
        assert any("failed" in r.getMessage() for r in caplog.records if r.levelname == "ERROR"), (
            "the failed send is logged"
        )

        # 2. Still down at the first re-dispatch point: nothing is sent, nothing is written.
        created = max(evaluation.created_at, pack.created_at)
        assert redispatch_queued(now=created + dt.timedelta(seconds=61)) == {
            "evaluations": [],
            "documentation_packs": [],
        }
        assert Evaluation.objects.get(pk=evaluation.pk).status == "queued"

        # 3. The broker is back: the next re-dispatch point sends both tasks, once.
        redis_url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
        _configure(app, broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
        assert _queued_tasks(redis_url, queue) == []
        sent = redispatch_queued(now=created + dt.timedelta(seconds=121))
        assert sent == {"evaluations": [evaluation.pk], "documentation_packs": [pack.pk]}
        assert sorted(_queued_tasks(redis_url, queue)) == sorted(
            [("evaluations.run", [evaluation.pk]), ("reports.generate_pack", [pack.pk])]
        )
        # between two points the sweep sends nothing again (no flood of duplicates)
        assert redispatch_queued(now=created + dt.timedelta(seconds=151)) == {
            "evaluations": [],
            "documentation_packs": [],
        }
        assert _queued_tasks(redis_url, queue) == []
        # a job that is no longer queued is never sent again
        evaluation_fail(by=ADMIN, evaluation_id=evaluation.pk, reason="given up by the test")
        assert redispatch_queued(now=created + dt.timedelta(seconds=241))["evaluations"] == []
    finally:
        _configure(app, **saved)
