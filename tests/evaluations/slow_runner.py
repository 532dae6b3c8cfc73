"""A process whose evaluation computation first sleeps SLOW_COMPUTE seconds, so a test can kill it
mid-task with SIGKILL: ``python -m tests.evaluations.slow_runner worker <celery worker options>`` runs
a Celery worker; ``python -m tests.evaluations.slow_runner run <evaluation id>`` computes one queued
evaluation the way the web process does without a broker (eagerly, in the process)."""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django.setup()

from governance.evaluations.services import run  # noqa: E402

_compute = run.compute
_compute_out_of_core = run._compute_out_of_core


def _slow_compute(*args, **kwargs):
    time.sleep(float(os.environ.get("SLOW_COMPUTE", "0")))
    return _compute(*args, **kwargs)


def _slow_compute_out_of_core(*args, **kwargs):
    time.sleep(float(os.environ.get("SLOW_COMPUTE", "0")))
    return _compute_out_of_core(*args, **kwargs)


run.compute = _slow_compute
run._compute_out_of_core = _slow_compute_out_of_core

if __name__ == "__main__":
    if sys.argv[1] == "worker":
        from governance.celery import app

        app.worker_main(sys.argv[1:])
    elif sys.argv[1] == "run":
        from governance.evaluations.tasks import evaluation_run

        evaluation_run(int(sys.argv[2]))
    else:
        raise SystemExit("usage: slow_runner worker ... | run <evaluation id>")
