"""Pack identity: the canonical bytes of a pack document, its content hash and its pack id.

``pack.json`` is RFC 8785 (JSON Canonicalization Scheme) canonical, like the audit records: keys
sorted by UTF-16 code units, no whitespace, UTF-8, numbers as ECMAScript prints them (``1`` not
``1.0``, ``1e-7``). Anyone can recompute the content hash with any JCS library::

    import hashlib, json, rfc8785
    hashlib.sha256(rfc8785.dumps(json.loads(open("pack.json", "rb").read()))).hexdigest()

docs/pack-schema.md ("Identity") has a worked example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import rfc8785


def canonical_pack_bytes(pack: Mapping) -> bytes:
    """The RFC 8785 canonical JSON bytes of the pack (exactly what pack.json contains)."""
    return rfc8785.dumps(pack)


def pack_content_hash(pack: Mapping) -> str:
    """SHA-256 hex of :func:`canonical_pack_bytes`: the content hash printed in the PDF."""
    return hashlib.sha256(canonical_pack_bytes(pack)).hexdigest()


def derive_pack_id(regime: str, outline_version: str, model_id, version, as_of_seq: int) -> str:
    """Deterministic pack id: same snapshot and outline give the same id."""
    basis = f"{regime}|{outline_version}|{model_id}|{version}|{int(as_of_seq)}"
    return "pk-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


__all__ = ["canonical_pack_bytes", "pack_content_hash", "derive_pack_id"]
