import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.checkpoints import head
from audit.export import export_bundle


class Command(BaseCommand):
    help = (
        "Export the audit log for an offline audit: OUTPUT is a new directory or a file ending in .zip. "
        "Signs a checkpoint first so every exported entry is covered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, output: str, no_progress: bool, **options: object) -> None:
        bar = tqdm(
            total=head().size,
            unit="entries",
            desc="exporting",
            file=sys.stderr,
            disable=no_progress or not sys.stderr.isatty(),
        )
        try:
            with bar:
                summary = export_bundle(output, progress=bar.update)
        except (ValueError, FileExistsError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Exported {summary['size']} entries and {summary['checkpoints']} checkpoint(s) of "
            f"{summary['origin']} to {summary['path']} (root {summary['root']})."
        )
        self.stdout.write(f"Verify offline: python audit/verifier.py {summary['path']} --key <pinned key file>")
