"""The permission matrix (NetBox style): one declarative table of role x endpoint x method with the
expected status, over every route of the API. A route without an entry fails the test, so a new
endpoint cannot ship without someone deciding who may call it.

Requests carry an empty body: a caller who may act gets the validation error (400) or the
object (200); one who may not gets 403 (or 404 where the object is not theirs to see). Refused
credentials (none, expired, revoked, an inactive user's token) get 401 on every route, except
the public verifier endpoints listed in ``PUBLIC``.

Where the service decides (signing, withdrawing, webhook subscriptions), validation of the body
may come before the refusal: those rows say 400 for everyone with an empty body, so the signing
routes are exercised with complete bodies (``SIGNING_BODIES``), and so are revising a committee,
ending a monitoring schedule and resolving a missed check (``ACTION_BODIES``). Every row with
``{id}`` addresses a real object made through the services (``tests/security/governed_objects.py``;
a route with ``{id}`` and no object fails the test): model, version, request, evaluation,
documentation pack (queued: its files answer 409), webhook subscription and delivery, MLflow link
(pointing at a closed port: a sync answers 503), flag and version import (imported by the bridge's
service from the facts a sync reads, so no MLflow server is needed), validation, finding, serious
incident, post-market plan, and, on a production version of another model, a committee, a
monitoring schedule and the missed check flagged for its first week.
The admin's actions and views have their own matrix (``test_admin_permission_matrix.py``), and
``test_every_urlconf_route_is_in_the_schema_and_the_matrix`` checks the URLconf itself.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

ROLES = ("developer", "validator", "risk_officer", "auditor", "pipeline")
REFUSED = ("anonymous", "expired", "revoked", "inactive")

# (method, path template): statuses for developer, validator, risk_officer, auditor, pipeline
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    #                                                       developer validator risk_officer auditor pipeline
    ("GET", "/api/v1/audit/checkpoint/"): (403, 403, 403, 200, 403),
    ("GET", "/api/v1/audit/entries/"): (403, 403, 403, 400, 403),
    ("GET", "/api/v1/audit/export/"): (403, 403, 403, 200, 403),
    ("GET", "/api/v1/audit/keys/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/audit/proof/consistency/"): (403, 403, 403, 400, 403),
    ("GET", "/api/v1/audit/proof/inclusion/"): (403, 403, 403, 400, 403),
    ("GET", "/api/v1/evaluations/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/evaluations/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/models/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/models/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/models/{id}/history/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/promotions/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/promotions/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/reports/"): (403, 403, 200, 200, 403),
    ("GET", "/api/v1/reports/{id}/"): (403, 403, 200, 200, 403),
    ("GET", "/api/v1/reports/{id}/bundle/"): (403, 403, 409, 409, 403),
    ("GET", "/api/v1/reports/{id}/pdf/"): (403, 403, 409, 409, 403),
    ("GET", "/api/v1/reports/inventory/"): (403, 403, 200, 200, 403),
    ("GET", "/api/v1/versions/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/versions/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/versions/{id}/reference/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/webhooks/deliveries/"): (403, 403, 200, 403, 403),
    ("GET", "/api/v1/webhooks/deliveries/{id}/"): (403, 403, 200, 403, 403),
    ("GET", "/api/v1/webhooks/events/"): (403, 403, 200, 403, 403),
    ("GET", "/api/v1/webhooks/subscriptions/"): (403, 403, 200, 403, 403),
    ("GET", "/api/v1/webhooks/subscriptions/{id}/"): (403, 403, 200, 403, 403),
    ("PATCH", "/api/v1/models/{id}/"): (403, 403, 200, 403, 403),
    ("PATCH", "/api/v1/versions/{id}/"): (200, 403, 403, 403, 403),
    ("PATCH", "/api/v1/webhooks/subscriptions/{id}/"): (403, 403, 200, 403, 403),
    ("POST", "/api/v1/audit/events/"): (403, 403, 403, 403, 400),
    ("POST", "/api/v1/evaluations/"): (400, 400, 400, 403, 400),
    ("POST", "/api/v1/models/"): (400, 403, 403, 403, 400),
    ("POST", "/api/v1/promotions/"): (400, 403, 400, 403, 400),
    ("POST", "/api/v1/promotions/{id}/approve/"): (403, 200, 200, 403, 403),
    ("POST", "/api/v1/promotions/{id}/reject/"): (403, 200, 200, 403, 403),
    ("POST", "/api/v1/promotions/{id}/withdraw/"): (200, 403, 200, 403, 403),
    ("POST", "/api/v1/reports/"): (403, 403, 400, 400, 403),
    ("POST", "/api/v1/versions/"): (400, 403, 403, 403, 400),
    ("POST", "/api/v1/versions/{id}/reference/"): (400, 400, 400, 403, 400),
    ("POST", "/api/v1/webhooks/deliveries/{id}/redeliver/"): (403, 403, 202, 403, 403),
    ("POST", "/api/v1/webhooks/subscriptions/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/webhooks/subscriptions/{id}/disable/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/webhooks/subscriptions/{id}/enable/"): (403, 403, 409, 403, 403),
    ("POST", "/api/v1/webhooks/subscriptions/{id}/rotate-secret/"): (403, 403, 200, 403, 403),
    # Oversight and MLflow: empty POST bodies are refused by their services (400).
    ("GET", "/api/v1/findings/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/findings/{id}/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/incidents/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/incidents/{id}/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/mlflow/flags/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/flags/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/imports/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/imports/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/links/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/links/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/links/{id}/alias-history/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/mlflow/links/{id}/alias-writes/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/revalidation/schedule/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/validations/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/validations/{id}/"): (200, 200, 200, 200, 403),
    ("PATCH", "/api/v1/mlflow/links/{id}/"): (403, 403, 200, 403, 403),
    ("POST", "/api/v1/findings/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/findings/{id}/accept-risk/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/findings/{id}/close/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/findings/{id}/propose-remediation/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/incidents/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/incidents/{id}/reports/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/mlflow/flags/{id}/resolve/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/mlflow/links/"): (400, 400, 400, 400, 400),
    # Every role reaches MLflow (a closed port here: 503) before any refusal: the sync has no role rule.
    ("POST", "/api/v1/mlflow/links/{id}/sync/"): (403, 403, 503, 403, 403),
    ("POST", "/api/v1/mlflow/webhook/"): (503, 503, 503, 503, 503),
    ("POST", "/api/v1/revalidation/intervals/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/validations/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/validations/{id}/complete/"): (400, 400, 400, 400, 400),
    # Committees, monitoring and post-market plans (revise, end and resolve with complete bodies).
    ("GET", "/api/v1/committees/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/committees/{id}/"): (200, 200, 200, 200, 403),
    ("GET", "/api/v1/monitoring/missed-checks/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/monitoring/missed-checks/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/monitoring/schedules/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/monitoring/schedules/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/post-market-plans/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/post-market-plans/{id}/"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/versions/{id}/series/"): (200, 200, 200, 200, 200),
    ("POST", "/api/v1/committees/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/committees/{id}/revise/"): (403, 403, 200, 403, 403),
    ("POST", "/api/v1/monitoring/missed-checks/{id}/resolve/"): (403, 403, 200, 403, 403),
    ("POST", "/api/v1/monitoring/schedules/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/monitoring/schedules/{id}/end/"): (403, 200, 200, 403, 403),
    ("POST", "/api/v1/post-market-plans/"): (400, 400, 400, 400, 400),
    ("POST", "/api/v1/promotions/{id}/recuse/"): (400, 400, 400, 400, 400),
}

# Routes anyone may call, signed in or not (the verifier's public keys).
PUBLIC = {("GET", "/api/v1/audit/keys/")}
# Routes with their own authentication (a signed MLflow webhook; 503 while no secret is configured).
OWN_AUTH = {("POST", "/api/v1/mlflow/webhook/")}

# Signing routes are called with a complete body on a fresh pending request (requested by the
# developer) for each role, so the table says who may sign, not which field is missing first.
SIGNING_BODIES = {
    "/api/v1/promotions/{id}/approve/": {"justification": "Evidence reviewed.", "password": "PASSWORD"},
    "/api/v1/promotions/{id}/reject/": {"justification": "Not convinced.", "password": "PASSWORD"},
    "/api/v1/promotions/{id}/withdraw/": {"reason": "Superseded by a retrain."},
}

# Routes whose empty body is refused before the role rule (400 for everyone) are called with a
# complete body, so their rows say who may act. Ending a schedule is allowed to two roles: each role
# gets the version's active schedule (a new one once the last was ended), never a 409 from the last.
ACTION_BODIES = {
    "/api/v1/committees/{id}/revise/": {"reason": "One approval is enough for this model.", "quorum": 1},
    "/api/v1/monitoring/missed-checks/{id}/resolve/": {"resolution": "Label feed outage; the check was re-run."},
    "/api/v1/monitoring/schedules/{id}/end/": {"reason": "Replaced by a daily drift check."},
}
FRESH_OBJECTS = {"/api/v1/monitoring/schedules/{id}/end/": "oversight.active_schedule"}

pytestmark = pytest.mark.django_db


def schema_routes() -> list[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    )


def test_every_route_has_an_entry():
    routes = set(schema_routes())
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without an entry in the permission matrix: {missing}"
    assert not stale, f"entries for routes that no longer exist: {stale}"


def urlconf_routes() -> set[str]:
    """Every route of the API's URLconf, as a path template (``{id}`` for each captured argument)."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix):
        for p in patterns:
            regex = p.pattern.regex.pattern if hasattr(p.pattern, "regex") else str(p.pattern)
            if "?P<format>" in regex:  # DRF's format-suffix twins of the routes below
                continue
            regex = regex.replace("\\Z", "")
            part = re.sub(r"\(\?P<[^>]+>[^)]*\)", "{id}", regex).lstrip("^").rstrip("$")
            part = part.replace("/?", "/").replace("\\.", ".")
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + part)
            elif isinstance(p, URLPattern):
                yield prefix + part

    out = set()
    for path in walk(get_resolver().url_patterns, "/"):
        if path.startswith("/api/v1/") and path.rstrip("/") != "/api/v1":  # not the router's index page
            out.add(re.sub(r"/+", "/", path if path.endswith("/") else path + "/"))
    return out


