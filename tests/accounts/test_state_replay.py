"""State verification of the governed account tables (issue 10, defect 2): people, their roles and
permissions, API tokens and single sign-on links are rebuilt from the log's events; a raw edit
behind the services is named by table, row and field (on SQLite, and on PostgreSQL as a database
owner who lifts the guard triggers)."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from audit.state import verify_state
from governance.accounts import services
from governance.accounts.models import ApiToken, OidcIdentity, User
from governance.accounts.oidc import sso_login
from tests.audit.helpers import raw_write
from tests.factories.accounts import ADMIN, as_user, person

pytestmark = pytest.mark.django_db(transaction=True)

ISSUER = "https://login.example.test"


def _last(action: str) -> dict:
    return json.loads(bytes(AuditEvent.objects.filter(action=action).latest("seq").record))


def _admin_change_data(user: User, **overrides) -> dict:
    """The admin's change form for ``user`` as a browser would post it back unchanged."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    for flag in ("is_active", "is_staff", "is_superuser", "is_service_account"):
        if getattr(user, flag):
            data[flag] = "on"
    for name, value in overrides.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


@pytest.fixture
def accounts(settings, client):
    """Demo-like accounts, each made through its path: people and a superuser (the service, as
    seed_demo makes them), a pipeline account and its token, a person's token issued then revoked,
    roles changed, a person created and edited in the admin (roles, a permission, the date joined),
    and two single sign-on people linked just in time, one whose groups changed at the provider."""
    settings.OIDC_GROUP_ROLE_MAP = {"risk": "risk_officer", "validators": "validator", "auditors": "auditor"}
    admin = person(username="admin", is_superuser=True)
    dana = person("developer", username="dana.developer")
    rita = person("risk_officer", username="rita.risk")
    pipeline, _ = services.service_account_create(by=ADMIN, name="credit-pipeline", expires_days=365)
    token, _ = services.api_token_issue(by=as_user(rita), user=dana, name="laptop", expires_days=30)
    services.api_token_revoke(by=as_user(rita), token=token)
    services.user_roles_set(by=ADMIN, user=dana, roles=["developer", "validator"])

    client.force_login(admin)
    response = client.post(
        "/admin/accounts/user/add/",
        {"username": "alex.auditor", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"},
    )
    assert response.status_code == 302, response.content[:2000]
    alex = User.objects.get(username="alex.auditor")
    auditor_group = Group.objects.get(name="auditor")
    permission = Permission.objects.get(codename="view_auditevent")
    response = client.post(
        f"/admin/accounts/user/{alex.pk}/change/",
        _admin_change_data(
            alex,
            email="alex@example.com",
            first_name="Alex",
            is_staff="on",
            groups=[str(auditor_group.pk)],
            user_permissions=[str(permission.pk)],
        ),
    )
    assert response.status_code == 302, response.content[:2000]

    victor = sso_login(
        issuer=ISSUER,
        claims={
            "sub": "00u-victor",
            "preferred_username": "victor",
            "email": "victor@example.com",
            "groups": ["validators"],
        },
    ).user
    sso_login(
        issuer=ISSUER,
        claims={"sub": "00u-victor", "preferred_username": "victor", "groups": ["validators", "auditors"]},
    )
    ada = sso_login(issuer=ISSUER, claims={"sub": "00u-ada", "preferred_username": "ada", "groups": ["risk"]}).user
    return {
        "admin": admin,
        "dana": dana,
        "rita": rita,
        "pipeline": pipeline,
        "token": token,
        "pipeline_token": ApiToken.objects.get(user=pipeline),
        "alex": alex,
        "victor": victor,
        "ada": ada,
        "identity": OidcIdentity.objects.get(user=victor),
    }


def test_accounts_made_through_every_path_replay_clean(accounts):
    result = verify_state()
    assert result.ok, result.message
    assert "accounts" in result.replayers
    alex = accounts["alex"]
    assert alex.groups.get().name == "auditor" and alex.user_permissions.get().codename == "view_auditevent"
    assert accounts["victor"].role_names == ["auditor", "validator"]
    call_command("audit_verify", "--state", "--no-progress")


def test_the_demo_people_replay_clean(settings, tmp_path):
    """seed_demo's people (one per role, a superuser) and its pipeline account with its token."""
    from django.core.management.base import BaseCommand

    from governance.accounts.principal import Principal
    from governance.api.management.commands import seed_demo

    settings.VAR_DIR = tmp_path
    seed_demo.seed_people(BaseCommand(), Principal.for_command("seed_demo"))
    assert User.objects.count() == 7 and ApiToken.objects.count() == 1
    result = verify_state()
    assert result.ok, result.message


def test_the_events_carry_what_the_replay_checks(accounts):
    """The fields a replay needs are in the events the services already append (no secret: only
    the SHA-256 of a token's 256-bit random key, never a password hash)."""
    created = _last("user.create")["data"]
    assert {"email", "first_name", "last_name", "is_active", "date_joined"} <= set(created)
    issued = _last("api_token.issue")
    token = ApiToken.objects.get(pk=issued["object"]["id"])
    assert issued["data"]["key_sha256"] == token.key_sha256 and issued["data"]["created_at"]
    assert _last("api_token.revoke")["data"]["revoked_at"]
    link = _last("sso.identity.link")["data"]
    assert link["identity"] == OidcIdentity.objects.get(user=accounts["ada"]).pk
    assert not any(
        "password" in json.dumps(json.loads(bytes(e.record))["data"]).replace("password_changed", "")
        for e in AuditEvent.objects.filter(action__startswith="user.")
    )


@pytest.mark.parametrize(
    "sql, table, who, field, expected",
    [
        (
            "UPDATE accounts_user SET is_superuser = %(true)s WHERE id = {dana}",
            "accounts_user",
            "dana",
            "is_superuser",
            False,
        ),
        (
            "UPDATE accounts_user SET email = 'evil@example.com' WHERE id = {alex}",
            "accounts_user",
            "alex",
            "email",
            "alex@example.com",
        ),
        (
            "UPDATE accounts_user SET username = 'someone-else' WHERE id = {rita}",
            "accounts_user",
            "rita",
            "username",
            "rita.risk",
        ),
        (
            "UPDATE accounts_user SET is_active = %(false)s WHERE id = {victor}",
            "accounts_user",
            "victor",
            "is_active",
            True,
        ),
        (
            "UPDATE accounts_user SET is_service_account = %(false)s WHERE id = {pipeline}",
            "accounts_user",
            "pipeline",
            "is_service_account",
            True,
        ),
        (
            "UPDATE accounts_user SET date_joined = '2001-01-01 00:00:00' WHERE id = {dana}",
            "accounts_user",
            "dana",
            "date_joined",
            None,
        ),
        (
            "UPDATE accounts_apitoken SET revoked_at = NULL WHERE id = {token}",
            "accounts_apitoken",
            "token",
            "revoked_at",
            None,
        ),
        (
            "UPDATE accounts_apitoken SET expires_at = '2099-01-01 00:00:00+00' WHERE id = {pipeline_token}",
            "accounts_apitoken",
            "pipeline_token",
            "expires_at",
            None,
        ),
        (
            "UPDATE accounts_apitoken SET key_sha256 = '{zeros}' WHERE id = {pipeline_token}",
            "accounts_apitoken",
            "pipeline_token",
            "key_sha256",
            None,
        ),
        (
            "UPDATE accounts_apitoken SET user_id = {admin} WHERE id = {pipeline_token}",
            "accounts_apitoken",
            "pipeline_token",
            "user",
            None,
        ),
        (
            "UPDATE accounts_oidcidentity SET subject = '00u-mallory' WHERE id = {identity}",
            "accounts_oidcidentity",
            "identity",
            "subject",
            "00u-victor",
        ),
        (
            "UPDATE accounts_oidcidentity SET user_id = {admin} WHERE id = {identity}",
            "accounts_oidcidentity",
            "identity",
            "user",
            None,
        ),
    ],
)
def test_a_raw_update_of_an_account_table_is_named(accounts, sql, table, who, field, expected):
    ids = {name: obj.pk for name, obj in accounts.items()}
    true, false = ("true", "false") if connection.vendor == "postgresql" else ("1", "0")
    raw_write(sql.format(**ids, zeros="0" * 64) % {"true": true, "false": false})
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(ids[who]), field), result.message
    if expected is not None:
        assert d.expected == expected
    if field == "user":
        assert d.expected == str(accounts["pipeline" if table == "accounts_apitoken" else "victor"].pk)


