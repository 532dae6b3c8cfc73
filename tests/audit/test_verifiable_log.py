"""Checkpoints, proofs, exports and external events against the real database, and tampering
with the stored log that verification must catch (reference audit-log.md section 3.4)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from audit import checkpoints
from audit.context import Actor
from audit.export import export_bundle
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification
from audit.notes import Signer, checkpoint_body, generate_signer_key, sign_note
from audit.services import EventSpec, audit_events_append
from audit.verification import record_verification, verify_database
from audit.verifier import canonical_json, parse_verifier_key, verify_consistency, verify_inclusion, verify_log_bundle
from tests.audit.helpers import triggers_disabled

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor.system("tests")


def grow(count: int, *, checkpoint_every: int | None = None) -> None:
    """Append ``count`` events in batches, signing a checkpoint after every batch if asked."""
    batch = checkpoint_every or count
    done = 0
    while done < count:
        n = min(batch, count - done)
        audit_events_append(
            [
                EventSpec(ACTOR, "test.grow", {"type": "item", "id": done + i}, {"n": done + i, "text": "café"})
                for i in range(n)
            ]
        )
        done += n
        if checkpoint_every:
            checkpoints.checkpoint_create()


def trusted_keys() -> list:
    return [parse_verifier_key(key) for key in checkpoints.public_keys()]


def test_checkpoint_is_a_signed_note_over_the_current_tree():
    grow(37)
    checkpoint = checkpoints.checkpoint_create()
    head = AuditHead.objects.get()
    assert checkpoint.size == head.size
    lines = checkpoint.note.split("\n")
    assert lines[0] == head.origin and lines[1] == str(head.size)
    assert lines[4].startswith(f"\u2014 {head.origin} ")
    from audit.verifier import verify_checkpoint

    origin, size, root, names = verify_checkpoint(checkpoint.note, trusted_keys())
    assert (origin, size, root) == (head.origin, head.size, bytes(checkpoint.root))
    assert checkpoints.checkpoint_create() is None, "nothing new: no second checkpoint of the same tree"


def test_two_keys_sign_during_a_rotation(settings, tmp_path):
    grow(3)
    origin = AuditHead.objects.get().origin
    keys = [generate_signer_key(origin), generate_signer_key(origin)]
    settings.AUDIT_SIGNING_KEYS = "\n".join(keys)
    checkpoint = checkpoints.checkpoint_create()
    assert checkpoint.note.count("\u2014 ") == 2
    assert len(checkpoints.public_keys()) == 2


def test_a_tree_inconsistent_with_a_signed_checkpoint_is_never_signed(caplog):
    grow(20)
    checkpoints.checkpoint_create()
    grow(5)
    with triggers_disabled(), connection.cursor() as cursor:
        # rewrite history under the signed checkpoint: every stored subtree hash changes
        cursor.execute("UPDATE audit_audittreenode SET hash = %s", [b"\x00" * 32])
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.checkpoint_create()
    assert AuditCheckpoint.objects.count() == 1
    assert "audit log alert" in caplog.text


def test_proofs_over_the_api_verify_against_checkpoints(auditor, api_for):
    grow(300, checkpoint_every=50)
    client = api_for(auditor)
    checkpoint = client.get("/api/v1/audit/checkpoint").json()
    size, root = checkpoint["size"], base64.b64decode(checkpoint["root"])
    for seq in (0, 1, 127, 128, 255, 256, size - 1):
        body = client.get(f"/api/v1/audit/proof/inclusion?seq={seq}&size={size}").json()
        leaf = base64.b64decode(body["leaf_hash"])
        proof = [base64.b64decode(h) for h in body["proof"]]
        assert verify_inclusion(seq, size, leaf, proof, root)
        assert len(proof) <= size.bit_length()
    older = AuditCheckpoint.objects.filter(size__lt=size).order_by("size")
    for cp in older:
        body = client.get(f"/api/v1/audit/proof/consistency?first={cp.size}&second={size}").json()
        proof = [base64.b64decode(h) for h in body["proof"]]
        assert verify_consistency(cp.size, size, bytes(cp.root), root, proof)
    entries = client.get("/api/v1/audit/entries?start=10&end=13").json()["entries"]
    assert [e["seq"] for e in entries] == [10, 11, 12]
    assert entries[0]["record"].encode() == bytes(AuditEvent.objects.get(seq=10).record)


@pytest.mark.parametrize(
    "query, field",
    [
        ("seq=5", "size"),
        ("seq=x&size=3", "seq"),
        ("seq=9&size=5", "seq"),
        ("seq=0&size=999999", "size"),
    ],
)
def test_bad_proof_requests_name_the_parameter(auditor, api_for, query, field):
    grow(10)
    response = api_for(auditor).get(f"/api/v1/audit/proof/inclusion?{query}")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_only_auditors_and_admins_read_proofs_but_keys_are_public(developer, api_for, client):
    grow(3)
    assert api_for(developer).get("/api/v1/audit/checkpoint").status_code == 403
    body = client.get("/api/v1/audit/keys").json()
    assert body["keys"] and body["keys"][0].startswith(body["origin"] + "+")


def test_pipelines_append_batches_of_their_own_events(pipeline, api_for):
    client = api_for(pipeline)
    start = AuditHead.objects.get().size
    events = [
        {
            "action": "pipeline.batch_scored",
            "target": {"type": "batch", "id": f"b{i}"},
            "details": {"rows": i, "score_mean": "0.4127"},
        }
        for i in range(1000)
    ]
    response = client.post("/api/v1/audit/events", {"events": events}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"count": 1000, "first_seq": start, "last_seq": start + 999}
    event = AuditEvent.objects.get(seq=start + 7)
    assert event.actor_username == pipeline.username and event.action == "external.pipeline.batch_scored"
    assert verify_database().ok


@pytest.mark.parametrize(
    "event, field",
    [
        (
            {"action": "pipeline.scored", "target": {"type": "b", "id": 1}, "details": {"mean": 0.5}},
            "events[1].details.mean",
        ),
        ({"action": "Scored", "target": {"type": "b", "id": 1}}, "events[1].action"),
        ({"action": "pipeline.scored", "target": {"type": "b"}}, "events[1].target"),
        ({"action": "model_version.stage_change", "target": {"type": "b", "id": 1}}, "events[1].action"),
        (
            {"action": "pipeline.scored", "target": {"type": "b", "id": 1}, "details": {"x": "y" * 70000}},
            "events[1].details",
        ),
    ],
)
def test_bad_external_events_are_refused_whole(pipeline, api_for, event, field):
    client = api_for(pipeline)
    before = AuditHead.objects.get().size
    good = {"action": "pipeline.scored", "target": {"type": "b", "id": 0}}
    response = client.post("/api/v1/audit/events", {"events": [good, event]}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert AuditHead.objects.get().size == before, "nothing of the batch is kept"


def test_external_event_limits_and_roles(pipeline, developer, api_for):
    client = api_for(pipeline)
    too_many = [{"action": "pipeline.x", "target": {"type": "b", "id": i}} for i in range(10_001)]
    response = client.post("/api/v1/audit/events", {"events": too_many}, format="json")
    assert response.status_code in (400, 413)
    assert client.post("/api/v1/audit/events", {"events": []}, format="json").status_code == 400
    response = api_for(developer).post(
        "/api/v1/audit/events", {"events": [{"action": "pipeline.x", "target": {"type": "b", "id": 1}}]}, format="json"
    )
    assert response.status_code == 403


def test_export_verifies_offline_with_the_standalone_verifier(tmp_path, auditor, api_for):
    grow(250, checkpoint_every=100)
    key_file = tmp_path / "pinned.key"
    key_file.write_text("\n".join(checkpoints.public_keys()) + "\n")
    summary = export_bundle(tmp_path / "bundle.zip")
    result = subprocess.run(
        [sys.executable, str(ROOT / "audit" / "verifier.py"), summary["path"], "--key", str(key_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"PASS: {summary['size']} entries")
    # the same bundle over the API, audited as an export
    response = api_for(auditor).get("/api/v1/audit/export")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    downloaded = tmp_path / "downloaded.zip"
    downloaded.write_bytes(b"".join(response.streaming_content))
    assert verify_log_bundle(str(downloaded), trusted_keys()).ok
    assert AuditEvent.objects.filter(action="audit.export", actor_username=auditor.username).exists()


def test_a_changed_byte_in_an_exported_bundle_is_caught(tmp_path):
    grow(120, checkpoint_every=40)
    summary = export_bundle(tmp_path / "bundle")
    entries = Path(summary["path"]) / "entries.jsonl"
    lines = entries.read_bytes().split(b"\n")
    lines[77] = lines[77].replace(b'"n":', b'"m":', 1)
    entries.write_bytes(b"\n".join(lines))
    result = verify_log_bundle(summary["path"], trusted_keys())
    assert not result.ok and result.first_bad_seq == 77


# --- tampering with the stored log: 1,000 entries, a checkpoint every 100 ------------------------------------------


@pytest.fixture
def log_1000():
    grow(1000, checkpoint_every=100)
    assert verify_database(trusted_keys=trusted_keys()).ok
    return AuditHead.objects.get()


def _record(seq: int) -> dict:
    return json.loads(bytes(AuditEvent.objects.get(seq=seq).record))


def _set_record(seq: int, raw: bytes) -> None:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET record = %s WHERE seq = %s", [raw, seq])


def _sql(statement: str, params=()) -> None:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _check(expected_seq: int | None, fragment: str = "") -> None:
    result = verify_database(trusted_keys=trusted_keys())
    assert not result.ok, "tampering went unnoticed"
    if expected_seq is not None:
        assert result.first_bad_seq == expected_seq, result.line()
    assert fragment in result.line(), result.line()


def test_byte_flip_in_an_entry(log_1000):
    raw = bytearray(AuditEvent.objects.get(seq=500).record)
    raw[raw.index(b'"n":') + 4] ^= 0x01
    _set_record(500, bytes(raw))
    _check(500)


def test_deleted_row(log_1000):
    _sql("DELETE FROM audit_auditevent WHERE seq = 321")
    _check(321, "expected seq 321")


def test_swapped_rows(log_1000):
    a, b = bytes(AuditEvent.objects.get(seq=600).record), bytes(AuditEvent.objects.get(seq=601).record)
    _set_record(600, b)
    _set_record(601, a)
    _check(600)


def test_duplicated_row_appended(log_1000):
    raw = bytes(AuditEvent.objects.get(seq=10).record)
    _sql(
        "INSERT INTO audit_auditevent (seq, record, leaf_hash, ts, actor_type, actor_id, actor_username, action, "
        "object_type, object_id, request_id) SELECT %s, record, leaf_hash, ts, actor_type, actor_id, actor_username, "
        "action, object_type, object_id, request_id FROM audit_auditevent WHERE seq = 10",
        [log_1000.size],
    )
    assert raw
    _check(log_1000.size)


def test_dropped_tail(log_1000):
    _sql("DELETE FROM audit_auditevent WHERE seq >= 950")
    _check(950)


def test_forged_row_without_checkpoint(log_1000):
    last = _record(log_1000.size - 1)
    forged = {
        **last,
        "seq": log_1000.size,
        "action": "test.forged",
        "prev": base64.b64encode(bytes(log_1000.last_leaf)).decode(),
    }
    raw = canonical_json(forged)
    from audit.verifier import hash_leaf

    _sql(
        "INSERT INTO audit_auditevent (seq, record, leaf_hash, ts, actor_type, actor_id, actor_username, action, "
        "object_type, object_id, request_id) SELECT %s, %s, %s, ts, actor_type, actor_id, actor_username, "
        "'test.forged', object_type, object_id, request_id FROM audit_auditevent WHERE seq = %s",
        [log_1000.size, raw, hash_leaf(raw), log_1000.size - 1],
    )
    _check(log_1000.size, "head")


def test_changed_prev(log_1000):
    record = _record(400)
    record["prev"] = base64.b64encode(b"\x07" * 32).decode()
    _set_record(400, canonical_json(record))
    _check(400)


def test_non_canonical_bytes(log_1000):
    record = _record(250)
    _set_record(250, json.dumps(record, sort_keys=False, separators=(", ", ": ")).encode())
    _check(250, "canonical")


def test_nfc_to_nfd(log_1000):
    raw = bytes(AuditEvent.objects.get(seq=700).record)
    nfd = raw.decode().replace("café", unicodedata.normalize("NFD", "café")).encode()
    assert nfd != raw
    _set_record(700, nfd)
    _check(700)


def test_rollback_to_an_older_checkpoint(log_1000):
    _sql("DELETE FROM audit_auditevent WHERE seq >= 800")
    _sql("DELETE FROM audit_auditcheckpoint WHERE size > 800")
    _sql("DELETE FROM audit_audittreenode")  # and rebuild nothing: the head still says 1000
    _check(None)


def test_fork_and_forged_checkpoints(log_1000):
    cp = AuditCheckpoint.objects.order_by("size")[4]
    size = cp.size
    _sql("UPDATE audit_auditcheckpoint SET root = %s WHERE size = %s", [b"\x01" * 32, size])
    _check(None, f"checkpoint {size}")
    _sql("UPDATE audit_auditcheckpoint SET root = %s WHERE size = %s", [bytes(cp.root), size])
    origin = log_1000.origin
    stranger = Signer.from_key_string(generate_signer_key(origin))
    forged_note = sign_note(checkpoint_body(origin, size, bytes(cp.root)), stranger)
    _sql("UPDATE audit_auditcheckpoint SET note = %s WHERE size = %s", [forged_note, size])
    _check(None, "signature")
    broken = cp.note[:-10] + ("A" if cp.note[-10] != "A" else "B") + cp.note[-9:]
    _sql("UPDATE audit_auditcheckpoint SET note = %s WHERE size = %s", [broken, size])
    _check(None, "signature")


def test_nightly_verification_records_and_alerts(log_1000, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    run = record_verification(trigger="nightly")
    assert run.ok and run.size == log_1000.size and run.checkpoints_checked >= 10
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")
    run = record_verification(trigger="nightly")
    assert not run.ok and run.first_bad_seq == 5
    assert AuditVerification.objects.count() == 2
    assert any("verification FAILED" in message.subject + message.body for message in mail.outbox)


def test_production_refuses_to_start_without_a_signing_key(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_")}
    env.update(
        DEBUG="false",
        SECRET_KEY="s" * 60,
        ALLOWED_HOSTS="example.com",
        VAR_DIR=str(tmp_path),
        AUDIT_SIGNING_KEY_FILE=str(tmp_path / "missing.key"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "No audit signing key" in result.stderr


def test_zip_bundle_layout(tmp_path):
    grow(5)
    summary = export_bundle(tmp_path / "b.zip")
    names = set(zipfile.ZipFile(summary["path"]).namelist())
    assert {"entries.jsonl", "keys.txt", "README.md"} <= names
    assert any(name.startswith("checkpoints/") for name in names)


def test_admin_audit_page_shows_checkpoint_and_verification(client):
    from tests.factories.accounts import person

    grow(12)
    checkpoints.checkpoint_create()
    _sql("DELETE FROM audit_auditevent WHERE seq = 3")
    record_verification(trigger="nightly")
    client.force_login(person(is_superuser=True))
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert "Latest signed checkpoint" in page and "ALERT: the last verification FAILED" in page
    assert "seq 3" in page


def test_a_tampered_tree_node_is_caught(log_1000):
    from audit.merkle import node_id

    _sql("UPDATE audit_audittreenode SET hash = %s WHERE id = %s", [b"\x02" * 32, node_id(3, 40)])
    _check(40 * 8, "Merkle subtree")