def test_every_urlconf_route_is_in_the_schema_and_the_matrix():
    """The matrix walks the OpenAPI schema; this checks the schema hides no route of the URLconf."""
    documented = {re.sub(r"\{[^}]+\}", "{id}", path) for _, path in MATRIX}
    missing = sorted(route for route in urlconf_routes() if route not in documented)
    assert not missing, f"API routes of the URLconf that the matrix (and the schema) do not cover: {missing}"


@pytest.fixture
def objects(settings, developer, validator, auditor, risk_officer, pipeline):
    """One real object of each kind the routes address, made through the services."""
    from tests.factories import workflow
    from tests.security.governed_objects import make_objects

    made = make_objects(
        settings,
        developer=developer,
        auditor=auditor,
        risk_officer=risk_officer,
        pipeline=pipeline,
        validator=validator,
    )
    version = made["version"]
    evaluations = workflow.good_evidence(version)

    def fresh_request():
        return made["fresh_request"]().pk

    return {
        "fresh_request": fresh_request,
        "fresh": {path: made[key] for path, key in FRESH_OBJECTS.items()},
        "/api/v1/models/{id}/": version.model_id,
        "/api/v1/versions/{id}/": version.pk,
        "/api/v1/promotions/{id}/": made["request"].pk,
        "/api/v1/evaluations/{id}/": evaluations[0].pk,
        "/api/v1/reports/{id}/": made["reports.documentationpack"],
        "/api/v1/webhooks/subscriptions/{id}/": made["webhooks.webhooksubscription"],
        "/api/v1/webhooks/deliveries/{id}/": made["webhooks.webhookdelivery"],
        "/api/v1/mlflow/links/{id}/": made["mlflow_bridge.mlflowlink"],
        "/api/v1/mlflow/flags/{id}/": made["mlflow_bridge.mlflowflag"],
        "/api/v1/validations/{id}/": made["oversight.validation"],
        "/api/v1/findings/{id}/": made["oversight.finding"],
        "/api/v1/incidents/{id}/": made["oversight.seriousincident"],
        "/api/v1/post-market-plans/{id}/": made["oversight.postmarketplan"],
        "/api/v1/committees/{id}/": made["workflow.committee"],
        "/api/v1/monitoring/schedules/{id}/": made["oversight.monitoringschedule"],
        "/api/v1/monitoring/missed-checks/{id}/": made["oversight.missedcheck"],
        "/api/v1/mlflow/imports/{id}/": made["mlflow_bridge.mlflowversionimport"],
    }


