"""Renders docs/permissions.md from the permission matrices, so the page and the tests cannot
disagree (``test_permission_docs.py`` compares them). Regenerate with:

    .venv/bin/python -m tests.security.permission_docs docs/permissions.md
"""

from __future__ import annotations

HEADER = """# Who may do what (the permission matrix)

This page is generated from the tests that enforce it (`tests/security/test_permission_matrix.py`
and `tests/security/test_admin_permission_matrix.py`); a change to either fails
`tests/security/test_permission_docs.py` until the page is regenerated:
`.venv/bin/python -m tests.security.permission_docs docs/permissions.md`.

Every API route is called by each role with an API token, on real objects made through the
services, with an empty body (the signing routes, revising a committee, ending a monitoring
schedule and resolving a missed check with a complete one): 200/201/202 = allowed,
400 = allowed but the empty body is refused, 403 = the role may not, 404 = the object does not
exist (or is not the role's to see), 409 = allowed but the object's state refuses it (a pack not
generated yet), 503 = allowed and MLflow is unreachable. No credentials, an expired or revoked
token and an inactive user's token get 401 on every route except `GET /api/v1/audit/keys/`
(public) and `POST /api/v1/mlflow/webhook/` (its own signature; 503 while no secret is set).
A route without a row fails the tests.
"""


def render() -> str:
    from tests.security import test_admin_permission_matrix as admin_matrix
    from tests.security import test_permission_matrix as api_matrix

    roles = api_matrix.ROLES
    lines = [HEADER, "## API (`/api/v1/`)", "", "| method | route | " + " | ".join(roles) + " |"]
    lines.append("|---|---|" + "---|" * len(roles))
    for (method, path), statuses in sorted(api_matrix.MATRIX.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| {method} | `{path}` | " + " | ".join(str(s) for s in statuses) + " |")
    admin_roles = admin_matrix.ROLES
    lines += [
        "",
        "## Admin (`/admin/`)",
        "",
        "Outcomes: done (carried out or served), refused (the service refused and recorded a `.denied`",
        "event), error (an error message without a refusal), not offered (the role is sent back to the",
        "index), 403, login (no staff session: the admin login page).",
        "",
        "### Bulk actions",
        "",
        "| action | " + " | ".join(admin_roles) + " |",
        "|---|" + "---|" * len(admin_roles),
    ]
    for action, outcomes in sorted(admin_matrix.ACTIONS.items()):
        lines.append(f"| `{action}` | " + " | ".join(outcomes) + " |")
    lines += ["", "### Views", "", "| view | method | " + " | ".join(admin_roles) + " |"]
    lines.append("|---|---|" + "---|" * len(admin_roles))
    for name, (method, outcomes) in sorted(admin_matrix.VIEWS.items()):
        lines.append(f"| `admin:{name}` | {method} | " + " | ".join(outcomes) + " |")
    lines += ["", "### Decisions on a promotion request's page", "", "| decision | " + " | ".join(admin_roles) + " |"]
    lines.append("|---|" + "---|" * len(admin_roles))
    for decision, outcomes in sorted(admin_matrix.DECISIONS.items()):
        lines.append(f"| {decision} | " + " | ".join(outcomes) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import os
    import sys
    from pathlib import Path

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    django.setup()
    Path(sys.argv[1]).write_text(render())  # a file, not stdout: the app logs to stdout
