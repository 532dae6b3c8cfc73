import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.models import AuditHead, AuditPendingEvent
from audit.verification import record_verification


class Command(BaseCommand):
    help = (
        "Re-verify the whole audit log in the database: canonical bytes, leaf hashes, seq, prev, head, and the "
        "root and signature of every checkpoint. Exits non-zero naming the first bad seq. On PostgreSQL the "
        "log is checked in chunks by worker processes (--jobs); any anomaly is re-checked sequentially, so "
        "the report is the same."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--state",
            action="store_true",
            help="also replay the log's events and compare the governed tables with them, naming the first "
            "table, row and field that differs (audit.state)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            metavar="N",
            help="worker processes that check the log in parallel (default: the CPU count on "
            "PostgreSQL, 1 on SQLite; 1 = sequential in this process)",
        )

        parser.add_argument(
            "--incremental",
            action="store_true",
            help="only the entries since the last verified checkpoint, plus the consistency from it "
            "(a full pass when no run has succeeded yet)",
        )

    def handle(
        self,
        *args: object,
        no_progress: bool,
        jobs: int | None,
        state: bool = False,
        incremental: bool = False,
        **options: object,
    ) -> None:
        if jobs is not None and jobs < 1:
            raise CommandError("--jobs must be at least 1")
        total = AuditHead.objects.get(pk=1).size
        bar = tqdm(
            total=total,
            unit="entries",
            disable=no_progress or not sys.stderr.isatty(),
            file=sys.stderr,
            desc="verifying",
        )
        with bar:
            run = record_verification(
                trigger="manual", progress=bar.update, jobs=jobs, mode="incremental" if incremental else "full"
            )
        if not run.ok:
            raise CommandError(run.message.replace("FAIL: ", "audit log FAILED verification: "))
        self.stdout.write(run.message)
        if state:
            from audit.state import verify_state

            result = verify_state()
            if not result.ok:
                raise CommandError(
                    result.message.replace("FAIL: ", "governed state differs from the audit log: ")
                    + ". Find who changed it outside the services (database logs), then restore the row from the log."
                )
            self.stdout.write(result.message)
        pending = AuditPendingEvent.objects.count()
        if pending:
            self.stdout.write(
                f"{pending} committed event(s) are awaiting sequencing (AUDIT_SEQUENCING=deferred) and "
                "are not in the log yet: is manage.py audit_sequencer running?"
            )
