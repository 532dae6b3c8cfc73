"""Jobs stuck after a worker dies (issue 10, defect 8): a worker killed with SIGKILL mid-task on a real
Redis broker leaves the evaluation to be redelivered and finished within the visibility timeout; a web
process killed mid-computation without a broker leaves nothing ``running`` once a process serves again;
the reaper fails (or re-queues once) stale evaluations and packs with a reason."""

from __future__ import annotations

import importlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from governance.evaluations import jobs, services
from governance.evaluations import tasks as evaluation_tasks
from governance.evaluations.models import Evaluation
from governance.reports.models import DocumentationPack
from tests.celery_harness import _configure, _database_url, _wait_until_ready
from tests.conftest import make_api_client, require_service
from tests.factories import accounts as account_factories
from tests.factories import evaluations as f
from tests.factories import registry as registry_factories

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT = 6


def _trail(pk: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="evaluation", object_id=str(pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def _wait_for(pk: int, statuses: tuple[str, ...], timeout: float, what: str, log: Path | None = None) -> Evaluation:
    deadline = time.monotonic() + timeout
    while True:
        ev = Evaluation.objects.get(pk=pk)
        if ev.status in statuses:
            return ev
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            pytest.fail(f"{what}: evaluation {pk} is still {ev.status} after {timeout} s\n{tail}")
        time.sleep(0.2)


def _queued_evaluation(settings, monkeypatch, g) -> Evaluation:
    """A queued evaluation whose task was handed over but not run here (the 'broker' keeps it)."""
    sent = []
    monkeypatch.setattr(evaluation_tasks.evaluation_run, "enqueue", lambda caller, pk: sent.append(pk))
    settings.EVALUATION_SYNC_MAX_ROWS = 10
    pipeline = account_factories.service_account()
    version = registry_factories.model_version()
    ev = services.evaluation_create(
        by=account_factories.as_user(pipeline),
        model_version=version,
        kind="performance",
        dataset="h",
        data=f.performance_data(g),
    ).evaluation
    assert ev.status == "queued" and sent in ([], [ev.pk])  # [] while the test transaction never commits
    monkeypatch.undo()
    return ev


def _env(settings, **extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "AUDIT_SIGNING_KEY_FILE": settings.AUDIT_SIGNING_KEY_FILE,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=20)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_web_process_killed_mid_computation_leaves_nothing_running(settings, monkeypatch, tmp_path, g):
    """No broker: the web process computes in the request. Killed mid-computation (SIGKILL), it leaves the
    evaluation running; the first request of the next process fails it with the reason."""
    assert settings.CELERY_TASK_ALWAYS_EAGER
    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(
        __import__("django.apps", fromlist=["apps"]).apps, None
    )
    ev = _queued_evaluation(settings, monkeypatch, g)
    log = tmp_path / "runner.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.evaluations.slow_runner", "run", str(ev.pk)],
            cwd=ROOT,
            env=_env(settings, SLOW_COMPUTE="300"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        running = _wait_for(ev.pk, ("running",), 90, "the computing process never started", log)
        assert running.result["runner"]["pid"] == proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        _stop(proc)
    assert Evaluation.objects.get(pk=ev.pk).status == "running"  # what a restart used to leave for good
    monkeypatch.setattr(jobs, "_orphans_checked", jobs.threading.Event())  # a new web process
    resp = make_api_client(ev.created_by).get(f"/api/v1/evaluations/{ev.pk}/")
    assert resp.status_code == 200 and resp.json()["status"] == "failed"
    ev.refresh_from_db()
    assert (
        f"pid {proc.pid}) stopped before finishing" in ev.failure_reason
        and "post the evaluation again" in ev.failure_reason
    )
    assert _trail(ev.pk) == ["evaluation.create", "evaluation.start", "evaluation.fail"]
    fail = AuditEvent.objects.get(object_type="evaluation", object_id=str(ev.pk), action="evaluation.fail")
    assert fail.actor_id == jobs.REAPER_ACTOR


def _post_killed(g, kind: str):
    """An inline performance evaluation (in-memory path), or a Parquet table computed out of core."""
    api = make_api_client(account_factories.service_account())
    version = registry_factories.model_version()
    if kind == "inline":
        body = {"model_version": version.pk, "kind": "performance", "dataset": "killed", "data": f.performance_data(g)}
        return api.post("/api/v1/evaluations/", body, format="json")
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    cols, mapping = f.fairness_table(g, slice(0, 1000))
    content = f.table_bytes({name: list(values) * 30 for name, values in cols.items()}, "parquet")
    body = {
        "model_version": str(version.pk),
        "kind": "fairness",
        "dataset": "killed",
        "file": SimpleUploadedFile("large.parquet", content),
        "columns": json.dumps(mapping),
    }
    return api.post("/api/v1/evaluations/", body, format="multipart")


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["inline", "out_of_core"])
def test_worker_killed_mid_task_on_redis_is_redelivered_and_finishes(settings, tmp_path, g, kind):
    """acks_late + the visibility timeout: the message of a worker killed with SIGKILL goes to the next
    worker, which computes the (idempotent) evaluation again and finishes it; the same for a large table
    computed out of core (issue 15: never ``running`` for good)."""
    require_service("redis", "127.0.0.1", 6379)
    from django.apps import apps

    from governance.celery import app

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)
    broker_url = f"redis://127.0.0.1:6379/{random.choice((5, 6, 7, 8))}"
    queue = f"mlgov-stuck-test-{os.getpid()}-{random.randint(0, 1 << 30)}"
    env = _env(
        settings,
        CELERY_BROKER_URL=broker_url,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        EVALUATION_OUT_OF_CORE_MIN_ROWS="1000",
        EVALUATION_OUT_OF_CORE_THREADS="1",
    )

    def worker(name: str, log: Path, *, slow: bool) -> subprocess.Popen:
        module = ["-m", "tests.evaluations.slow_runner"] if slow else ["-m", "celery", "-A", "governance"]
        args = ["worker", "--pool=solo", "--loglevel=INFO", "-Q", queue, "-n", f"{name}-{queue}@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(log, "w") as out:
            return subprocess.Popen(
                [sys.executable, *module, *args],
                cwd=ROOT,
                env={**env, "SLOW_COMPUTE": "300" if slow else "0"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "task_default_queue")}
    first = second = None
    log1, log2 = tmp_path / "worker1.log", tmp_path / "worker2.log"
    try:
        _configure(app, broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
        first = worker("first", log1, slow=True)
        _wait_until_ready(broker_url, first, log1)
        settings.EVALUATION_SYNC_MAX_ROWS = 10
        resp = _post_killed(g, kind)
        assert resp.status_code == 202, resp.json()
        pk = resp.json()["id"]
        running = _wait_for(pk, ("running",), 90, "the first worker never started the task", log1)
        assert running.result["runner"]["pid"] == first.pid
        first.send_signal(signal.SIGKILL)  # mid-task: the message stays unacknowledged in Redis
        first.wait(timeout=20)
        killed_at = time.monotonic()
        second = worker("second", log2, slow=False)
        # redelivered once the visibility timeout has passed, then computed: allow for start-up under load
        done = _wait_for(pk, ("done", "failed"), VISIBILITY_TIMEOUT + 90, "not redelivered", log2)
        assert done.status == "done", done.failure_reason
        assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT - 1  # it was the broker's redelivery
        assert _trail(pk) == ["evaluation.create", "evaluation.start", "evaluation.start", "evaluation.complete"]
        restart = AuditEvent.objects.filter(object_id=str(pk), action="evaluation.start").order_by("seq").last()
        assert b'"restart":true' in bytes(restart.record)
        assert done.started_at > running.started_at and "runner" not in done.result
        if kind == "out_of_core":
            assert done.result["computed_out_of_core"] is True and done.input_rows == 30_000
    finally:
        _configure(app, **saved)
        _stop(first)
        _stop(second)


@pytest.mark.django_db
def test_reaper_fails_stale_running_evaluations_and_packs_with_a_reason(settings, monkeypatch, g):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    ev = _queued_evaluation(settings, monkeypatch, g)
    fresh = _queued_evaluation(settings, monkeypatch, g)
    # the first one has made no progress for longer than JOB_STALE_SECONDS (its worker is on another host)
    old = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 60)
    elsewhere = {"host": "worker-9.example", "pid": 4242, "pid_start": "1"}
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: old)
        services.evaluation_start(by=account_factories.ADMIN, evaluation_id=ev.pk, runner=elsewhere)
    services.evaluation_start(by=account_factories.ADMIN, evaluation_id=fresh.pk, runner=elsewhere)
    pack = DocumentationPack.objects.create(
        model_version=ev.model_version, regime="sr11-7", as_of_seq=0, requested_by=ev.created_by, status="rendering"
    )
    DocumentationPack.objects.filter(pk=pack.pk).update(created_at=old)
    call_command("reap_stale_jobs", "--dry-run")
    assert Evaluation.objects.get(pk=ev.pk).status == "running"
    report = jobs.reap_stale_jobs()
    assert report.failed == [ev.pk] and report.packs_failed == [pack.pk]
    ev.refresh_from_db()
    assert ev.status == "failed" and "no progress for more than" in ev.failure_reason
    assert Evaluation.objects.get(pk=fresh.pk).status == "running"
    pack.refresh_from_db()
    assert pack.status == "failed" and "JOB_STALE_SECONDS" in pack.failure_reason
    assert AuditEvent.objects.filter(action="report.fail", object_id=str(pack.pk)).count() == 1
    # a second pass finds nothing left to do
    assert jobs.reap_stale_jobs().as_dict() == {
        "evaluations_requeued": [],
        "evaluations_failed": [],
        "evaluations_resent": [],
        "packs_failed": [],
    }


@pytest.mark.django_db
def test_a_redelivered_running_evaluation_is_computed_again_and_a_finished_one_is_left_alone(settings, monkeypatch, g):
    ev = _queued_evaluation(settings, monkeypatch, g)
    services.evaluation_start(by=account_factories.ADMIN, evaluation_id=ev.pk, runner={"host": "gone", "pid": 1})
    done = services.evaluation_run(by=account_factories.ADMIN, evaluation_id=ev.pk)  # the redelivered task
    assert done.status == "done"
    assert services.evaluation_run(by=account_factories.ADMIN, evaluation_id=ev.pk) is None  # delivered once more
    assert _trail(ev.pk) == ["evaluation.create", "evaluation.start", "evaluation.start", "evaluation.complete"]
