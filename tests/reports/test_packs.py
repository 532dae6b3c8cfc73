"""Documentation packs generated from the record: content, reproducibility, the signed bundle,
roles and failures. PDFs are read back with pypdf; bundles are checked with the offline verifier."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader

from audit import checkpoints
from audit.models import AuditEvent
from audit.services import audit_event_append
from audit.verifier import parse_verifier_key, verify_evidence_bundle
from governance.evaluations.models import Evaluation
from governance.registry.services import registered_model_update
from governance.reports.models import DocumentationPack
from governance.reports.outlines import load_outline
from governance.reports.services import narrative_set, pack_generate, pack_request
from tests.factories.accounts import ADMIN, ADMIN_ACTOR, as_user, person
from tests.factories.registry import model_version, registered_model
from tests.factories.workflow import approve, good_evidence, request

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def fairness_evaluation(version) -> Evaluation:
    now = timezone.now()
    checks = [
        {"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8, "value": 0.8731, "passed": True},
        {
            "metric": "demographic_parity_difference",
            "comparator": "<=",
            "threshold": 0.1,
            "value": 0.0412,
            "passed": True,
        },
    ]
    by_group = [
        {
            "group": {"sex": "female"},
            "overall": False,
            "count": 310,
            "selection_rate": 0.2839,
            "tpr": 0.61,
            "fpr": 0.18,
            "fnr": 0.39,
            "tnr": 0.82,
            "precision": 0.55,
            "accuracy": 0.74,
        },
        {
            "group": {"sex": "male"},
            "overall": False,
            "count": 690,
            "selection_rate": 0.3251,
            "tpr": 0.66,
            "fpr": 0.2,
            "fnr": 0.34,
            "tnr": 0.8,
            "precision": 0.58,
            "accuracy": 0.75,
        },
    ]
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            model_version=version,
            kind="fairness",
            dataset="holdout-2026-10",
            source="computed",
            status="done",
            metrics={"disparate_impact_ratio": 0.8731, "demographic_parity_difference": 0.0412},
            checks=checks,
            result={"by_group": by_group},
            input_sha256="ab" * 32,
            input_rows=1000,
            library_versions={"numpy": "2.4.6", "scipy": "1.17.1"},
            created_by=version.registered_by,
            created_at=now,
            finished_at=now,
        )
        audit_event_append(
            actor=ADMIN_ACTOR,
            action="evaluation.create",
            target={"type": "evaluation", "id": str(evaluation.pk)},
            details={"kind": "fairness"},
        )
    return evaluation


@pytest.fixture
def governed_version():
    developer, validator = person("developer"), person("validator")
    model = registered_model(owner=developer, risk_tier="tier_2", eu_ai_act_category="limited")
    version = model_version(model=model)
    good_evidence(version)
    fairness_evaluation(version)
    approve(request(version, developer), validator, justification="Holdout AUC 0.81 and fairness within policy.")
    narrative_set(
        by=as_user(developer),
        model=model,
        key="intended_purpose",
        text="Ranks retail credit applications for manual review.",
    )
    return version


@pytest.fixture
def auditor_user():
    return person("auditor")


def generate(version, regime, user, as_of=None) -> DocumentationPack:
    pack = pack_request(by=as_user(user), version=version, regime=regime, as_of=as_of)
    return pack_generate(pack.pk, by=ADMIN)


def pdf_text(pack: DocumentationPack) -> str:
    with pack.pdf.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return "\n".join(page.extract_text() for page in reader.pages)


def normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("regime", ["sr11-7", "eu-ai-act"])
def test_pack_shows_every_section_the_record_and_the_gaps(governed_version, auditor_user, regime):
    pack = generate(governed_version, regime, auditor_user)
    assert pack.status == "done" and pack.pack_id.startswith("pk-")
    text = normalise(pdf_text(pack))
    outline = load_outline(regime)
    for section in outline["sections"]:
        assert normalise(section["title"]) in text, section["title"]
        if section.get("citation"):
            assert normalise(section["citation"])[:40] in text, section["citation"]
    assert "NOT PROVIDED" in text
    assert "Ranks retail credit applications for manual review." in text
    assert "0.8731" in text and "disparate_impact_ratio" in text
    assert "Holdout AUC 0.81 and fairness within policy." in text
    assert governed_version.artifact_sha256[:32] in text.replace(" ", "")
    assert f"as of audit seq {pack.as_of_seq}".lower() in text.lower() or str(pack.as_of_seq) in text
    assert "Page 1 of" in text
    if regime == "sr11-7":
        assert "2011" in text and "2026-13" in text


def test_same_as_of_gives_identical_bytes_after_the_record_moves_on(governed_version, auditor_user):
    first = generate(governed_version, "sr11-7", auditor_user)
    # the record changes after the snapshot: a new narrative, a renamed purpose, more log entries
    narrative_set(
        by=as_user(governed_version.model.owner),
        model=governed_version.model,
        key="intended_users",
        text="Credit officers.",
    )
    registered_model_update(
        by=as_user(governed_version.model.owner),
        model=governed_version.model,
        data={"purpose": "A different purpose written later."},
    )
    checkpoints.checkpoint_create()
    again = generate(governed_version, "sr11-7", auditor_user, as_of=first.as_of_seq)
    assert again.as_of_seq == first.as_of_seq
    assert again.pdf_sha256 == first.pdf_sha256 and again.content_sha256 == first.content_sha256
    assert again.bundle_sha256 == first.bundle_sha256
    assert "A different purpose written later." not in pdf_text(again)
    latest = generate(governed_version, "sr11-7", auditor_user)
    assert latest.pdf_sha256 != first.pdf_sha256
    assert "A different purpose written later." in normalise(pdf_text(latest))


def _pinned_keys():
    return [parse_verifier_key(key) for key in checkpoints.public_keys()]


def test_bundle_verifies_offline_and_every_changed_byte_is_caught(governed_version, auditor_user, tmp_path):
    pack = generate(governed_version, "eu-ai-act", auditor_user)
    bundle = Path(pack.bundle.path)
    assert verify_evidence_bundle(str(bundle), _pinned_keys()).ok
    key_file = tmp_path / "pinned.pub"
    key_file.write_text("\n".join(checkpoints.public_keys()) + "\n")
    cli = subprocess.run(
        [sys.executable, str(ROOT / "audit" / "verifier.py"), str(bundle), "--key", str(key_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0 and cli.stdout.startswith("PASS"), cli.stdout + cli.stderr
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert {
        "pack.pdf",
        "pack.json",
        "manifest.json",
        "manifest.sig",
        "audit/entries.jsonl",
        "audit/proofs.json",
        "audit/checkpoint.txt",
        "keys.txt",
        "README.md",
        "model_card.json",
    } <= set(members)
    cited = [json.loads(line)["seq"] for line in members["audit/entries.jsonl"].splitlines()]
    assert cited == sorted(cited) and len(cited) >= 5
    for name, content in members.items():
        positions = sorted({0, len(content) - 1, *range(0, len(content), max(1, len(content) // 12))})
        for position in positions:
            tampered = bytearray(content)
            tampered[position] ^= 0x01
            path = tmp_path / "tampered.zip"
            with zipfile.ZipFile(path, "w") as archive:
                for other, data in members.items():
                    archive.writestr(other, bytes(tampered) if other == name else data)
            result = verify_evidence_bundle(str(path), _pinned_keys())
            assert not result.ok, f"changed byte {position} of {name} went unnoticed"
            assert result.bad_file == name, (name, position, result.line())


def test_packs_without_evidence_still_generate_and_say_so(auditor_user):
    version = model_version()
    pack = generate(version, "sr11-7", auditor_user)
    text = normalise(pdf_text(pack))
    assert pack.status == "done"
    assert "No approvals are recorded" in text or "no approvals" in text.lower()
    assert "NOT PROVIDED" in text


def test_roles_without_access_are_refused_and_audited(governed_version, api_for):
    developer = governed_version.model.owner
    response = api_for(developer).post(
        "/api/v1/reports/", {"model_version": governed_version.pk, "regime": "sr11-7"}, format="json"
    )
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="api.request.denied", actor_username=developer.username).exists()
    from governance.common.errors import PermissionRefused

    with pytest.raises(PermissionRefused):
        pack_request(by=as_user(person("validator")), version=governed_version, regime="sr11-7")
    assert AuditEvent.objects.filter(action="report.request.denied").exists()


def test_api_job_lifecycle_and_audited_downloads(
    governed_version, auditor_user, api_for, django_capture_on_commit_callbacks
):
    client = api_for(auditor_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/reports/", {"model_version": governed_version.pk, "regime": "eu-ai-act"}, format="json"
        )
    assert response.status_code == 202, response.json()
    job = client.get(f"/api/v1/reports/{response.json()['id']}/").json()
    assert job["status"] == "done" and job["as_of"]["seq"] == response.json()["as_of"]["seq"]
    assert job["pdf_url"].endswith(f"/api/v1/reports/{job['id']}/pdf/")
    pdf = client.get(f"/api/v1/reports/{job['id']}/pdf/")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    bundle = client.get(f"/api/v1/reports/{job['id']}/bundle")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    downloads = AuditEvent.objects.filter(action="report.download", actor_username=auditor_user.username)
    assert [e.record_json["data"]["file"] for e in downloads] == ["pdf", "bundle"]
    assert AuditEvent.objects.filter(action__in=["report.request", "report.complete"]).count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"regime": "sr11-7"}, "model_version"),
        ({"model_version": 999999, "regime": "sr11-7"}, "model_version"),
        ({"model_version": None, "regime": "nist"}, "regime"),
        ({"regime": "sr11-7", "as_of": 10**9}, "as_of"),
    ],
)
def test_bad_pack_requests_name_the_field(governed_version, auditor_user, api_for, body, field):
    if body.get("model_version") is None and "model_version" in body:
        body["model_version"] = governed_version.pk
    if "model_version" not in body and field != "model_version":
        body["model_version"] = governed_version.pk
    response = api_for(auditor_user).post("/api/v1/reports/", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()
    assert not DocumentationPack.objects.exists()


def test_a_failed_render_leaves_a_failed_job_and_no_file(governed_version, auditor_user, api_for):
    pack = pack_request(by=as_user(auditor_user), version=governed_version, regime="sr11-7")
    DocumentationPack.objects.filter(pk=pack.pk).update(outline_version="99")  # an outline that does not exist
    with pytest.raises(Exception, match="99"):
        pack_generate(pack.pk, by=ADMIN)
    pack.refresh_from_db()
    assert pack.status == "failed" and "99" in pack.failure_reason and not pack.pdf and not pack.bundle
    assert AuditEvent.objects.filter(action="report.fail").exists()
    response = api_for(auditor_user).get(f"/api/v1/reports/{pack.pk}/pdf/")
    assert response.status_code == 409


def test_narratives_belong_to_their_owners(governed_version):
    from governance.common.errors import PermissionRefused, ValidationFailed

    model = governed_version.model
    with pytest.raises(PermissionRefused):
        narrative_set(
            by=as_user(person("developer")),
            model=model,
            key="validation_opinion",
            text="I validate my own model.",
            version=governed_version,
        )
    with pytest.raises(ValidationFailed, match="per model version"):
        narrative_set(by=as_user(person("validator")), model=model, key="validation_opinion", text="Sound.")
    with pytest.raises(ValidationFailed, match="unknown narrative"):
        narrative_set(by=as_user(model.owner), model=model, key="made_up", text="x")
    entry = narrative_set(
        by=as_user(person("validator")),
        model=model,
        key="validation_opinion",
        text="Sound, with conditions.",
        version=governed_version,
    )
    event = AuditEvent.objects.filter(action="narrative.set").last()
    assert event.record_json["data"]["key"] == "validation_opinion" and entry.author_role == "validator"


def test_auditors_see_packs_and_narrative_history_in_the_admin(governed_version, auditor_user, client):
    generate(governed_version, "sr11-7", auditor_user)
    client.force_login(auditor_user)
    index = client.get("/admin/").content.decode()
    assert "Documentation packs" in index and "Narrative entries" in index
    page = client.get("/admin/reports/documentationpack/").content.decode()
    assert "signed bundle" in page
