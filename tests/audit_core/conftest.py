"""Shared helpers for the audit core tests (no database needed).

Helpers are exposed through the ``kit`` fixture because tests run with
--import-mode=importlib (conftest modules are not importable by name)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import zipfile
from types import SimpleNamespace

import pytest

from audit import merkle, notes, verifier

ORIGIN = "test.example/mlgov-audit/0b6f3c1e"


def make_record(seq: int, prev: bytes, origin: str = ORIGIN) -> dict:
    rec = {
        "v": "mlgov.audit/v1",
        "log": origin,
        "seq": seq,
        "prev": base64.b64encode(prev).decode(),
        "ts": f"2026-01-{1 + seq % 28:02d}T12:{seq % 60:02d}:{(seq * 7) % 60:02d}.{seq % 1000000:06d}Z",
        "actor": {"type": "user", "id": str(1000 + seq % 17), "username": f"user{seq % 17}", "auth": "session"},
        "ctx": {"request_id": f"req-{seq:08d}", "origin": "http", "ip": "10.0.0.1"},
        "action": "model_version.register" if seq % 3 else "approval.grant",
        "object": {"type": "model_version", "id": str(seq // 3), "version": "1.2.3"},
        "data": {
            "artifact": "sha256:" + hashlib.sha256(str(seq).encode()).hexdigest(),
            "metrics": {"auc": "0.9312", "f1": "0.88"},
            "tags": ["prod", "eu"],
            "count": seq * 3,
            "ok": True,
            "note": None,
        },
    }
    if seq % 10 == 7:
        rec["reason"] = "Gepr\u00fcft von J\u00fcrgen \u2014 caf\u00e9 \u65e5\u672c"
    return rec


def build_log(n: int, origin: str = ORIGIN) -> tuple[list[bytes], list[bytes]]:
    entries, leaves = [], []
    prev = bytes(32)
    for seq in range(n):
        raw = verifier.canonical_json(make_record(seq, prev, origin))
        leaf = verifier.hash_leaf(raw)
        entries.append(raw)
        leaves.append(leaf)
        prev = leaf
    return entries, leaves


def root_of(leaves: list[bytes]) -> bytes:
    return merkle.root_from_leaf_hashes(leaves)


def checkpoint_note(signers, size: int, root: bytes, origin: str = ORIGIN) -> str:
    return notes.sign_note(notes.checkpoint_body(origin, size, root), signers)


def write_log_bundle(path, entries, checkpoints: dict[str, str], keys: list[str]) -> str:
    path = str(path)
    os.makedirs(os.path.join(path, "checkpoints"), exist_ok=True)
    with open(os.path.join(path, "entries.jsonl"), "wb") as f:
        for raw in entries:
            f.write(raw + b"\n")
    for name, text in checkpoints.items():
        with open(os.path.join(path, "checkpoints", name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    with open(os.path.join(path, "keys.txt"), "w") as f:
        f.write("\n".join(keys) + "\n")
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write("Audit export bundle. Verify with: python verifier.py . --key KEYFILE\n")
    return path


def ckpt_name(size: int) -> str:
    return f"{size:020d}.txt"


def standard_checkpoints(signers, leaves, every: int, origin: str = ORIGIN) -> dict[str, str]:
    out = {}
    sizes = list(range(every, len(leaves) + 1, every))
    if not sizes or sizes[-1] != len(leaves):
        sizes.append(len(leaves))
    for size in sizes:
        out[ckpt_name(size)] = checkpoint_note(signers, size, root_of(leaves[:size]), origin)
    return out


def store_for(leaves):
    cr = merkle.CompactRange()
    store = {}
    for i, h in enumerate(leaves):
        store[(0, i)] = h
        for level, index, hh in cr.append(h):
            store[(level, index)] = hh
    return store


def make_evidence(
    path,
    signers,
    entries,
    leaves,
    cited: list[int],
    size: int | None = None,
    as_zip: bool = False,
    origin: str = ORIGIN,
) -> str:
    size = len(leaves) if size is None else size
    store = store_for(leaves)

    def fetch(nodes):
        return {n: store[n] for n in nodes}

    files: dict[str, bytes] = {
        "audit/checkpoint.txt": checkpoint_note(signers, size, merkle.root_at(size, fetch), origin).encode(),
        "audit/entries.jsonl": b"".join(entries[s] + b"\n" for s in cited),
        "audit/proofs.json": json.dumps(
            {
                "tree_size": size,
                "proofs": [
                    {"seq": s, "proof": [base64.b64encode(h).decode() for h in merkle.inclusion_proof(s, size, fetch)]}
                    for s in cited
                ],
            }
        ).encode(),
        "pack.json": json.dumps({"model": "fraud-detector", "version": "1.2.3"}).encode(),
        "README.md": b"Evidence pack.\n",
        "model_card.json": b'{"name":"fraud-detector"}',
    }
    manifest = verifier.canonical_json(
        {
            "format": "mlgov.evidence/v1",
            "origin": origin,
            "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        }
    )
    sig = notes.sign_note(f"{origin}\nmlgov.evidence/v1\nsha256:{hashlib.sha256(manifest).hexdigest()}\n", signers)
    files["manifest.json"] = manifest
    files["manifest.sig"] = sig.encode()
    path = str(path)
    if as_zip:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for k, v in files.items():
                z.writestr(k, v)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
    else:
        for k, v in files.items():
            full = os.path.join(path, k)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(v)
    return path


def zip_dir(src, dst) -> str:
    with zipfile.ZipFile(dst, "w") as z:
        for dirpath, _dirs, filenames in os.walk(src):
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                z.write(full, os.path.relpath(full, src).replace(os.sep, "/"))
    return str(dst)


@pytest.fixture(scope="session")
def signer():
    return notes.Signer.from_key_string(notes.generate_signer_key(ORIGIN))


@pytest.fixture(scope="session")
def log1000():
    entries, leaves = build_log(1000)
    return entries, leaves


@pytest.fixture(scope="session")
def base_bundle(tmp_path_factory, signer, log1000):
    entries, leaves = log1000
    path = tmp_path_factory.mktemp("base") / "bundle"
    write_log_bundle(path, entries, standard_checkpoints([signer], leaves, 100), [signer.verifier_key()])
    return str(path)


@pytest.fixture
def bundle_copy(tmp_path, base_bundle):
    dst = tmp_path / "bundle"
    shutil.copytree(base_bundle, dst)
    return str(dst)


@pytest.fixture(scope="session")
def kit():
    return SimpleNamespace(
        ORIGIN=ORIGIN,
        make_record=make_record,
        build_log=build_log,
        root_of=root_of,
        checkpoint_note=checkpoint_note,
        write_log_bundle=write_log_bundle,
        ckpt_name=ckpt_name,
        standard_checkpoints=standard_checkpoints,
        store_for=store_for,
        make_evidence=make_evidence,
        zip_dir=zip_dir,
    )
