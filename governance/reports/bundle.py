"""Signed evidence bundles: the PDF, pack.json, the audit entries the pack cites with inclusion
proofs against a signed checkpoint, the public keys, manifest.json and its signature.

The layout is what ``audit/verifier.py`` checks offline (``verify_evidence_bundle``); the bundle
carries that verifier itself as ``verifier.py`` (its SHA-256 is in the manifest like every file)
and a five-line README. The zip is written deterministically (sorted members, fixed timestamps) so
the same pack gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from audit import checkpoints
from audit import verifier as verifier_module
from audit.keys import signers_for
from audit.merkle import inclusion_proof
from audit.notes import sign_note
from audit.selectors import AuditCheckpoint, AuditEvent
from audit.verifier import canonical_json
from governance.reports.identity import canonical_pack_bytes
from governance.reports.modelcard import model_card

FORMAT = "mlgov.evidence/v1"

#: The bundle's README: five lines, how to verify offline and what a PASS proves.
README = (
    "Evidence bundle {pack_id}: {title}, {model} {version}, as of audit seq {seq} ({ts}).\n"
    "Verify offline with Python 3.11 and the cryptography package only: "
    "python verifier.py THIS_BUNDLE.zip --key YOUR_PINNED_KEY_FILE\n"
    "Pin the log's public key from your own trusted copy; keys.txt here is a convenience, not a trust anchor.\n"
    "PASS proves: every file matches manifest.json, manifest.sig is signed by the pinned key, and each of the "
    "{n} cited audit entries is in the signed checkpoint (tree size {size}).\n"
    "PASS does not prove the statements are true, only that they are unchanged since the key holder signed them; "
    "verifier.py is in the manifest too (compare its SHA-256 with your own copy).\n"
)

#: The standalone verifier shipped inside every bundle (stdlib + cryptography, no Django).
VERIFIER_PATH = Path(verifier_module.__file__)


def _proofs(events: list[AuditEvent], size: int) -> list[dict]:
    """Inclusion proofs for many entries with a few bulk reads instead of one query per proof."""
    fetch = checkpoints.Prefetched(*[lambda f, seq=event.seq: inclusion_proof(seq, size, f) for event in events])
    return [
        {"seq": event.seq, "proof": [base64.b64encode(h).decode() for h in inclusion_proof(event.seq, size, fetch)]}
        for event in events
    ]


def write_bundle(
    *, out_path: Path, pdf_path: Path, pack: dict, events: list[AuditEvent], checkpoint: AuditCheckpoint, title: str
) -> str:
    """Write the zip and return its SHA-256."""
    members: dict[str, bytes | Path] = {
        "pack.pdf": pdf_path,
        "pack.json": canonical_pack_bytes(pack),
        "model_card.json": json.dumps(model_card(pack), sort_keys=True, indent=2, ensure_ascii=False).encode(),
        **evidence_members(events, checkpoint),
        "README.md": README.format(
            pack_id=pack["pack_id"],
            title=title,
            model=pack["model"]["name"],
            version=pack["version"]["version"],
            seq=pack["as_of"]["seq"],
            ts=pack["as_of"]["ts"],
            n=len(events),
            size=checkpoint.size,
        ).encode(),
    }
    return write_signed_zip(out_path=out_path, members=members, ts=pack["as_of"]["ts"])


def evidence_members(events: list[AuditEvent], checkpoint: AuditCheckpoint) -> dict[str, bytes | Path]:
    """The members every evidence bundle carries: the cited audit entries with their inclusion proofs
    against ``checkpoint``, the checkpoint, the standalone verifier and the log's public keys."""
    origin = checkpoints.head().origin
    return {
        "audit/entries.jsonl": b"".join(bytes(e.record) + b"\n" for e in events),
        "audit/proofs.json": json.dumps(
            {"tree_size": checkpoint.size, "proofs": _proofs(events, checkpoint.size)},
            sort_keys=True,
            separators=(",", ":"),
        ).encode(),
        "audit/checkpoint.txt": checkpoint.note.encode(),
        "verifier.py": VERIFIER_PATH.read_bytes(),
        "keys.txt": ("\n".join(signer.verifier_key() for signer in signers_for(origin)) + "\n").encode(),
    }


def write_signed_zip(*, out_path: Path, members: dict[str, bytes | Path], ts: str) -> str:
    """Add ``manifest.json`` (the SHA-256 of every member) and its signature ``manifest.sig``, write the
    zip deterministically (sorted members, every timestamp ``ts``) and return the zip's SHA-256."""
    origin = checkpoints.head().origin
    members = dict(members)
    hashes = {name: file_sha256(content) for name, content in members.items()}
    manifest = canonical_json({"format": FORMAT, "origin": origin, "files": dict(sorted(hashes.items()))})
    signature = sign_note(f"{origin}\n{FORMAT}\nsha256:{hashlib.sha256(manifest).hexdigest()}\n", signers_for(origin))
    members["manifest.json"] = manifest
    members["manifest.sig"] = signature.encode()
    stamp = _zip_time(ts)
    tmp = out_path.with_suffix(".part")
    digest = hashlib.sha256()
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            content = members[name]
            with archive.open(info, "w", force_zip64=True) as handle:
                if isinstance(content, Path):
                    with open(content, "rb") as source:
                        for chunk in iter(lambda: source.read(1 << 20), b""):
                            handle.write(chunk)
                else:
                    handle.write(content)
    with open(tmp, "rb") as written:
        for chunk in iter(lambda: written.read(1 << 20), b""):
            digest.update(chunk)
    tmp.replace(out_path)
    return digest.hexdigest()


def file_sha256(content: bytes | Path) -> str:
    """SHA-256 hex of bytes or of a file's content (streamed)."""
    digest = hashlib.sha256()
    if isinstance(content, Path):
        with open(content, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(content)
    return digest.hexdigest()


def _zip_time(timestamp: str) -> tuple[int, int, int, int, int, int]:
    return (
        int(timestamp[0:4]),
        int(timestamp[5:7]),
        int(timestamp[8:10]),
        int(timestamp[11:13]),
        int(timestamp[14:16]),
        int(timestamp[17:19]) // 2 * 2,
    )
