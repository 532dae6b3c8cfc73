import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.models import AuditPendingEvent
from audit.services import SEQUENCE_BATCH, audit_pending_sequence

REPORT_EVERY = 10.0  # seconds between progress lines


class Command(BaseCommand):
    help = (
        "Append the audit events that committed as pending (AUDIT_SEQUENCING=deferred) to the log, "
        "continuously. Run exactly one or several: only one sequences at a time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="sequence what is pending now, then exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=0.05,
            help="seconds to wait after a round that emptied the queue (default 0.05): events "
            "gather meanwhile and are appended in one transaction",
        )

    def handle(self, *args: object, once: bool, interval: float, **options: object) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "the sequencer needs PostgreSQL (set DATABASE_URL); on SQLite events are "
                "always sequenced inline and there is nothing to do"
            )
        if once:
            self.stdout.write(f"sequenced {audit_pending_sequence()} pending event(s)")
            return
        if settings.AUDIT_SEQUENCING != "deferred":
            self.stderr.write(
                "AUDIT_SEQUENCING is not 'deferred': new events are sequenced inline; "
                "this process only drains events left pending"
            )
        self.stdout.write(
            f"sequencing pending audit events ({AuditPendingEvent.objects.count()} waiting); Ctrl-C to stop"
        )
        total, window, last_report = 0, 0, time.monotonic()
        try:
            while True:
                count = audit_pending_sequence()
                total += count
                window += count
                if time.monotonic() - last_report >= REPORT_EVERY:
                    if window:
                        self.stdout.write(
                            f"sequenced {window} event(s) in the last {REPORT_EVERY:.0f} s ({total} since start)"
                        )
                    window, last_report = 0, time.monotonic()
                if count < SEQUENCE_BATCH:  # caught up: let the next batch gather
                    time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write(f"stopped; sequenced {total} event(s)")
