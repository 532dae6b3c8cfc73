"""The two Python examples of docs/webhooks.md, run as written against real deliveries and the real
audit proof API (so the documentation cannot drift from the service)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from audit.checkpoints import checkpoint_create
from audit.notes import Signer, generate_signer_key
from audit.verifier import NoteError
from governance.integrations.webhooks import services
from tests.factories import workflow as wf
from tests.factories.accounts import as_user

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _load(source: str) -> dict:
    namespace = {"__name__": "docs_example"}
    exec(compile(source, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.fixture
def promoted(risk_officer, receiver, version, developer, validator, django_capture_on_commit_callbacks):
    """A production promotion delivered to the receiver; returns the subscription's secret."""
    _, secret = services.subscription_create(
        by=as_user(risk_officer), url=receiver.url, events=["model_version.promoted"]
    )
    wf.good_evidence(version)
    for stage, signers in (("staging", [validator]), ("production", [validator, risk_officer])):
        with django_capture_on_commit_callbacks(execute=True):
            req = wf.request(version, developer, stage)
        for signer in signers:
            with django_capture_on_commit_callbacks(execute=True):
                wf.approve(req, signer)
    assert len(receiver.received) == 2
    return secret


def test_the_receiver_example_verifies_and_deduplicates(promoted, receiver):
    receive = _load(_examples()[0])["receive"]
    delivery = receiver.received[-1]
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    status, message = receive(delivery["body"], headers, promoted)
    assert status == 200 and message["type"] == "model_version.promoted"
    assert receive(delivery["body"], headers, promoted) == (200, None), "a retry is recognised"
    assert receive(delivery["body"].replace(b"production", b"staging"), headers, promoted)[0] == 400


def test_the_cd_example_deploys_only_a_proven_production_promotion(promoted, receiver, auditor, api_for, version):
    example = _load(_examples()[1])
    api = api_for(auditor)
    keys = api.get("/api/v1/audit/keys").json()["keys"]

    def get(url):
        response = api.get(url.removeprefix("https://mlgov.example"))
        assert response.status_code == 200, response.content
        return response.json()

    deployed = []
    staging, production = receiver.received
    checkpoint_create()
    args = {"get": get, "trusted_keys": keys}
    assert example["on_delivery"](staging["body"], staging["headers"], promoted, deployed.append, **args) == "ignored"
    result = example["on_delivery"](
        production["body"], production["headers"], promoted, lambda *v: deployed.append(v), **args
    )
    assert result == "deployed" and deployed[0] == (
        version.model.name,
        version.version,
        version.artifact_uri,
        version.artifact_sha256,
    )

    with pytest.raises(WebhookVerificationError):
        example["on_delivery"](production["body"] + b" ", production["headers"], promoted, deployed.append, **args)
    stranger = Signer.from_key_string(generate_signer_key("other.example/log")).verifier_key()
    with pytest.raises(NoteError, match="no signature from a trusted key"):  # a key we do not trust signed it
        example["on_delivery"](
            production["body"], production["headers"], promoted, deployed.append, get=get, trusted_keys=[stranger]
        )
    assert len(deployed) == 1