def _url(path: str, objects: dict) -> str:
    if path in SIGNING_BODIES:
        return path.replace("{id}", str(objects["fresh_request"]()))
    if path in objects["fresh"]:
        return path.replace("{id}", str(objects["fresh"][path]()))
    for prefix, pk in objects.items():
        if not prefix.startswith("/"):
            continue
        stem = prefix.removesuffix("{id}/")
        if path.startswith(stem + "{id}/"):
            return path.replace("{id}", str(pk))
    if "{id}" not in path:
        return path
    raise AssertionError(f"{path}: no object made for this route (tests/security/governed_objects.py)")


def _client(who: str, users: dict) -> APIClient:
    from governance.accounts.services import api_token_issue, api_token_revoke
    from tests.factories.accounts import ADMIN

    client = APIClient()
    if who == "anonymous":
        return client
    user = users["developer"]
    token, key = api_token_issue(by=ADMIN, user=users.get(who, user))
    if who == "expired":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_apitoken SET expires_at = %s WHERE id = %s",
                [timezone.now() - dt.timedelta(days=1), token.pk],
            )
    elif who == "revoked":
        api_token_revoke(by=ADMIN, token=token)
    elif who == "inactive":  # deactivated after the token was issued (raw: there is no service for it yet)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET is_active = %s WHERE id = %s", [False, users["inactive"].pk])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _request(client: APIClient, method: str, url: str, path: str = ""):
    if method == "GET":
        return client.get(url)
    from tests.factories.accounts import PASSWORD

    template = SIGNING_BODIES.get(path) or ACTION_BODIES.get(path, {})
    body = {k: PASSWORD if v == "PASSWORD" else v for k, v in template.items()}
    return getattr(client, method.lower())(url, body, format="json")


