"""On admin pages the signed-in user's roles are read once per request (RequestRoleCacheMiddleware), and a
role removed takes effect on the next request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.accounts.services import user_roles_set
from tests.factories.accounts import ADMIN

pytestmark = pytest.mark.django_db


def _group_queries(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('SELECT "auth_group"."name"'))


def test_one_roles_query_per_dashboard_and_a_removed_role_counts_at_once(client, risk_officer):
    client.force_login(risk_officer)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/").content.decode()
    assert 'id="dash-awaiting"' in page  # the risk officer's dashboard
    assert _group_queries(queries.captured_queries) <= 2  # the role rule, and the template's role list
    user_roles_set(by=ADMIN, user=risk_officer, roles=["developer"])
    page = client.get("/admin/").content.decode()
    assert 'id="dash-awaiting"' not in page and 'id="dash-mine"' in page


def test_outside_the_admin_roles_are_not_cached(risk_officer):
    from governance.accounts.roles import has_role

    assert has_role(risk_officer, "risk_officer")
    user_roles_set(by=ADMIN, user=risk_officer, roles=["developer"])
    assert not has_role(risk_officer, "risk_officer")  # the same object reads its groups again
