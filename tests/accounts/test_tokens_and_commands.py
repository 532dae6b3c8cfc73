from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from governance.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_service_account_prints_a_working_token_once():
    key, message = run("create_service_account", "scoring-pipeline")
    assert "shown once" in message
    user = User.objects.get(username="scoring-pipeline")
    assert user.is_service_account and user.role_names == ["pipeline"]
    token = ApiToken.objects.get(user=user)
    assert key not in (token.key_sha256, token.prefix) and token.key_sha256 != key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/models/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions[-2:] == ["user.create", "api_token.issue"]
    with pytest.raises(CommandError, match="already exists"):
        run("create_service_account", "scoring-pipeline")


def test_issue_token_with_expiry(developer):
    key, message = run("issue_token", developer.username, "--expires-days", "7")
    token = ApiToken.objects.get(user=developer)
    assert (token.expires_at - token.created_at).days == 7
    assert key.startswith(f"mlg_{token.prefix}_")
    event = AuditEvent.objects.filter(action="api_token.issue").last()
    assert event.actor_id == "cli:issue_token" and event.actor_type == "system"
    with pytest.raises(CommandError, match="no user named"):
        run("issue_token", "nobody")
    with pytest.raises(CommandError, match="between 1 and 3650"):
        run("issue_token", developer.username, "--expires-days", "0")


def test_humans_may_use_their_own_tokens(risk_officer):
    key, _ = run("issue_token", risk_officer.username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/versions/").status_code == 200


def test_roles_are_groups_with_permissions():
    from django.contrib.auth.models import Group

    names = set(Group.objects.values_list("name", flat=True))
    assert {"developer", "validator", "risk_officer", "auditor", "pipeline"} <= names
    auditor = Group.objects.get(name="auditor")
    codenames = set(auditor.permissions.values_list("codename", flat=True))
    assert "view_auditevent" in codenames and not any(c.startswith(("add_", "change_")) for c in codenames)
