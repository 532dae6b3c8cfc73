"""MLflow answering 5xx (issue 16, "Bad input"): a real MLflow server behind a small fault-injecting
loopback HTTP proxy that answers 502/503 for chosen requests and passes every other one through.

Sync and alias writes retry; they then succeed, or fail with a reason that is audited and shown on the
link, and nothing is half-written."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from audit.models import AuditEvent
from governance.common.errors import Unavailable
from governance.integrations.mlflow import services
from governance.integrations.mlflow.models import MlflowAliasWrite, MlflowLink, MlflowVersionImport
from governance.registry.models import ModelVersion
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN, as_user
from tests.integrations.mlflow.conftest import log_run, register, unique_name

pytestmark = pytest.mark.django_db

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


@dataclass
class Fault:
    method: str
    path: str  # a substring of the request path
    query: str = ""  # a substring of the query string
    status: int = 503
    times: int | None = None  # None: until cleared


class FaultProxy:
    """Forwards to ``upstream`` except for the requests a fault matches, which get its status."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path?query, status returned)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                fault = proxy._take(self.command, path, query)
                if fault is not None:
                    payload = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected"}).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    proxy._record(self.command, self.path, fault.status)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                proxy._record(self.command, self.path, answer.status)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _take(self, method: str, path: str, query: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path in path and fault.query in query:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append((method, path, status))

    def fail(self, method: str, path: str, *, query: str = "", status: int = 503, times: int | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, query, status, times))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def answered(self, status: int) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if entry[2] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(mlflow_server):
    p = FaultProxy(mlflow_server.url)
    yield p
    p.close()


def _events(action: str) -> list[dict]:
    return [e.record_json for e in AuditEvent.objects.filter(action=action).order_by("seq")]


@pytest.fixture
def proxied_link(proxy, mlflow_client, developer):
    """A tier 3, minimal-risk model linked to MLflow through the proxy, with three versions in MLflow."""
    model = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    name = unique_name("faulty")
    mlflow_client.create_registered_model(name)
    for _ in range(3):
        register(mlflow_client, name, log_run(mlflow_client))
    return services.mlflow_link_create(by=as_user(developer), model=model, tracking_uri=proxy.url, mlflow_name=name)


def test_a_503_is_retried_by_the_client_and_the_sync_succeeds(proxied_link, proxy, settings):
    settings.MLFLOW_REQUEST_RETRIES = 2  # MLflow's own HTTP retries (status 429/5xx), with backoff
    proxy.fail("GET", "/model-versions/search", status=503, times=1)
    summary = services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    assert summary["imported"] == ["1", "2", "3"]
    failed = proxy.answered(503)
    assert len(failed) == 1 and "/model-versions/search" in failed[0][1]
    retried = [entry for entry in proxy.log if "/model-versions/search" in entry[1]]
    assert [status for _, _, status in retried][:2] == [503, 200], "the same request again, answered"
    link = MlflowLink.objects.get(pk=proxied_link.pk)
    assert link.last_sync_status == "ok" and link.consecutive_failures == 0
    assert _events("mlflow.sync_failed") == []


def test_a_persistent_502_mid_sync_fails_with_an_audited_visible_reason_and_nothing_half_written(proxied_link, proxy):
    proxy.fail("GET", "/model-versions/get", query="version=2", status=502)
    with pytest.raises(Unavailable, match="502"):
        services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    assert list(MlflowVersionImport.objects.filter(link=proxied_link).values_list("mlflow_version", flat=True)) == ["1"]
    assert ModelVersion.objects.filter(model=proxied_link.model).count() == 1  # version 2: nothing at all
    link = MlflowLink.objects.get(pk=proxied_link.pk)
    assert link.last_sync_status == "error" and link.consecutive_failures == 1 and "502" in link.last_sync_error
    (failed,) = _events("mlflow.sync_failed")
    assert "502" in failed["data"]["error"] and failed["data"]["imported_before_failure"] == ["1"]
    assert failed["object"]["type"] == "mlflow_link"

    with pytest.raises(Unavailable):  # still down: counted on the link, not audited again
        services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    assert MlflowLink.objects.get(pk=proxied_link.pk).consecutive_failures == 2
    assert len(_events("mlflow.sync_failed")) == 1

    proxy.clear()
    summary = services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    assert summary["imported"] == ["2", "3"] and summary["unchanged"] == 1
    assert ModelVersion.objects.filter(model=proxied_link.model).count() == 3
    (recovered,) = _events("mlflow.sync_recovered")
    assert recovered["data"]["failed_syncs"] == 2 and "502" in recovered["data"]["last_error"]
    assert MlflowLink.objects.get(pk=proxied_link.pk).last_sync_status == "ok"


def _to_production(version, developer, signers):
    wf.good_evidence(version)
    for stage in ("staging", "production"):
        req = wf.request(version, developer, stage)
        for signer in signers:
            req.refresh_from_db()
            if req.status == "promoted":
                break
            wf.approve(req, signer)
    version.refresh_from_db()
    assert version.stage == "production"


def test_alias_write_answered_503_retries_audited_then_succeeds(
    proxied_link,
    proxy,
    mlflow_client,
    developer,
    validator,
    risk_officer,
    django_capture_on_commit_callbacks,
):
    services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    proxy.fail("POST", "/registered-models/alias", status=503)
    version = ModelVersion.objects.get(model=proxied_link.model, version="1")
    with django_capture_on_commit_callbacks(execute=True):
        _to_production(version, developer, [validator, risk_officer])
    write = MlflowAliasWrite.objects.get(link=proxied_link, alias="champion")
    assert write.status == "retrying" and write.attempts == 1 and "503" in write.last_error
    assert write.next_attempt_at > write.created_at
    (failed,) = _events("mlflow.alias_write_failed")
    assert failed["data"]["alias"] == "champion" and "503" in failed["data"]["error"]
    assert "champion" not in mlflow_client.get_registered_model(proxied_link.mlflow_name).aliases
    assert version.stage == "production"  # the decision never waits for MLflow

    proxy.clear()
    assert services.mlflow_alias_writes_flush(link=proxied_link) == {write.pk: "done"}
    assert str(mlflow_client.get_registered_model(proxied_link.mlflow_name).aliases["champion"]) == "1"
    (written,) = _events("mlflow.alias_set")
    assert written["data"]["attempts"] == 2 and written["data"]["mlflow_response"]["version"] == "1"


def test_alias_set_but_unconfirmed_is_not_recorded_as_done(
    proxied_link,
    proxy,
    mlflow_client,
    developer,
    validator,
    risk_officer,
    django_capture_on_commit_callbacks,
):
    """MLflow accepts the write, then the read-back answers 502: the write stays owed (never a false
    "done"); the retry writes the same alias again (idempotent) and confirms it."""
    services.mlflow_link_sync(by=ADMIN, link=proxied_link)
    proxy.fail("GET", "/registered-models/alias", status=502)
    version = ModelVersion.objects.get(model=proxied_link.model, version="1")
    with django_capture_on_commit_callbacks(execute=True):
        _to_production(version, developer, [validator, risk_officer])
    write = MlflowAliasWrite.objects.get(link=proxied_link, alias="champion")
    assert write.status == "retrying" and "502" in write.last_error and write.response == {}
    assert _events("mlflow.alias_set") == []
    proxy.clear()
    assert services.mlflow_alias_writes_flush(link=proxied_link) == {write.pk: "done"}
    assert len(_events("mlflow.alias_set")) == 1
    assert str(mlflow_client.get_registered_model(proxied_link.mlflow_name).aliases["champion"]) == "1"
