"""Evidence bundle verification: valid pass, every file's bytes covered, missing/extra files."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import zipfile

import pytest

from audit import notes
from audit.verifier import verify_evidence_bundle

CITED = [0, 1, 17, 99, 100, 255, 256, 511, 998, 999]


@pytest.fixture(scope="module")
def evidence_zip(tmp_path_factory, signer, log1000, kit):
    entries, leaves = log1000
    path = tmp_path_factory.mktemp("ev") / "evidence.zip"
    return kit.make_evidence(path, [signer], entries, leaves, CITED, as_zip=True)


def _zip_members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _write_zip(path, members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return str(path)


def test_valid_evidence_zip_and_dir_pass(evidence_zip, signer, log1000, kit, tmp_path):
    res = verify_evidence_bundle(evidence_zip, [signer.verifier_key()])
    assert res.ok, res.line()
    assert res.entries == len(CITED) and res.size == 1000
    entries, leaves = log1000
    d = kit.make_evidence(tmp_path / "dir", [signer], entries, leaves, CITED)
    assert verify_evidence_bundle(d, [signer.verifier_key()]).ok
    # proof against an older checkpoint size also works
    d2 = kit.make_evidence(tmp_path / "dir2", [signer], entries, leaves[:600], [5, 599], size=600)
    assert verify_evidence_bundle(d2, [signer.verifier_key()]).ok


def _positions(n, rnd):
    if n <= 120:
        return list(range(n))  # small files: every byte
    pos = {0, n - 1}
    while len(pos) < 62:
        pos.add(rnd.randrange(n))
    return sorted(pos)


@pytest.mark.parametrize(
    "name",
    [
        "manifest.json",
        "manifest.sig",
        "audit/checkpoint.txt",
        "audit/entries.jsonl",
        "audit/proofs.json",
        "pack.json",
        "README.md",
        "model_card.json",
    ],
)
def test_every_byte_flip_names_the_file(evidence_zip, signer, tmp_path, name):
    members = _zip_members(evidence_zip)
    data = members[name]
    rnd = random.Random(name)
    positions = _positions(len(data), rnd)
    assert len(positions) >= min(len(data), 50)
    for pos in positions:
        for bit in (0x01, 0x80):
            b = bytearray(data)
            b[pos] ^= bit
            path = _write_zip(tmp_path / f"m{pos}_{bit}.zip", {**members, name: bytes(b)})
            res = verify_evidence_bundle(path, [signer.verifier_key()])
            assert not res.ok, (name, pos)
            assert res.bad_file == name, (name, pos, res.line())
            assert res.line().startswith(f"FAIL: {name}: "), res.line()
            os.remove(path)


@pytest.mark.parametrize("name", ["audit/checkpoint.txt", "pack.json", "README.md", "audit/proofs.json"])
def test_missing_file(evidence_zip, signer, tmp_path, name):
    members = _zip_members(evidence_zip)
    del members[name]
    res = verify_evidence_bundle(_write_zip(tmp_path / "x.zip", members), [signer.verifier_key()])
    assert not res.ok and res.bad_file == name and "missing" in res.reason, res.line()


@pytest.mark.parametrize("name", ["manifest.json", "manifest.sig"])
def test_missing_manifest(evidence_zip, signer, tmp_path, name):
    members = _zip_members(evidence_zip)
    del members[name]
    res = verify_evidence_bundle(_write_zip(tmp_path / "x.zip", members), [signer.verifier_key()])
    assert not res.ok and res.bad_file == name, res.line()


@pytest.mark.parametrize("name", ["extra.txt", "audit/extra.json", "audit/entries.jsonl.bak"])
def test_extra_file(evidence_zip, signer, tmp_path, name):
    members = _zip_members(evidence_zip)
    members[name] = b"surprise"
    res = verify_evidence_bundle(_write_zip(tmp_path / "x.zip", members), [signer.verifier_key()])
    assert not res.ok and res.bad_file == name and "not listed" in res.reason, res.line()


def test_wrong_key(evidence_zip, kit):
    other = notes.Signer.from_key_string(notes.generate_signer_key(kit.ORIGIN))
    res = verify_evidence_bundle(evidence_zip, [other.verifier_key()])
    assert not res.ok and res.bad_file == "manifest.sig", res.line()


def _resign(members, signer, origin):
    """A dishonest server re-issues a consistent manifest for altered content."""
    import hashlib

    from audit.verifier import canonical_json

    files = {k: hashlib.sha256(v).hexdigest() for k, v in members.items() if k not in ("manifest.json", "manifest.sig")}
    manifest = canonical_json({"format": "mlgov.evidence/v1", "origin": origin, "files": files})
    members["manifest.json"] = manifest
    members["manifest.sig"] = notes.sign_note(
        f"{origin}\nmlgov.evidence/v1\nsha256:{hashlib.sha256(manifest).hexdigest()}\n", signer
    ).encode()
    return members


def test_resigned_manifest_with_bad_proof_fails(evidence_zip, signer, kit, tmp_path):
    members = _zip_members(evidence_zip)
    doc = json.loads(members["audit/proofs.json"])
    doc["proofs"][2]["proof"][0] = base64.b64encode(bytes(32)).decode()
    members["audit/proofs.json"] = json.dumps(doc).encode()
    res = verify_evidence_bundle(
        _write_zip(tmp_path / "x.zip", _resign(members, signer, kit.ORIGIN)), [signer.verifier_key()]
    )
    assert not res.ok and res.first_bad_seq == CITED[2], res.line()


def test_resigned_manifest_with_altered_entry_fails(evidence_zip, signer, kit, tmp_path):
    members = _zip_members(evidence_zip)
    members["audit/entries.jsonl"] = members["audit/entries.jsonl"].replace(b'"auc":"0.9312"', b'"auc":"0.9999"', 1)
    res = verify_evidence_bundle(
        _write_zip(tmp_path / "x.zip", _resign(members, signer, kit.ORIGIN)), [signer.verifier_key()]
    )
    assert not res.ok and res.first_bad_seq == CITED[0], res.line()


def test_proof_for_different_tree_size_fails(evidence_zip, signer, kit, tmp_path):
    members = _zip_members(evidence_zip)
    doc = json.loads(members["audit/proofs.json"])
    doc["tree_size"] = 999
    members["audit/proofs.json"] = json.dumps(doc).encode()
    res = verify_evidence_bundle(
        _write_zip(tmp_path / "x.zip", _resign(members, signer, kit.ORIGIN)), [signer.verifier_key()]
    )
    assert not res.ok and res.bad_file == "audit/proofs.json", res.line()
