"""The permission matrix of the admin (issue 10): every admin action and every custom admin view,
by role, with the expected outcome, in one declarative table. The table is checked against the
admin site itself (its registered actions and URL names), so a new action or view cannot ship
without an entry, and an entry cannot outlive its action.

Outcomes: ``done`` (served or carried out), ``refused`` (the service refused and recorded a
``.denied`` event), ``error`` (an error message without a refusal), ``not offered`` (Django or
the view did not offer it to that role), ``403``, ``login`` (not a staff member, or nobody signed
in: sent to the admin login).
Each row acts on a real object made through the services, as the role would in a browser.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import constants
from django.test import Client
from django.urls import reverse

ROLES = ("developer", "validator", "risk_officer", "auditor", "pipeline", "anonymous")

# Bulk actions: "<app_label>.<model_name>.<action>" -> outcome per role (developer, validator,
# risk_officer, auditor, pipeline, anonymous). Django's own delete_selected of auth groups and the
# django-axes log are superuser tools: staff roles without the permission are never offered them.
ACTIONS: dict[str, tuple[str, ...]] = {
    "accounts.apitoken.revoke_selected": ("403", "403", "done", "403", "login", "login"),
    "auth.group.delete_selected": ("403", "403", "403", "403", "login", "login"),
    "axes.accessattempt.delete_selected": ("403", "403", "403", "403", "login", "login"),
    "axes.accessattempt.cleanup_expired_attempts": ("403", "403", "403", "403", "login", "login"),
    "axes.accessfailurelog.delete_selected": ("403", "403", "403", "403", "login", "login"),
    "axes.accesslog.delete_selected": ("403", "403", "403", "403", "login", "login"),
    # Retrying a queued alias write, and syncing a link: the model's owner or a risk officer, as for
    # the link itself (issue 10); anyone else is refused and the refusal audited.
    "mlflow_bridge.mlflowaliaswrite.retry_now": ("refused", "refused", "done", "refused", "login", "login"),
    "mlflow_bridge.mlflowflag.resolve": ("refused", "refused", "done", "refused", "login", "login"),
    # The link points at a closed port: a risk officer reaches the sync and sees MLflow's error.
    "mlflow_bridge.mlflowlink.sync_now": ("refused", "refused", "error", "refused", "login", "login"),
    "webhooks.webhookdelivery.redeliver_selected": ("403", "403", "done", "403", "login", "login"),
    "webhooks.webhooksubscription.disable_selected": ("403", "403", "done", "403", "login", "login"),
    "webhooks.webhooksubscription.enable_selected": ("403", "403", "done", "403", "login", "login"),
    "webhooks.webhooksubscription.rotate_secret": ("403", "403", "done", "403", "login", "login"),
}

# Custom admin views: URL name -> (method, outcome per role). State-changing views are POSTed.
VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    # Tokens are issued in the admin by superusers only (no role holds accounts.add_apitoken).
    "accounts_apitoken_issue": ("POST", ("not offered",) * 4 + ("login", "login")),
    "auth_user_password_change": ("GET", ("403", "403", "403", "403", "login", "login")),
    "reports_pack_generate": ("POST", ("refused", "refused", "done", "done", "login", "login")),
    # The pack is still queued (no worker in this test): a download is refused, and audited, for everyone.
    "reports_pack_download": ("GET", ("refused", "refused", "refused", "refused", "login", "login")),
    "reports_narratives_edit": ("GET", ("done", "done", "done", "done", "login", "login")),
    # The inventory report's page (the service refuses and audits a generation by anyone else too).
    "reports_inventory": ("GET", ("403", "403", "done", "done", "login", "login")),
    "webhooks_webhookdelivery_redeliver": ("POST", ("refused", "refused", "done", "refused", "login", "login")),
    "workflow_model_timeline": ("GET", ("done", "done", "done", "done", "login", "login")),
    "workflow_promotionrequest_refresh": ("POST", ("done", "done", "done", "done", "login", "login")),
}

# Decisions taken on a promotion request's admin page (POST to its change view), each on a fresh
# request made by the developer.
DECISIONS: dict[str, tuple[str, ...]] = {
    "approve": ("refused", "done", "done", "refused", "login", "login"),
    "reject": ("refused", "done", "done", "refused", "login", "login"),
    "withdraw": ("done", "refused", "done", "refused", "login", "login"),
}

pytestmark = pytest.mark.django_db


def admin_actions() -> set[str]:
    """Every bulk action the admin site offers a superuser, as ``app_label.model_name.action``."""
    from django.test import RequestFactory

    from tests.factories.accounts import person

    request = RequestFactory().get("/admin/")
    request.user = person(is_superuser=True)
    out = set()
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.get_actions(request):
            out.add(f"{model._meta.app_label}.{model._meta.model_name}.{name}")
    return out


def admin_views() -> set[str]:
    """Every URL name a ModelAdmin adds beyond Django's own five views."""
    standard = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")
    out = set()
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            info = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
            if name and not (name.startswith(info) and name.removeprefix(info) in standard):
                out.add(name)
    return out