@pytest.fixture
def users(developer, validator, risk_officer, auditor, pipeline):
    from tests.factories.accounts import person

    return {
        "developer": developer,
        "validator": validator,
        "risk_officer": risk_officer,
        "auditor": auditor,
        "pipeline": pipeline,
        "inactive": person("developer"),
    }


def test_the_matrix(objects, users, settings):
    settings.REFUSAL_LIMITS = {**settings.REFUSAL_LIMITS, "token": 10_000}
    clients = {who: _client(who, users) for who in (*ROLES, *REFUSED)}
    wrong = []
    for method, path in schema_routes():
        url = _url(path, objects)
        row = []
        for index, who in enumerate(ROLES):
            if path in SIGNING_BODIES or path in objects["fresh"]:
                url = _url(path, objects)
            status = _request(clients[who], method, url, path).status_code
            row.append(status)
            expected = MATRIX.get((method, path))
            if expected and expected[index] != status:
                wrong.append(f"{who} {method} {path}: expected {expected[index]}, got {status}")
        for who in REFUSED:
            status = _request(clients[who], method, url, path).status_code
            expected = 200 if (method, path) in PUBLIC and method == "GET" else 401
            if (method, path) in OWN_AUTH:
                expected = MATRIX[(method, path)][0]
            if status != expected and not ((method, path) in PUBLIC and status < 500):
                wrong.append(f"{who} {method} {path}: expected {expected}, got {status}")
    assert not wrong, "\n".join(wrong)
