import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.models import AuditHead
from audit.verification import verify_database


class Command(BaseCommand):
    help = ("Re-verify the whole audit log in the database: canonical bytes, leaf hashes, seq, prev, "
            "head and checkpoint roots. Exits non-zero naming the first bad seq.")

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, chunk_size, no_progress, **options):
        total = AuditHead.objects.get(pk=1).size
        bar = tqdm(total=total, unit="entries", disable=no_progress or not sys.stderr.isatty(), file=sys.stderr)
        with bar:
            result = verify_database(progress=bar.update, chunk_size=chunk_size)
        if not result.ok:
            raise CommandError(result.line().replace("FAIL: ", "audit log FAILED verification: "))
        self.stdout.write(result.line())