def test_every_admin_action_and_view_has_an_entry():
    actions, views = admin_actions(), admin_views()
    assert not actions - set(ACTIONS), f"admin actions without an entry: {sorted(actions - set(ACTIONS))}"
    assert not set(ACTIONS) - actions, f"entries for actions that no longer exist: {sorted(set(ACTIONS) - actions)}"
    assert not views - set(VIEWS), f"admin views without an entry: {sorted(views - set(VIEWS))}"
    assert not set(VIEWS) - views, f"entries for views that no longer exist: {sorted(set(VIEWS) - views)}"


@pytest.fixture
def users(developer, validator, risk_officer, auditor, pipeline):
    return {
        "developer": developer,
        "validator": validator,
        "risk_officer": risk_officer,
        "auditor": auditor,
        "pipeline": pipeline,
    }


@pytest.fixture
def objects(settings, developer, auditor, risk_officer, pipeline):
    """One real object for each action and view, made through the services."""
    from tests.security.governed_objects import make_objects

    return make_objects(settings, developer=developer, auditor=auditor, risk_officer=risk_officer, pipeline=pipeline)


def _client(who: str, users: dict) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(users[who])
    return client


def _denied() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.filter(action__endswith=".denied").count()


def _act(client: Client, method: str, url: str, body: dict | None = None) -> str:
    before = _denied()
    response = client.post(url, body or {}) if method == "POST" else client.get(url)
    return _outcome(response, refused=_denied() > before)


def _outcome(response, *, refused: bool) -> str:
    """What the person saw: 403, the login page, ``refused`` (the service refused and recorded a
    ``.denied`` event), ``error`` (an error message without a refusal, e.g. MLflow unreachable),
    ``not offered`` (Django did not offer the action), or ``done``."""
    if response.status_code == 403:
        return "403"
    if response.status_code == 302 and "/login/" in response["Location"]:
        return "login"
    if response.status_code == 302 and response["Location"].rstrip("/").endswith("/admin"):
        return "not offered"  # a custom view sends a role without the permission back to the index
    messages = list(getattr(response.wsgi_request, "_messages", []))
    if any("must be selected" in m.message or "No action selected" in m.message for m in messages):
        return "not offered"
    if refused:
        return "refused"
    if any(m.level >= constants.ERROR for m in messages):
        return "error"
    if response.status_code in (200, 302):
        return "done"
    return str(response.status_code)


def test_admin_actions(objects, users):
    wrong = []
    for action, expected in sorted(ACTIONS.items()):
        app_label, model_name, name = action.split(".")
        pk = objects.get(f"{app_label}.{model_name}")
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
        for index, who in enumerate(ROLES):
            body = {"action": name, "_selected_action": [pk], "index": 0, "resolution": "Checked with the team."}
            got = _act(_client(who, users), "POST", url, body)
            if got != expected[index]:
                wrong.append(f"{who} {action}: expected {expected[index]}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_admin_views(objects, users):
    args = {
        "accounts_apitoken_issue": [],
        "reports_pack_generate": [objects["version"].pk],
        "reports_pack_download": [objects["reports.documentationpack"], "pdf"],
        "reports_narratives_edit": [objects["version"].pk],
        "reports_inventory": [],
        "webhooks_webhookdelivery_redeliver": [objects["webhooks.webhookdelivery"]],
        "auth_user_password_change": [users["developer"].pk],
        "workflow_model_timeline": [objects["version"].model_id],
        "workflow_promotionrequest_refresh": [objects["request"].pk],
    }
    wrong = []
    for name, (method, expected) in sorted(VIEWS.items()):
        url = reverse(f"admin:{name}", args=args[name])
        for index, who in enumerate(ROLES):
            body = {"user": users["pipeline"].pk, "regime": "sr11-7", "expires_days": 30}
            got = _act(_client(who, users), method, url, body)
            if got != expected[index]:
                wrong.append(f"{who} {method} {name}: expected {expected[index]}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_promotion_request_decisions_in_the_admin(objects, users):
    from tests.factories.accounts import PASSWORD

    wrong = []
    for decision, expected in sorted(DECISIONS.items()):
        for index, who in enumerate(ROLES):
            req = objects["fresh_request"]()
            url = reverse("admin:workflow_promotionrequest_change", args=[req.pk])
            if decision == "withdraw":
                body = {"withdraw": "1", "reason": "Superseded by a retrain."}
            else:
                body = {"decision": decision, "justification": "Evidence reviewed.", "password": PASSWORD}
            got = _act(_client(who, users), "POST", url, body)
            req.refresh_from_db()
            if got == "done" and req.status == "pending" and not req.approvals.exists():
                got = "refused"  # the page came back without a change: the form or the service refused
            if got != expected[index]:
                wrong.append(f"{who} {decision}: expected {expected[index]}, got {got} (request {req.status})")
    assert not wrong, "\n".join(wrong)
