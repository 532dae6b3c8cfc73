from django.core.management.base import BaseCommand, CommandError

from governance.accounts.principal import Principal
from governance.accounts.services import api_token_issue, user_by_username
from governance.common.errors import DomainError


class Command(BaseCommand):
    help = "Issue a new API token for an existing person or service account and print it, once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-days", type=int, default=None, help="token lifetime in days (default: 90)")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args, username, expires_days, name, **options):
        try:
            user = user_by_username(username)
            token, key = api_token_issue(
                by=Principal.for_command("issue_token"), user=user, name=name, expires_days=expires_days
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Token {token.prefix} for {user.username}, expires {token.expires_at:%Y-%m-%d}. Shown once, stored hashed:"
        )
        self.stdout.write(key)