def test_a_role_granted_behind_the_services_is_named_by_its_row(accounts):
    dana = accounts["dana"]
    risk = Group.objects.get(name="risk_officer")
    raw_write("INSERT INTO accounts_user_groups (user_id, group_id) VALUES (%s, %s)", [dana.pk, risk.pk])
    row = User.groups.through.objects.get(user=dana, group=risk).pk
    d = verify_state().divergence
    assert (d.table, d.row, d.field) == ("accounts_user_groups", str(row), "(row)")
    assert d.stored == f"user {dana.pk} holds group risk_officer"
    assert "['developer', 'validator']" in d.expected


def test_a_role_removed_behind_the_services_is_named_by_its_user(accounts):
    rita = accounts["rita"]
    raw_write("DELETE FROM accounts_user_groups WHERE user_id = %s", [rita.pk])
    d = verify_state().divergence
    assert (d.table, d.row, d.field, d.stored) == ("accounts_user_groups", f"user {rita.pk}", "(row)", "missing")
    assert d.expected == f"user {rita.pk} holds group risk_officer"


def test_a_permission_granted_behind_the_services_is_named(accounts):
    dana = accounts["dana"]
    permission = Permission.objects.get(codename="change_modelversion")
    raw_write(
        "INSERT INTO accounts_user_user_permissions (user_id, permission_id) VALUES (%s, %s)", [dana.pk, permission.pk]
    )
    d = verify_state().divergence
    assert (d.table, d.field) == ("accounts_user_user_permissions", "(row)")
    assert d.stored == f"user {dana.pk} holds permission change_modelversion"


