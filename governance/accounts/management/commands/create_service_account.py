from django.core.management.base import BaseCommand, CommandError

from governance.accounts.principal import Principal
from governance.accounts.services import service_account_create
from governance.common.errors import DomainError


class Command(BaseCommand):
    help = "Create a pipeline service account (role 'pipeline') and print its first API token, once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="account name, e.g. credit-scoring-pipeline")
        parser.add_argument("--email", default="")
        parser.add_argument("--expires-days", type=int, default=None, help="token lifetime (default: settings)")

    def handle(self, *args, name, email, expires_days, **options):
        try:
            user, key = service_account_create(
                by=Principal.for_command("create_service_account"), name=name, email=email, expires_days=expires_days
            )
        except DomainError as exc:
            raise CommandError(
                f"{exc.message}. Use `manage.py issue_token {name}` for a new token of an existing account."
            ) from exc
        self.stderr.write(f"Created service account {user.username}. Its token (shown once, stored hashed):")
        self.stdout.write(key)
