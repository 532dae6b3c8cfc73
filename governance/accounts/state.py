"""Replays account events to rebuild people, their roles, API tokens and single sign-on links
(audit.state, ``audit_verify --state``).

Where the events come from: ``user.create`` (``services.user_create``: the fields as details; the
admin's add form: ``changes`` with ``before``/``after``), ``user.update`` (the admin: ``changes``;
single sign-on: ``is_staff``), ``user.roles_change`` (``after`` a list of roles, or from the admin
``{"roles": [...], "permissions": [...]}``), ``api_token.issue``, ``api_token.revoke`` and
``sso.identity.link``. A user's token and identity name the user by username at the time of the
event; the replay resolves it to the user's id, so a later rename is followed.

Events written before a field was added to them (``user.create``: email, names, is_active,
date_joined; ``api_token.issue``: created_at, key_sha256; ``api_token.revoke``: the instant, of
which only "set" is then checked; ``sso.identity.link``: the row id, then matched by issuer and
subject, and created_at) leave that field unchecked. Never replayed: the password hash and
``last_login`` (``USER_BOOKKEEPING_FIELDS``) and a token's ``last_used_at``: bookkeeping that changes
without an event.
"""

from __future__ import annotations

from typing import Any

from audit.state import Divergence, as_recorded, compare_rows
from governance.accounts.models import GOVERNED_USER_FIELDS, ApiToken, OidcIdentity, User

USER_FIELDS = GOVERNED_USER_FIELDS
TOKEN_FIELDS = ("name", "prefix", "key_sha256", "created_at", "expires_at")
REVOKED = "set"  # an old api_token.revoke carries no instant: only whether revoked_at is set is checked


