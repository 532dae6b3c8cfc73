"""Defects 9 and 10 of issue 10: inputs that answered 500 get a clear 4xx naming the field;
``audit_verify`` reports a malformed row as that seq's failure."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditHead

pytestmark = pytest.mark.django_db


def _version_body(model, **extra) -> dict:
    return {
        "model": model.name,
        "version": "9.9.9",
        "artifact_uri": "s3://models/x/model.pkl",
        "artifact_sha256": "a" * 64,
        "training_data_ref": "s3://data/x.parquet",
        "training_data_sha256": "b" * 64,
        "code_commit": "c" * 12,
        "framework": "xgboost 2.1",
        **extra,
    }


@pytest.mark.parametrize("body", ["[]", "null", '"x"', "3", '{"model_version": 1, "surprise": 1}', '{"surprise": 1}'])
def test_evaluation_bodies_that_are_not_objects_or_have_unknown_fields(pipeline, api_for, body):
    client = api_for(pipeline)
    response = client.post("/api/v1/evaluations/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"], response.json()


@pytest.mark.parametrize("key", ["learning rate", "a/b", "", "x" * 65, "é"])
def test_version_parameter_keys_the_log_cannot_record(developer, model, api_for, key):
    client = api_for(developer)
    before = AuditHead.objects.get().size
    response = client.post("/api/v1/versions/", _version_body(model, parameters={key: 1}), format="json")
    assert response.status_code == 400, response.content
    assert any(field.startswith("parameters") for field in response.json()["error"]["fields"]), response.json()
    assert AuditHead.objects.get().size >= before  # the refusal may be audited; nothing half-written
    from governance.registry.models import ModelVersion

    assert not ModelVersion.objects.filter(version="9.9.9").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/evaluations/?model_version=99999999999999999999",
        "/api/v1/versions/?model_id=4.2e29",
        "/api/v1/versions/?model_id=-99999999999999999999",
        "/api/v1/promotions/?model_id=99999999999999999999",
        "/api/v1/promotions/?model_version=99999999999999999999",
    ],
)
def test_huge_ids_in_list_filters(auditor, api_for, url):
    response = api_for(auditor).get(url)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"], response.json()


@pytest.mark.parametrize(
    "value, status",
    [
        ("0261-02-12T17:05:33+21:14", 200),  # an offset PostgreSQL refuses: converted to UTC first (was a 500)
        ("2026-01-01T00:00:00+15:59", 200),
        ("0001-01-01T00:00:00+01:00", 400),  # no UTC equivalent
        ("yesterday", 400),
    ],
)
def test_datetime_filters_with_odd_offsets(auditor, api_for, value, status):
    from urllib.parse import quote

    response = api_for(auditor).get(f"/api/v1/versions/?registered_after={quote(value)}")
    assert response.status_code == status, response.content
    if status == 400:
        assert "registered_after" in response.json()["error"]["fields"], response.json()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/versions/99999999999999999999/",
        "/api/v1/models/99999999999999999999/",
        "/api/v1/promotions/99999999999999999999/",
    ],
)
def test_huge_ids_in_paths(auditor, api_for, url):
    assert api_for(auditor).get(url).status_code == 404


def test_deeply_nested_json_is_refused(developer, api_for):
    body = "[" * 5000 + "]" * 5000
    response = api_for(developer).post(
        "/api/v1/versions/", '{"parameters": ' + body + "}", content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parse_error"
    response = api_for(developer).post("/api/v1/evaluations/", body, content_type="application/json")
    assert response.status_code == 400, response.content


def test_nul_characters_in_text_fields(developer, model, api_for):
    client = api_for(developer)
    response = client.post("/api/v1/versions/", _version_body(model, framework="xgb\x00oost"), format="json")
    assert response.status_code == 400, response.content
    assert "framework" in response.json()["error"]["fields"], response.json()
    response = client.patch(f"/api/v1/models/{model.pk}/", {"purpose": "bad\x00purpose"}, format="json")
    assert response.status_code == 400, response.content
    response = client.get("/api/v1/versions/?model=a%00b")
    assert response.status_code in (200, 400), response.content


@pytest.mark.django_db(transaction=True)
def test_a_record_stored_with_another_type_is_named_not_a_traceback(tmp_path):
    """SQLite: ``cast(record as text)`` changes the stored type; verification names the seq."""
    if connection.vendor != "sqlite":
        pytest.skip("a stored type change is a SQLite property; PostgreSQL columns keep their type")
    from audit.verification import verify_database
    from tests.audit.helpers import triggers_disabled
    from tests.factories.registry import registered_model

    registered_model()
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM audit_auditevent")
        seq = cursor.fetchone()[0]
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET record = cast(record as text) WHERE seq = %s", [seq])
    result = verify_database()
    assert not result.ok and result.first_bad_seq == seq, result
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=f"seq {seq}: record column holds str"):
        call_command("audit_verify")


def test_nul_in_a_multipart_field(pipeline, version, api_for):
    response = api_for(pipeline).post(
        "/api/v1/evaluations/", {"model_version": version.pk, "kind": "drift", "dataset": "a\x00b"}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "dataset" in response.json()["error"]["fields"]


def test_nul_in_a_multipart_lookup_field(developer, risk_officer, model, api_for):
    """Schemathesis found it on PostgreSQL: a model or owner name holding NUL reached the query (500)."""
    response = api_for(developer).post("/api/v1/versions/", {"model": "a\x00b", "version": "1.0.0"}, format="multipart")
    assert response.status_code == 400, response.content
    assert "model" in response.json()["error"]["fields"], response.json()
    response = api_for(risk_officer).patch(f"/api/v1/models/{model.pk}/", {"owner": "x\x00y"}, format="multipart")
    assert response.status_code == 400, response.content
    assert "owner" in response.json()["error"]["fields"], response.json()


@pytest.mark.django_db(transaction=True)
def test_a_promotion_request_without_broker_or_mail_server_answers_201(developer, settings, api_for):
    """Production without a reachable broker or mail server: the request commits, so the answer
    is its 201 (the notification failure is logged), never a 500 followed by a 409 on retry."""
    import socket

    from governance.celery import app as celery_app
    from tests.factories import workflow
    from tests.factories.registry import model_version

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    from tests.factories.accounts import person

    person("validator")  # someone to notify (factories give people an email address)
    version = model_version(user=developer)
    workflow.good_evidence(version)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    client = api_for(developer)
    body = {"model_version": version.pk, "target_stage": "staging", "reason": "Ready."}
    # no mail server, tasks run in the web process (no broker configured)
    response = client.post("/api/v1/promotions/", body, format="json")
    assert response.status_code == 201, response.content
    # a broker configured but down
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.broker_url, conf.broker_transport_options
    conf.task_always_eager, conf.broker_url = False, f"amqp://guest:guest@127.0.0.1:{closed_port}//"
    conf.broker_transport_options = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}
    try:
        from governance.workflow.models import PromotionRequest

        PromotionRequest.objects.get(pk=response.json()["id"])
        withdrawn = client.post(
            f"/api/v1/promotions/{response.json()['id']}/withdraw/", {"reason": "again"}, format="json"
        )
        assert withdrawn.status_code < 500, withdrawn.content
        again = client.post("/api/v1/promotions/", body, format="json")
        assert again.status_code == 201, again.content
    finally:
        conf.task_always_eager, conf.broker_url, conf.broker_transport_options = saved
