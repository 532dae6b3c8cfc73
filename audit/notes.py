"""Server-side signing of C2SP signed notes and tlog checkpoints (no Django).

Key strings follow Go's golang.org/x/mod/sumdb/note:
  signer:   PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 seed)>
  verifier: <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.verifier import (
    EMPTY_ROOT,
    SIG_TYPE_ED25519,
    VerifierKey,
    _valid_key_name,
    key_id,
    parse_checkpoint,
    parse_note,
    verifier_key_string,
)

__all__ = ["Signer", "checkpoint_body", "generate_signer_key", "sign_note"]


def _signer_key_string(name: str, seed: bytes) -> str:
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(name, pub)
    return f"PRIVATE+KEY+{name}+{kid:08x}+{base64.b64encode(bytes([SIG_TYPE_ED25519]) + seed).decode()}"


def generate_signer_key(name: str) -> str:
    """Generate a new Ed25519 signer key string for ``name`` (use the log origin)."""
    if not _valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")
    return _signer_key_string(name, os.urandom(32))


class Signer:
    def __init__(self, name: str, seed: bytes):
        if not _valid_key_name(name):
            raise ValueError(f"invalid key name {name!r}")
        if len(seed) != 32:
            raise ValueError("Ed25519 seed must be 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def from_key_string(cls, s: str) -> Signer:
        parts = s.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise ValueError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
        _, _, name, hexid, b64 = parts
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("bad base64 in signer key") from exc
        if len(data) != 33 or data[0] != SIG_TYPE_ED25519:
            raise ValueError("only Ed25519 signer keys are supported")
        signer = cls(name, data[1:])
        if len(hexid) != 8 or hexid != f"{signer.key_id:08x}":
            raise ValueError("signer key id does not match the key")
        return signer

    def verifier_key(self) -> str:
        return verifier_key_string(self.name, self.public_key)

    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_id, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:  # never show the seed
        return f"Signer({self.name}+{self.key_id:08x})"


def sign_note(body: str, signers: Signer | Iterable[Signer]) -> str:
    """Sign ``body`` (must end in newline) with one or more signers (key rotation)."""
    if isinstance(signers, Signer):
        signers = [signers]
    signers = list(signers)
    if not signers:
        raise ValueError("at least one signer is required")
    if not body or not body.endswith("\n"):
        raise ValueError("note body must be non-empty and end with a newline")
    lines = []
    msg = body.encode("utf-8")
    for s in signers:
        sig = s.key_id.to_bytes(4, "big") + s.sign(msg)
        lines.append(f"\u2014 {s.name} {base64.b64encode(sig).decode()}\n")
    note = body + "\n" + "".join(lines)
    parsed_body, _ = parse_note(note)  # enforce the same rules the verifier applies
    if parsed_body != body:
        raise ValueError("note body cannot be represented unambiguously")
    return note


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """C2SP tlog-checkpoint body without extension lines."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("size must be a non-negative int")
    if size == 0 and root != EMPTY_ROOT:
        raise ValueError("the root of an empty tree is SHA-256('')")
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    parse_checkpoint(body)  # validates origin and root
    return body


def main(argv: list[str] | None = None) -> int:
    """``python -m audit.notes ORIGIN``: print a new signer key for the log ``ORIGIN`` (no Django needed)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m audit.notes LOG_ORIGIN   (prints a new private signer key; public key on stderr)",
            file=sys.stderr,
        )
        return 2
    key = generate_signer_key(args[0])
    print(f"public key: {Signer.from_key_string(key).verifier_key()}", file=sys.stderr)
    print(key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