class AccountsReplayer:
    name = "accounts"
    actions = (
        "user.create",
        "user.update",
        "user.roles_change",
        "api_token.issue",
        "api_token.revoke",
        "sso.identity.link",
    )

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[str]] = {}  # user id -> group names
        self.permissions: dict[str, list[str]] = {}  # user id -> permission codenames
        self.ids: dict[str, str] = {}  # username -> user id, as the replay stands
        self.names: dict[str, str] = {}  # user id -> username
        self.tokens: dict[str, dict[str, Any]] = {}
        self.identities: dict[str, dict[str, Any]] = {}  # row id, or "issuer subject" for old events

    def _user_id(self, username: object) -> object:
        return self.ids.get(str(username), f"a user named {username!r} that no event created")

    def _set_user_fields(self, key: str, values: dict[str, Any]) -> None:
        row = self.users.setdefault(key, {})
        for name, value in values.items():
            if name in USER_FIELDS:
                row[name] = value
        if "username" in values:
            old = self.names.get(key)
            if old is not None and self.ids.get(old) == key:
                del self.ids[old]
            self.names[key] = str(values["username"])
            self.ids[self.names[key]] = key

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record.get("data") or {}
        key = str(target["id"])
        if action == "user.create":
            self._user_create(key, target, data)
        elif action == "user.update":
            changes = data.get("changes")
            if isinstance(changes, dict):  # the admin: {field: {before, after}}
                self._set_user_fields(key, {n: c.get("after") for n, c in changes.items() if isinstance(c, dict)})
            else:  # single sign-on: the field itself (is_staff)
                self._set_user_fields(key, data)
            if target.get("username") is not None:
                self._set_user_fields(key, {"username": target["username"]})
        elif action == "user.roles_change":
            after = data.get("after")
            if isinstance(after, dict):  # the admin: roles and permissions
                self.roles[key] = sorted(set(after.get("roles") or []))
                self.permissions[key] = sorted(after.get("permissions") or [])
            else:
                self.roles[key] = sorted(set(after or []))
        elif action == "api_token.issue":
            self.tokens[key] = {
                "user": self._user_id(data.get("user")),
                "prefix": target.get("prefix"),
                "revoked_at": None,
                **{name: data[name] for name in TOKEN_FIELDS if name in data},
            }
        elif action == "api_token.revoke":
            self.tokens.setdefault(key, {})["revoked_at"] = data.get("revoked_at") or REVOKED
        elif action == "sso.identity.link":
            row = {
                "user": self._user_id(target.get("username")),
                "issuer": target.get("issuer"),
                "subject": key,
            }
            if "created_at" in data:
                row["created_at"] = data["created_at"]
            identity = data.get("identity")
            self.identities[str(identity) if identity is not None else f"{target.get('issuer')} {key}"] = row

    def _user_create(self, key: str, target: dict, data: dict) -> None:
        self.users[key] = {}
        changes = data.get("changes")
        if isinstance(changes, dict):  # the admin's add form; its roles follow in user.roles_change
            self._set_user_fields(key, {n: c.get("after") for n, c in changes.items() if isinstance(c, dict)})
            self.roles[key] = []
        else:
            self._set_user_fields(key, data)
            self.roles[key] = sorted(set(data.get("roles") or []))
        self._set_user_fields(key, {"username": target.get("username")})
        self.permissions[key] = []  # a new account holds no permission of its own

    # --- comparison -------------------------------------------------------------------------------------------

    def compare(self) -> Divergence | None:
        users = {
            str(u["pk"]): {name: as_recorded(u[name]) for name in USER_FIELDS}
            for u in User.objects.values("pk", *USER_FIELDS)
        }
        divergence = compare_rows("accounts_user", users, self.users)
        if divergence:
            return divergence
        divergence = self._compare_memberships(
            "accounts_user_groups",
            "group",
            User.groups.through.objects.values_list("pk", "user_id", "group__name"),
            self.roles,
        )
        if divergence:
            return divergence
        divergence = self._compare_memberships(
            "accounts_user_user_permissions",
            "permission",
            User.user_permissions.through.objects.values_list("pk", "user_id", "permission__codename"),
            self.permissions,
        )
        if divergence:
            return divergence
        return self._compare_tokens() or self._compare_identities()

    @staticmethod
    def _compare_memberships(table: str, what: str, rows, expected: dict[str, list[str]]) -> Divergence | None:
        """Membership rows carry no id in the events: each stored (user, name) is matched to the
        replayed list of that user; a stored row left over is named by its id, a replayed one missing
        by its user."""
        left = {user: list(names) for user, names in expected.items()}
        extra: list[tuple[int, str, str]] = []
        for pk, user_id, name in sorted(rows):
            names = left.get(str(user_id))
            if names is not None and name in names:
                names.remove(name)
            else:
                extra.append((pk, str(user_id), name))
        if extra:
            pk, user, name = extra[0]
            return Divergence(
                table,
                str(pk),
                "(row)",
                f"user {user} holds {what} {name}",
                f"no such {what} in the log (it gives user {user}: {sorted(expected.get(user, []))})",
            )
        for user, names in sorted(left.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0):
            if names:
                return Divergence(table, f"user {user}", "(row)", "missing", f"user {user} holds {what} {names[0]}")
        return None

    def _compare_tokens(self) -> Divergence | None:
        expected = self.tokens
        stored = {}
        for t in ApiToken.objects.values("pk", "user_id", "revoked_at", *TOKEN_FIELDS):
            key = str(t["pk"])
            revoked_at = t["revoked_at"]
            if expected.get(key, {}).get("revoked_at") == REVOKED and revoked_at is not None:
                revoked_at = REVOKED
            stored[key] = {
                "user": str(t["user_id"]),
                "revoked_at": as_recorded(revoked_at),
                **{name: as_recorded(t[name]) for name in TOKEN_FIELDS},
            }
        return compare_rows("accounts_apitoken", stored, expected)

    def _compare_identities(self) -> Divergence | None:
        stored: dict[str, dict[str, Any]] = {
            str(i["pk"]): {
                "user": str(i["user_id"]),
                "issuer": i["issuer"],
                "subject": i["subject"],
                "created_at": as_recorded(i["created_at"]),
            }
            for i in OidcIdentity.objects.values("pk", "user_id", "issuer", "subject", "created_at")
        }
        # Links recorded before the event carried the row's id are matched by issuer and subject.
        by_pair = {f"{row['issuer']} {row['subject']}": pk for pk, row in stored.items()}
        expected = {}
        for key, row in self.identities.items():
            expected[by_pair.get(key, key) if not key.isdigit() else key] = row
        return compare_rows("accounts_oidcidentity", stored, expected)