def test_an_account_or_token_inserted_behind_the_services_is_named(accounts):
    true, false = ("true", "false") if connection.vendor == "postgresql" else ("1", "0")
    raw_write(
        "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
        f"is_active, date_joined, is_service_account) VALUES ('!', {true}, 'mallory', '', '', '', {true}, {true}, "
        f"'2026-01-01 00:00:00+00', {false})"
    )
    mallory = User.objects.get(username="mallory")
    d = verify_state().divergence
    assert (d.table, d.row, d.field, d.stored) == ("accounts_user", str(mallory.pk), "(row)", "present")


def test_a_token_inserted_or_deleted_behind_the_services_is_named(accounts):
    dana = accounts["dana"]
    raw_write(
        "INSERT INTO accounts_apitoken (user_id, name, prefix, key_sha256, created_at) "
        "VALUES (%s, 'backdoor', 'deadbeef', %s, '2026-01-01 00:00:00+00')",
        [dana.pk, "a" * 64],
    )
    extra = ApiToken.objects.get(prefix="deadbeef").pk
    d = verify_state().divergence
    assert (d.table, d.row, d.field, d.stored) == ("accounts_apitoken", str(extra), "(row)", "present")
    raw_write("DELETE FROM accounts_apitoken WHERE id = %s", [extra])
    raw_write("DELETE FROM accounts_apitoken WHERE id = %s", [accounts["token"].pk])
    d = verify_state().divergence
    assert (d.table, d.row, d.field, d.stored) == ("accounts_apitoken", str(accounts["token"].pk), "(row)", "missing")


def test_an_identity_deleted_behind_the_services_is_named(accounts):
    identity = accounts["identity"]
    raw_write("DELETE FROM accounts_oidcidentity WHERE id = %s", [identity.pk])
    d = verify_state().divergence
    assert (d.table, d.row, d.field, d.stored) == ("accounts_oidcidentity", str(identity.pk), "(row)", "missing")


def test_a_username_posted_to_the_admin_change_form_is_ignored_and_verification_stays_clean(accounts, client):
    """Usernames are immutable: tables name people by username in their events (a model's owner, a
    token's user), so a rename would make verification report them as diverging. The change form
    shows the username read-only and ignores one posted anyway."""
    from tests.factories.registry import registered_model

    dana = accounts["dana"]
    registered_model(owner=dana)
    client.force_login(accounts["admin"])
    page = client.get(f"/admin/accounts/user/{dana.pk}/change/")
    assert page.status_code == 200
    assert b'name="username"' not in page.content and b"dana.developer" in page.content
    updates = AuditEvent.objects.filter(action__startswith="user.update").count()
    response = client.post(f"/admin/accounts/user/{dana.pk}/change/", _admin_change_data(dana, username="dana.d"))
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(pk=dana.pk).username == "dana.developer"
    assert AuditEvent.objects.filter(action__startswith="user.update").count() == updates
    services.api_token_issue(by=ADMIN, user=dana, name="after the attempt")
    result = verify_state()
    assert result.ok, result.message


