from django.core.management.base import BaseCommand

from audit.checkpoints import public_keys


class Command(BaseCommand):
    help = "Print the audit log's public key(s) in the signed-note verifier-key format, one per line."

    def handle(self, *args: object, **options: object) -> None:
        for key in public_keys():
            self.stdout.write(key)
