"""Schemathesis over the OpenAPI schema the service serves (issue 10, "Schemathesis in CI").

Every operation of ``/api/schema/`` gets a bounded number of generated requests, valid ones
(positive) and requests that break the schema (negative), sent with a pipeline token and with a
person's token for each role that matters (a developer, a risk officer, an auditor). Two checks,
over every response:

- no server error (5xx);
- every status the API answers is documented for that operation in the schema.

The run is deterministic (``derandomize``) and bounded by ``SCHEMATHESIS_MAX_EXAMPLES`` (per
operation, role and mode; default 6), so it takes a few minutes on two cores. A failure lists
each operation with the statuses seen and a request that reproduces it.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
import schemathesis
from django.db import transaction  # a dev dependency (pyproject.toml): `make test` installs it, nothing skips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
ROLES = ("pipeline", "developer", "risk_officer", "auditor")


def _documented(operation) -> set[str]:
    return {str(code) for code in operation.definition.raw.get("responses", {})}


def _is_documented(status: int, documented: set[str]) -> bool:
    return str(status) in documented or f"{str(status)[0]}XX" in documented or "default" in documented


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, with connections kept open between requests (as the test client
    does) so the requests run inside the test's transaction."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(developer, risk_officer, auditor, pipeline, settings):
    from governance.accounts.services import api_token_issue
    from tests.factories.accounts import ADMIN

    settings.REFUSAL_LIMITS = {**settings.REFUSAL_LIMITS, "token": 1_000_000}
    settings.MLFLOW_WEBHOOK_SECRET = "schemathesis-webhook-secret"  # configured: bad signatures are 4xx
    users = {"pipeline": pipeline, "developer": developer, "risk_officer": risk_officer, "auditor": auditor}
    return {role: api_token_issue(by=ADMIN, user=user)[1] for role, user in users.items()}


@pytest.fixture
def objects(developer):
    """Real objects, so that generated ids sometimes address something that exists."""
    from tests.factories import workflow
    from tests.factories.registry import model_version

    version = model_version(user=developer)
    evaluations = workflow.good_evidence(version)
    req = workflow.request(version, developer)
    return [version.model_id, version.pk, req.pk, evaluations[0].pk]


def _run(strategy, operation, documented, headers, objects, problems, calls) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, pick=st.sampled_from(objects))
    def run(case, pick):
        for name, value in list((case.path_parameters or {}).items()):
            if isinstance(value, int) and pick % 2:
                case.path_parameters[name] = pick
        with transaction.atomic():  # a savepoint: one failed request does not poison the next (PostgreSQL)
            response = case.call(headers=headers)
        calls.append(response.status_code)
        status = response.status_code
        if status >= 500 or not _is_documented(status, documented):
            key = (operation.method.upper(), operation.path)
            problems[key].setdefault(status, case.as_curl_command(headers=headers)[:600])

    run()


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(wsgi_app, tokens, objects):
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    problems: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        documented = _documented(operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as exc:  # an operation no negative case can be made for
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{operation.verbose_name}: {exc}") from exc

            for role in ROLES:
                headers = {"Authorization": f"Token {tokens[role]}"}
                try:
                    _run(strategy, operation, documented, headers, objects, problems, calls)
                except Unsatisfiable:  # no request breaks this operation's schema (e.g. no parameters)
                    if mode is not GenerationMode.NEGATIVE:
                        raise
                    break
    report = "\n".join(
        f"{method} {path}: {status} {'server error' if status >= 500 else 'undocumented'}\n    {curl}"
        for (method, path), statuses in sorted(problems.items())
        for status, curl in sorted(statuses.items())
    )
    assert calls
    assert not problems, f"{sum(len(s) for s in problems.values())} problems in {len(calls)} calls:\n{report}"