def test_a_username_change_is_refused_and_the_refusal_recorded(accounts):
    from audit.guard import UnauditedWriteRefused
    from governance.common.errors import Conflict

    dana = accounts["dana"]
    services.user_username_keep(by=ADMIN, user=dana, username="dana.developer")  # unchanged: allowed
    assert not AuditEvent.objects.filter(action="user.update.denied").exists()
    with pytest.raises(Conflict, match="cannot change once the account exists") as refused:
        services.user_username_keep(by=ADMIN, user=dana, username="dana.d")
    assert refused.value.field == "username"
    denied = _last("user.update.denied")
    assert denied["object"]["username"] == "dana.developer" and denied["data"]["requested"] == "dana.d"
    with pytest.raises(UnauditedWriteRefused):
        User.objects.filter(pk=dana.pk).update(username="dana.d")
    assert User.objects.get(pk=dana.pk).username == "dana.developer"
    assert verify_state().ok


# --- paths that changed a governed account table without an audit event ----------------------------------------


def test_an_admin_save_keeps_the_date_joined(accounts, client):
    """The admin's form held the date joined to the second and let it be edited: every save rewrote
    it, and a save that changed nothing else appended no event (on PostgreSQL its commit failed)."""
    client.force_login(accounts["admin"])
    dana = accounts["dana"]
    joined = dana.date_joined
    response = client.post(
        f"/admin/accounts/user/{dana.pk}/change/",
        _admin_change_data(dana, date_joined_0="2020-02-03", date_joined_1="04:05:06"),
    )
    assert response.status_code == 302, response.content[:2000]
    dana.refresh_from_db()
    assert dana.date_joined == joined
    result = verify_state()
    assert result.ok, result.message


def test_the_admin_password_page_writes_the_password_alone_and_records_it(accounts, client):
    """The page saved the whole row with no event: on PostgreSQL the guard refused the commit (500)."""
    client.force_login(accounts["admin"])
    dana = accounts["dana"]
    response = client.post(
        f"/admin/accounts/user/{dana.pk}/password/",
        {"usable_password": "true", "password1": "a-new-long-pass-phrase", "password2": "a-new-long-pass-phrase"},
    )
    assert response.status_code == 302 and response.url.endswith(f"/{dana.pk}/change/"), response.content[:2000]
    dana.refresh_from_db()
    assert dana.check_password("a-new-long-pass-phrase")
    event = _last("user.update")
    assert event["object"]["id"] == str(dana.pk) and event["data"] == {"changes": {}, "password_changed": True}
    result = verify_state()
    assert result.ok, result.message


def test_changepassword_writes_the_password_alone(accounts, monkeypatch):
    """``manage.py changepassword`` saved the whole row: on PostgreSQL the guard refused its commit
    (the governed columns were rewritten with no event). The password is bookkeeping, not replayed."""
    dana = accounts["dana"]
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-long-pass-phrase-2")
    call_command("changepassword", dana.username, stdout=io.StringIO())
    dana.refresh_from_db()
    assert dana.check_password("a-new-long-pass-phrase-2")
    result = verify_state()
    assert result.ok, result.message


def test_createsuperuser_goes_through_the_audited_service(accounts):
    call_command("createsuperuser", interactive=False, username="break-glass", email="ops@example.com", verbosity=0)
    user = User.objects.get(username="break-glass")
    assert user.is_superuser and user.is_staff and not user.has_usable_password()
    event = _last("user.create")
    assert event["object"]["id"] == str(user.pk)
    assert event["actor"]["id"] == "cli:createsuperuser"
    assert event["data"]["is_superuser"] is True and event["data"]["email"] == "ops@example.com"
    result = verify_state()
    assert result.ok, result.message


def test_a_role_group_with_members_cannot_be_deleted_in_the_admin(accounts, client):
    """Deleting a group would drop its members' roles (accounts_user_groups) with no audit event."""
    client.force_login(accounts["admin"])
    group = Group.objects.get(name="developer")
    response = client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Group.objects.filter(pk=group.pk).exists()
    assert accounts["dana"].groups.filter(pk=group.pk).exists()
    result = verify_state()
    assert result.ok, result.message
