"""manage.py reap_stale_jobs: re-queue or fail evaluations and packs stuck after a worker died."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.context import request_context
from governance.evaluations.jobs import reap_stale_jobs


class Command(BaseCommand):
    help = (
        "Re-queue (with a broker, once) or fail with a reason the evaluations and documentation packs "
        "that made no progress for JOB_STALE_SECONDS or whose computing process on this host is gone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-seconds",
            type=int,
            default=None,
            help=f"no progress for this long means stuck (default JOB_STALE_SECONDS = {settings.JOB_STALE_SECONDS})",
        )
        parser.add_argument("--dry-run", action="store_true", help="only list what would be re-queued or failed")

    def handle(self, *args, stale_seconds=None, dry_run=False, **options):
        with request_context(origin="manage"):
            report = reap_stale_jobs(stale_seconds=stale_seconds, dry_run=dry_run).as_dict()
        total = sum(len(v) for v in report.values())
        prefix = "would act on" if dry_run else "acted on"
        self.stdout.write(f"{prefix} {total} stuck job(s): {json.dumps(report)}")
