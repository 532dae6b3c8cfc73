from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.triggers import app_role_grants


class Command(BaseCommand):
    help = (
        "Print the SQL that gives the application's PostgreSQL role the grants it needs and no more "
        "(run it as the owner role after each migrate; see docs/operations.md, 'Database roles')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the role the web, worker and sequencer processes log in as")

    def handle(self, *args: object, role: str, **options: object) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("database roles apply to PostgreSQL only (set DATABASE_URL)")
        with connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(%s), quote_ident(current_schema())", [role])
            quoted, schema = cursor.fetchone()
        for statement in app_role_grants(quoted, schema):
            self.stdout.write(statement + ";")
