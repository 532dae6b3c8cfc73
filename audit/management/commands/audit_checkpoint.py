from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import CheckpointRefused, checkpoint_create, latest_checkpoint


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit log now (if it grew since the last one) and print it."

    def handle(self, *args: object, **options: object) -> None:
        try:
            created = checkpoint_create()
        except CheckpointRefused as exc:
            raise CommandError(str(exc)) from exc
        checkpoint = created or latest_checkpoint()
        if checkpoint is None:
            raise CommandError("the audit log is empty: nothing to checkpoint")
        self.stderr.write("Signed a new checkpoint:" if created else "No new entries; the latest checkpoint is:")
        self.stdout.write(checkpoint.note, ending="")
