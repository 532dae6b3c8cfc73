"""Raise revalidation flags for overdue tier-1 production versions now (what the daily beat job does)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from audit.context import request_context
from governance.accounts.principal import Principal


class Command(BaseCommand):
    help = "Raise a revalidation flag for every tier-1 production version whose revalidation is overdue."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="Judge as of this date (YYYY-MM-DD) instead of today.")

    def handle(self, *args, today=None, **options):
        from governance.oversight import services

        day = None
        if today:
            try:
                day = dt.date.fromisoformat(today)
            except ValueError as exc:
                raise CommandError(f"--today must be a date such as 2026-12-31, got {today!r}") from exc
        with request_context(origin="manage"):
            flags = services.revalidation_flags_raise(by=Principal.for_command("flag_overdue_revalidations"), today=day)
        for flag in flags:
            self.stdout.write(f"flagged {flag.model_version} (revalidation due {flag.due_on.isoformat()})")
        self.stdout.write(self.style.SUCCESS(f"{len(flags)} revalidation flag(s) raised"))
