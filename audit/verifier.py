#!/usr/bin/env python3
"""Standalone offline verifier for the mlgov tamper-evident audit log.

Dependencies: the Python standard library and ``cryptography`` only. This module never
imports Django or any project module, so an auditor can copy this single file and run::

    python verifier.py BUNDLE --key KEYFILE [--key KEYFILE2] [--trusted-checkpoint FILE]

BUNDLE is an audit export bundle (directory or .zip with ``entries.jsonl`` and
``checkpoints/``) or an evidence bundle (recognised by ``manifest.json``).

Hashing is RFC 6962 / RFC 9162 (leaf = SHA-256(0x00||e), node = SHA-256(0x01||L||R));
checkpoints are C2SP tlog-checkpoint bodies inside C2SP signed notes with Ed25519
signatures (key id = SHA-256(name || 0x0A || 0x01 || pubkey)[:4]).

The rest of the project imports the primitives from here, so each check has exactly one
implementation. Exit codes: 0 pass, 1 fail, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import os
import re
import sys
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

if TYPE_CHECKING:  # annotations only: at run time the verifier imports nothing more
    from collections.abc import Callable, Iterable
    from concurrent.futures import Future

__all__ = [
    "ACTOR_TYPES",
    "CTX_ORIGINS",
    "EMPTY_ROOT",
    "MAX_SAFE_INT",
    "SCHEMA",
    "ZERO_HASH",
    "CanonicalError",
    "CheckpointError",
    "EntryError",
    "NoteError",
    "Result",
    "VerifierKey",
    "canonical_json",
    "check_entry_bytes",
    "hash_children",
    "hash_leaf",
    "key_id",
    "parse_checkpoint",
    "parse_note",
    "parse_verifier_key",
    "verifier_key_string",
    "verify_checkpoint",
    "verify_consistency",
    "verify_evidence_bundle",
    "verify_inclusion",
    "verify_log_bundle",
    "verify_note",
]

SCHEMA = "mlgov.audit/v1"
EVIDENCE_FORMAT = "mlgov.evidence/v1"
MAX_SAFE_INT = 2**53 - 1
ZERO_HASH = bytes(32)
EMPTY_ROOT = hashlib.sha256(b"").digest()
ACTOR_TYPES = frozenset({"user", "service", "system"})
CTX_ORIGINS = frozenset({"http", "celery", "manage", "migration", "system"})
SIG_TYPE_ED25519 = 0x01
MAX_NOTE_SIGNATURES = 100  # C2SP: MUST accept at least 16
MAX_NOTE_BYTES = 1 << 20

_sha256 = hashlib.sha256
_b64encode = base64.b64encode


# ---------------------------------------------------------------------------
# Hashing (RFC 6962 section 2.1)
# ---------------------------------------------------------------------------


def hash_leaf(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _is_hash(h: object) -> bool:
    return isinstance(h, bytes | bytearray) and len(h) == 32


def _check_int(name: str, v: object) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name} must be an int")


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2 inclusion proof verification. Returns a bool, never raises
    for malformed hashes or proofs (only for non-int sizes or a non-list proof)."""
    _check_int("index", index)
    _check_int("size", size)
    if not isinstance(proof, list | tuple):
        raise TypeError("proof must be a list of bytes")
    if index < 0 or size <= 0 or index >= size:
        return False
    if not _is_hash(leaf_hash) or not _is_hash(root) or not all(_is_hash(p) for p in proof):
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2 consistency proof verification. Returns a bool.

    size1 == size2 requires an empty proof and equal roots; size1 == 0 requires an empty
    proof and root1 == SHA-256("") (the empty tree is a prefix of every tree)."""
    _check_int("size1", size1)
    _check_int("size2", size2)
    if not isinstance(proof, list | tuple):
        raise TypeError("proof must be a list of bytes")
    if size1 < 0 or size2 < 0 or size1 > size2:
        return False
    if not _is_hash(root1) or not _is_hash(root2) or not all(_is_hash(p) for p in proof):
        return False
    if size2 == 0 and root2 != EMPTY_ROOT:
        return False
    if size1 == size2:
        return len(proof) == 0 and root1 == root2
    if size1 == 0:
        return len(proof) == 0 and root1 == EMPTY_ROOT
    if len(proof) == 0:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # exact power of two
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


class _Frontier:
    """Minimal compact range (right-edge perfect subtree hashes) used while streaming."""

    __slots__ = ("size", "hashes")

    def __init__(self) -> None:
        self.size = 0
        self.hashes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        n = self.size
        hs = self.hashes
        while n & 1:
            leaf = _sha256(b"\x01" + hs.pop() + leaf).digest()
            n >>= 1
        hs.append(leaf)
        self.size += 1

    def append_subtree(self, level: int, h: bytes) -> None:
        """Append a perfect subtree of 2**level leaves (size must be a multiple of it)."""
        n = self.size >> level
        hs = self.hashes
        while n & 1:
            h = _sha256(b"\x01" + hs.pop() + h).digest()
            n >>= 1
        hs.append(h)
        self.size += 1 << level

    def root(self) -> bytes:
        return compact_root(self.hashes)


def compact_root(hs: list[bytes]) -> bytes:
    """The root of a tree from its compact range: the hashes of its right-edge perfect subtrees,
    largest first (RFC 9162 section 2.1.1 computed bottom-up)."""
    if not hs:
        return EMPTY_ROOT
    r = hs[-1]
    for h in reversed(hs[:-1]):
        r = _sha256(b"\x01" + h + r).digest()
    return r


# ---------------------------------------------------------------------------
# Canonical JSON (RFC 8785 JCS restricted to our schema) and entry checks
# ---------------------------------------------------------------------------


class CanonicalError(ValueError):
    """A value cannot be canonicalised under the mlgov.audit/v1 rules."""


class EntryError(ValueError):
    """An audit entry's bytes are not a valid canonical mlgov.audit/v1 record."""


def _path_join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate_value(v: object, path: str) -> None:
    if isinstance(v, str):
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CanonicalError(f"{path or '<root>'}: string is not UTF-8 encodable (lone surrogate)") from exc
            if not unicodedata.is_normalized("NFC", v):
                raise CanonicalError(f"{path or '<root>'}: string is not NFC-normalised")
    elif v is None or isinstance(v, bool):
        pass
    elif isinstance(v, int):
        if not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            raise CanonicalError(f"{path or '<root>'}: integer outside +/-(2**53-1); use a string")
    elif isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                raise CanonicalError(f"{path or '<root>'}: dict key {k!r} is not a str")
            if not k.isascii():
                raise CanonicalError(f"{_path_join(path, k)}: dict key is not ASCII")
            _validate_value(x, _path_join(path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _validate_value(x, f"{path}[{i}]")
    elif isinstance(v, float):
        raise CanonicalError(f"{path or '<root>'}: floats are not allowed; use decimal strings")
    else:
        raise CanonicalError(f"{path or '<root>'}: type {type(v).__name__} is not allowed")


def canonical_json(obj: object, *, validated: bool = False) -> bytes:
    """Canonical bytes (RFC 8785 JCS for our restricted schema) after validation.

    ``validated=True`` skips the value-space check for callers that built ``obj`` only from
    values already checked to the same rules (the service's intake); the bytes are the same."""
    if not validated:
        try:
            _validate_value(obj, "")
        except RecursionError as exc:
            raise CanonicalError("<root>: nesting too deep") from exc
    return _encode(obj).encode("utf-8")


class _FloatFound(Exception):
    pass


class _BigInt(Exception):
    pass


def _reject_float(s: str) -> object:
    raise _FloatFound(s)


def _reject_constant(s: str) -> object:
    raise _FloatFound(s)


def _parse_int(s: str, _int: type[int] = int) -> int:
    v = _int(s)
    if len(s) > 15 and not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
        raise _BigInt(s)
    return v


_DECODER = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant, parse_int=_parse_int)
# scan_once is set by JSONDecoder.__init__ (the C scanner when available); typeshed omits it.
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
try:  # the C encoder, built once (json.JSONEncoder.encode rebuilds it per call)
    # CPython's C accelerators, absent from typeshed (the ImportError branch covers their absence).
    from json.encoder import c_encode_basestring as _c_str  # type: ignore[attr-defined]
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]

    _c_encode = _c_make_encoder(None, None, _c_str, None, ":", ",", True, False, False)

    def _encode(obj: object) -> str:
        return "".join(_c_encode(obj, 0))
except ImportError:  # pragma: no cover - pure-Python json
    _py_encoder = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
    )

    def _encode(obj: object) -> str:
        return _py_encoder.encode(obj)


_is_normalized = unicodedata.is_normalized
_PREV_RE = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\Z")
_TS_RE = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9]\.[0-9]{6}Z\Z"
)
_ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")


def _keys_ascii(o: Any) -> bool:  # a decoded JSON value (dict and list are checked by exact type)
    t = type(o)
    if t is dict:
        if not "".join(o).isascii():
            return False
        for x in o.values():
            if (type(x) is dict or type(x) is list) and not _keys_ascii(x):
                return False
    elif t is list:
        for x in o:
            if (type(x) is dict or type(x) is list) and not _keys_ascii(x):
                return False
    return True


def _nonempty_str(v: object) -> bool:
    return type(v) is str and v != ""


def _check_schema(o: dict[str, Any]) -> None:
    g = o.get
    if g("v") != SCHEMA:
        raise EntryError(f"v: expected {SCHEMA!r}")
    if not _nonempty_str(g("log")):
        raise EntryError("log: must be a non-empty string")
    seq = g("seq")
    if type(seq) is not int or seq < 0:
        raise EntryError("seq: must be a non-negative integer")
    prev = g("prev")
    if type(prev) is not str or not _PREV_RE.match(prev):
        raise EntryError("prev: must be base64 of 32 bytes")
    ts = g("ts")
    if type(ts) is not str or not _TS_RE.match(ts):
        raise EntryError("ts: must be YYYY-MM-DDTHH:MM:SS.ffffffZ")
    actor = g("actor")
    if type(actor) is not dict:
        raise EntryError("actor: must be an object")
    if actor.get("type") not in ACTOR_TYPES:
        raise EntryError("actor.type: must be one of user|service|system")
    if not _nonempty_str(actor.get("id")):
        raise EntryError("actor.id: must be a non-empty string")
    if type(actor.get("auth")) is not str:
        raise EntryError("actor.auth: must be a string")
    if "username" in actor and type(actor["username"]) is not str:
        raise EntryError("actor.username: must be a string")
    ctx = g("ctx")
    if type(ctx) is not dict:
        raise EntryError("ctx: must be an object")
    if type(ctx.get("request_id")) is not str:
        raise EntryError("ctx.request_id: must be a string")
    if ctx.get("origin") not in CTX_ORIGINS:
        raise EntryError("ctx.origin: must be one of http|celery|manage|migration|system")
    if "ip" in ctx and type(ctx["ip"]) is not str:
        raise EntryError("ctx.ip: must be a string")
    action = g("action")
    if type(action) is not str or not _ACTION_RE.match(action):
        raise EntryError("action: must be dotted lower_snake with at least two parts")
    obj = g("object")
    if type(obj) is not dict:
        raise EntryError("object: must be an object")
    if not _nonempty_str(obj.get("type")):
        raise EntryError("object.type: must be a non-empty string")
    if not _nonempty_str(obj.get("id")):
        raise EntryError("object.id: must be a non-empty string")
    if type(g("data")) is not dict:
        raise EntryError("data: must be an object")
    if "reason" in o and type(o["reason"]) is not str:
        raise EntryError("reason: must be a string")


def check_entry_bytes(raw: bytes) -> dict[str, Any]:
    """Parse and check one entry's bytes; return the parsed record or raise EntryError.

    Requires: UTF-8, JSON without floats/NaN/Infinity, byte-identical to its canonical
    form (rules out duplicate keys, whitespace, key order, escapes), NFC strings, ASCII
    keys, safe integers, and the mlgov.audit/v1 schema."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EntryError(f"not valid UTF-8 at byte {exc.start}") from None
    try:
        obj, end = _scan_once(s, 0)
    except StopIteration as exc:
        raise EntryError(f"invalid JSON at char {exc.value}") from None
    except _FloatFound as exc:
        raise EntryError(f"number {exc.args[0]} is not allowed; use decimal strings") from None
    except _BigInt as exc:
        raise EntryError(f"integer {exc.args[0]} outside +/-(2**53-1); use a string") from None
    except RecursionError:
        raise EntryError("nesting too deep") from None
    except ValueError as exc:
        raise EntryError(f"invalid JSON: {exc}") from None
    if type(obj) is not dict:
        raise EntryError("entry is not a JSON object")
    if end != len(s) or _encode(obj) != s:
        raise EntryError("bytes are not canonical JSON (key order, whitespace, escapes or duplicate keys)")
    # A canonical text that decodes from UTF-8 has no lone surrogates. The JSON text is NFC
    # iff every string in it is (quotes are stable NFC boundaries); escapes of control
    # characters can make the whole-text check stricter, so confirm exactly on failure.
    if not s.isascii():
        if not _keys_ascii(obj):
            _raise_entry(obj)
        if not _is_normalized("NFC", s):
            _raise_entry(obj)
    _check_schema(obj)
    return obj


def check_entry(raw: bytes, seq: int, origin: str) -> dict[str, Any]:
    """Check one entry found at position ``seq`` of the log ``origin``: its bytes
    (``check_entry_bytes``), its seq and its log. Return the parsed record or raise EntryError
    with the reason a verifier reports (the same for a bundle and for the service's database).
    The link to the previous entry (``prev``) is the caller's: see ``prev_break``."""
    obj = check_entry_bytes(raw)
    if obj["seq"] != seq:
        raise EntryError(f"expected seq {seq}, found seq {obj['seq']} (row deleted, moved or duplicated)")
    if obj["log"] != origin:
        raise EntryError(f"log {obj['log']!r} differs from checkpoint origin {origin!r}")
    return obj


def prev_break(seq: int, *, intact: bool) -> tuple[int, str]:
    """Entry ``seq``'s prev does not match the leaf hash of entry ``seq - 1``: the seq to blame and
    why. ``intact`` means entry ``seq`` is unchanged (the next entry records its leaf hash as prev,
    or the checkpoint verifies with its claimed prev), so entry ``seq - 1``'s bytes changed."""
    if intact:
        return seq - 1, f"entry bytes changed: its leaf hash does not match prev of seq {seq}"
    return seq, f"prev does not match the leaf hash of seq {seq - 1}"


def _raise_entry(obj: object) -> None:
    try:
        _validate_value(obj, "")
    except CanonicalError as exc:
        raise EntryError(str(exc)) from None


# ---------------------------------------------------------------------------
# Keys and signed notes (C2SP signed-note, Go golang.org/x/mod/sumdb/note key strings)
# ---------------------------------------------------------------------------


class NoteError(ValueError):
    """A signed note is malformed or does not verify."""


class CheckpointError(ValueError):
    """A checkpoint body is malformed."""


def _valid_key_name(name: str) -> bool:
    return name != "" and "+" not in name and not any(c.isspace() for c in name) and all(ord(c) >= 0x20 for c in name)


def key_id(name: str, public_key: bytes) -> int:
    """C2SP Ed25519 key id: first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || pub)."""
    d = _sha256(name.encode("utf-8") + b"\n" + bytes([SIG_TYPE_ED25519]) + public_key).digest()
    return int.from_bytes(d[:4], "big")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: int
    public_key: bytes

    def __str__(self) -> str:
        return verifier_key_string(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def verifier_key_string(name: str, public_key: bytes) -> str:
    """``<name>+<8 hex key id>+<base64(0x01 || pubkey)>``."""
    if not _valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}")
    if len(public_key) != 32:
        raise ValueError("Ed25519 public key must be 32 bytes")
    kid = key_id(name, public_key)
    return f"{name}+{kid:08x}+{_b64encode(bytes([SIG_TYPE_ED25519]) + public_key).decode()}"


_HEX8 = re.compile(r"[0-9a-f]{8}\Z")


def _b64decode_strict(s: str) -> bytes:
    data = base64.b64decode(s, validate=True)
    if _b64encode(data).decode("ascii") != s:  # non-canonical padding bits
        raise binascii.Error("non-canonical base64")
    return data


def parse_verifier_key(s: str) -> VerifierKey:
    """Parse a verifier key string; raises ValueError if malformed or the key id is wrong."""
    s = s.strip()
    if s.startswith("PRIVATE+"):
        raise ValueError("this is a private signer key, not a verifier key")
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise ValueError("verifier key must be <name>+<hex id>+<base64 key>")
    name, hexid, b64 = parts
    if not _valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}")
    if not _HEX8.match(hexid):
        raise ValueError("key id must be 8 lowercase hex digits")
    try:
        data = _b64decode_strict(b64)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64 in verifier key") from exc
    if len(data) != 33 or data[0] != SIG_TYPE_ED25519:
        raise ValueError("only Ed25519 (type 0x01, 32-byte) verifier keys are supported")
    pub = data[1:]
    kid = key_id(name, pub)
    if kid != int(hexid, 16):
        raise ValueError("key id does not match key name and public key")
    return VerifierKey(name, kid, pub)


# Pinned keys as callers pass them: a ring by (name, key id), one key, or several (key strings
# "name+hexid+base64" or parsed keys).
TrustedKeys: TypeAlias = "dict[tuple[str, int], VerifierKey] | str | VerifierKey | Iterable[str | VerifierKey]"


def _keyring(trusted_keys: TrustedKeys) -> dict[tuple[str, int], VerifierKey]:
    if isinstance(trusted_keys, dict):
        return trusted_keys
    if isinstance(trusted_keys, str | VerifierKey):
        trusted_keys = [trusted_keys]
    ring: dict[tuple[str, int], VerifierKey] = {}
    for k in trusted_keys:
        vk = k if isinstance(k, VerifierKey) else parse_verifier_key(k)
        ring[(vk.name, vk.key_id)] = vk
    return ring


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes  # without the 4-byte key id


_SIG_PREFIX = "\u2014 "


def parse_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into (body text incl. final newline, signatures). Raises NoteError."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_NOTE_BYTES:
            raise NoteError("note too large")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not valid UTF-8") from None
    elif not isinstance(text, str):
        raise TypeError("note must be str or bytes")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note is not valid UTF-8") from None
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"note contains control character U+{ord(ch):04X}")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before the signatures")
    body, sigs = text[: split + 1], text[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("note has no signature lines or does not end in a newline")
    out: list[NoteSignature] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("signature line does not start with an em dash and a space")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_key_name(name) or not b64:
            raise NoteError("malformed signature line")
        try:
            sig = _b64decode_strict(b64)  # canonical only: a note has exactly one encoding
        except (binascii.Error, ValueError):
            raise NoteError("signature is not valid base64") from None
        if len(sig) < 5:
            raise NoteError("signature too short")
        out.append(NoteSignature(name, int.from_bytes(sig[:4], "big"), sig[4:]))
        if len(out) > MAX_NOTE_SIGNATURES:
            raise NoteError("too many signatures")
    return body, out


def verify_note(text: str | bytes, trusted_keys: TrustedKeys) -> tuple[str, list[str]]:
    """Verify a C2SP signed note against pinned keys; return (body, verified key names).

    Unknown keys (name or id differs) are ignored; a known key (same name and id) whose
    signature fails, or a repeated known key, rejects the note; at least one trusted
    signature must verify."""
    ring = _keyring(trusted_keys)
    body, sigs = parse_note(text)
    msg = body.encode("utf-8")
    seen: set[tuple[str, int]] = set()
    names: list[str] = []
    for sig in sigs:
        vk = ring.get((sig.name, sig.key_id))
        if vk is None:
            continue
        if (sig.name, sig.key_id) in seen:
            raise NoteError(f"repeated signature from key {sig.name}")
        seen.add((sig.name, sig.key_id))
        if not vk.verify(msg, sig.signature):
            raise NoteError(f"signature from trusted key {sig.name}+{sig.key_id:08x} does not verify")
        if vk.name not in names:
            names.append(vk.name)
    if not names:
        raise NoteError("no signature from a trusted key")
    return body, names


_SIZE_RE = re.compile(r"(0|[1-9][0-9]{0,18})\Z")


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """Parse a C2SP tlog-checkpoint body: (origin, size, root).

    The spec allows opaque extension lines after the root hash; they are accepted (each must be
    non-empty) and carry no meaning here: they are covered by the note signature like the rest.
    """
    if not body.endswith("\n"):
        raise CheckpointError("checkpoint body must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint body must have at least 3 lines, got {len(lines)}")
    if any(not line for line in lines[3:]):
        raise CheckpointError("checkpoint extension lines must not be empty")
    origin, size_s, root_s = lines[:3]
    if not origin or origin.strip() != origin:
        raise CheckpointError("checkpoint origin line is empty or has surrounding spaces")
    if not _SIZE_RE.match(size_s):
        raise CheckpointError("checkpoint size must be decimal without leading zeros")
    size = int(size_s)
    if size >= 2**63:
        raise CheckpointError("checkpoint size out of range")
    try:
        root = _b64decode_strict(root_s)
    except (binascii.Error, ValueError):
        raise CheckpointError("checkpoint root is not valid base64") from None
    if len(root) != 32:
        raise CheckpointError("checkpoint root must be 32 bytes")
    if size == 0 and root != EMPTY_ROOT:
        raise CheckpointError("checkpoint of size 0 must have the empty-tree root")
    return origin, size, root


def verify_checkpoint(text: str | bytes, trusted_keys: TrustedKeys) -> tuple[str, int, bytes, list[str]]:
    """Verify a signed checkpoint; a trusted key named like the origin must have signed it."""
    body, names = verify_note(text, trusted_keys)
    origin, size, root = parse_checkpoint(body)
    if origin not in names:
        raise NoteError(f"no trusted key named {origin!r} (the checkpoint origin) signed it")
    return origin, size, root, names


# ---------------------------------------------------------------------------
# Bundles
# ---------------------------------------------------------------------------


@dataclass
class Result:
    ok: bool
    size: int | None = None
    root: bytes | None = None
    first_bad_seq: int | None = None
    bad_file: str | None = None
    reason: str = ""
    entries: int = 0
    checkpoints: int = 0
    key_names: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            root = _b64encode(self.root or b"").decode()
            return (
                f"PASS: {self.entries} entries, tree size {self.size}, root {root}, "
                f"checkpoints {self.checkpoints}, keys {','.join(self.key_names)}"
            )
        if self.first_bad_seq is not None:
            return f"FAIL: seq {self.first_bad_seq}: {self.reason}"
        return f"FAIL: {self.bad_file or '<bundle>'}: {self.reason}"

    __str__ = line


def _fail_file(name: str, reason: str) -> Result:
    return Result(ok=False, bad_file=name, reason=reason)


def _fail_seq(seq: int, reason: str, bad_file: str = "entries.jsonl") -> Result:
    return Result(ok=False, first_bad_seq=seq, bad_file=bad_file, reason=reason)


class _BundleError(Exception):
    def __init__(self, name: str, reason: str):
        super().__init__(reason)
        self.name = name
        self.reason = reason


# A bundle member: its file path (directory bundle) or its zip entry (zip bundle).
Member: TypeAlias = "str | zipfile.ZipInfo"
# Pinned keys by (name, key id), as _keyring builds them.
Keyring: TypeAlias = "dict[tuple[str, int], VerifierKey]"


class _Bundle:
    """Uniform read access to a bundle directory or zip file (members at the root)."""

    def __init__(self, path: str):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.members: list[tuple[str, Member]] = []
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    self.members.append((rel, full))
        elif os.path.isfile(path):
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise _BundleError(os.path.basename(path), f"not a directory or zip file: {exc}") from None
            for info in self.zip.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                    raise _BundleError(name, "unsafe member path in zip")
                self.members.append((name, info))
        else:
            raise _BundleError(path, "no such bundle")
        self.by_name: dict[str, list[Member]] = {}
        for name, h in self.members:
            self.by_name.setdefault(name, []).append(h)

    def __enter__(self) -> _Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.zip is not None:
            self.zip.close()

    def has(self, name: str) -> bool:
        return name in self.by_name

    def open(self, handle: Member) -> BinaryIO:
        if self.zip is not None:
            # ZipExtFile is a readable stream; typeshed types ZipFile.open as IO[bytes].
            return io.BufferedReader(cast(io.RawIOBase, self.zip.open(handle)), 1 << 20)
        return open(cast(str, handle), "rb", buffering=1 << 20)  # a directory bundle's members are paths

    def read(self, handle: Member, limit: int | None = None) -> bytes:
        with self.open(handle) as f:
            data = f.read() if limit is None else f.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise _BundleError("?", "file too large")
        return data

    def unique(self, name: str) -> Member:
        hs = self.by_name.get(name)
        if not hs:
            raise _BundleError(name, "missing")
        if len(hs) > 1:
            raise _BundleError(name, "duplicate member")
        return hs[0]


_CKPT_NAME = re.compile(r"checkpoints/([0-9]{20})\.txt\Z")


def _read_checkpoints(b: _Bundle, ring: Keyring) -> tuple[str, dict[int, tuple[bytes, str]], set[str]]:
    origin: str | None = None
    by_size: dict[int, tuple[bytes, str]] = {}
    names: set[str] = set()
    parsed: list[tuple[str, int, bytes]] = []
    for name, handle in b.members:
        if not name.startswith("checkpoints/"):
            continue
        try:
            text = b.read(handle, MAX_NOTE_BYTES)
        except _BundleError as exc:
            raise _BundleError(name, exc.reason) from None
        try:
            o, size, root, keys = verify_checkpoint(text, ring)
        except (NoteError, CheckpointError) as exc:
            raise _BundleError(name, f"checkpoint does not verify: {exc}") from None
        if origin is None:
            origin = o
        elif o != origin:
            raise _BundleError(name, f"origin {o!r} differs from {origin!r}")
        parsed.append((name, size, root))
        names.update(keys)
    for name, size, root in parsed:  # forks first: they are the most serious finding
        if size in by_size and by_size[size][0] != root:
            raise _BundleError(
                name, f"fork: two signed checkpoints of size {size} with different roots ({by_size[size][1]})"
            )
        by_size.setdefault(size, (root, name))
    for name, size, _root in parsed:
        m = _CKPT_NAME.match(name)
        if not m or int(m.group(1)) != size:
            raise _BundleError(name, f"file name does not match checkpoint size {size}")
    if origin is None:
        raise _BundleError("checkpoints/", "no signed checkpoint in bundle")
    return origin, by_size, names


def verify_log_bundle(
    path: str, trusted_keys: TrustedKeys, trusted_checkpoint_text: str | bytes | None = None, jobs: int = 1
) -> Result:
    """Verify an audit export bundle (directory or zip), streaming entries.jsonl.

    jobs > 1 checks chunks of entries in worker processes (same checks; memory stays
    bounded). Any anomaly on that fast path re-runs the sequential verifier, so failure
    reports (first bad seq, reason) are always those of the sequential algorithm."""
    ring = _keyring(trusted_keys)
    if not ring:
        raise ValueError("at least one trusted verifier key is required")
    try:
        with _Bundle(path) as b:
            return _verify_log_bundle(b, ring, trusted_checkpoint_text, jobs)
    except _BundleError as exc:
        return _fail_file(exc.name, exc.reason)


def _verify_log_bundle(b: _Bundle, ring: Keyring, trusted_text: str | bytes | None, jobs: int = 1) -> Result:
    origin, by_size, key_names = _read_checkpoints(b, ring)
    targets: dict[int, tuple[bytes, str]] = dict(by_size)
    if trusted_text is not None:
        try:
            t_origin, t_size, t_root, _ = verify_checkpoint(trusted_text, ring)
        except (NoteError, CheckpointError) as exc:
            return _fail_file("trusted checkpoint", f"does not verify: {exc}")
        if t_origin != origin:
            return _fail_file("trusted checkpoint", f"origin {t_origin!r} differs from bundle {origin!r}")
        if t_size in by_size and by_size[t_size][0] != t_root:
            return _fail_file(by_size[t_size][1], f"fork: inconsistent with trusted checkpoint of size {t_size}")
        if max(by_size) < t_size:
            return _fail_file(
                "checkpoints/",
                f"rollback: bundle's largest checkpoint {max(by_size)} is older than trusted checkpoint size {t_size}",
            )
        if t_size not in targets:
            targets[t_size] = (t_root, "trusted checkpoint")
    max_size = max(by_size)
    if 0 in targets and targets[0][0] != EMPTY_ROOT:
        return _fail_file(targets[0][1], "size 0 checkpoint does not have the empty root")
    handle = b.unique("entries.jsonl")
    if jobs > 1:
        res = _verify_entries_parallel(b, handle, origin, targets, max_size, jobs)
        if res is not None:
            res.checkpoints, res.key_names = len(by_size), sorted(key_names)
            return res
    frontier = _Frontier()
    f_append = frontier.append
    check = check_entry
    sha = _sha256
    b64 = _b64encode
    prev_str = b64(ZERO_HASH).decode()
    n = 0
    with b.open(handle) as f:
        it = iter(f)
        for line in it:
            if n >= max_size:
                return _fail_seq(n, f"entry not covered by any signed checkpoint (largest is {max_size})")
            if line[-1:] != b"\n":
                return _fail_seq(n, "last line does not end with a newline")
            raw = line[:-1]
            try:
                obj = check(raw, n, origin)
            except EntryError as exc:
                return _fail_seq(n, str(exc))
            leaf = sha(b"\x00" + raw).digest()
            if obj["prev"] != prev_str:
                return _attribute_prev_break(b, handle, n, obj["prev"], leaf, next(it, None), targets)
            f_append(leaf)
            prev_str = b64(leaf).decode()
            n += 1
            if n in targets:
                want, name = targets[n]
                if frontier.root() != want:
                    return _fail_seq(n - 1, f"root at size {n} does not match {name}")
    if n < max_size:
        return _fail_seq(n, f"truncated: {n} entries but checkpoint {by_size[max_size][1]} has size {max_size}")
    if max_size == 0 and by_size[0][0] != EMPTY_ROOT:  # pragma: no cover - parse_checkpoint enforces
        return _fail_file(by_size[0][1], "bad empty root")
    return Result(
        ok=True, size=n, root=frontier.root(), entries=n, checkpoints=len(by_size), key_names=sorted(key_names)
    )


_PAR_CHUNK = 1 << 12  # lines per worker task; a power of two so chunks are perfect subtrees


# (first seq, origin, the chunk's lines joined, line count, cuts) and (first prev, last leaf b64,
# the chunk's compact range, {cut: compact range that many entries into the chunk}).
_ChunkTask = tuple[int, str, bytes, int, frozenset[int]]
_ChunkResult = tuple["str | None", "str | None", list[bytes], dict[int, list[bytes]]]


def _check_chunk(task: _ChunkTask) -> _ChunkResult | None:
    """Worker: check a chunk of ``count`` entries (joined lines) starting at seq ``start``.
    Returns None on any anomaly, else (first prev, last leaf b64, chunk compact range,
    {cut: compact range at that many entries into the chunk})."""
    start, origin, data, count, cuts = task
    if data[-1:] != b"\n":
        return None
    lines = data.split(b"\n")
    lines.pop()
    if len(lines) != count:
        return None
    check = check_entry
    sha = _sha256
    b64 = _b64encode
    fr = _Frontier()
    append = fr.append
    snaps: dict[int, list[bytes]] = {}
    first_prev: str | None = None
    prev_str: str | None = None
    seq = start
    for raw in lines:
        try:
            obj = check(raw, seq, origin)
        except EntryError:
            return None
        if prev_str is None:
            first_prev = obj["prev"]
        elif obj["prev"] != prev_str:
            return None
        leaf = sha(b"\x00" + raw).digest()
        append(leaf)
        prev_str = b64(leaf).decode()
        seq += 1
        if seq - start in cuts:
            snaps[seq - start] = list(fr.hashes)
    return first_prev, prev_str, fr.hashes, snaps


def _verify_entries_parallel(
    b: _Bundle, handle: Member, origin: str, targets: dict[int, tuple[bytes, str]], max_size: int, jobs: int
) -> Result | None:
    import collections
    import itertools
    from concurrent.futures import ProcessPoolExecutor

    chunk = _PAR_CHUNK
    assert chunk & (chunk - 1) == 0
    frontier = _Frontier()
    prev_str: str | None = _b64encode(ZERO_HASH).decode()
    try:
        with ProcessPoolExecutor(jobs) as ex, b.open(handle) as f:
            pending: collections.deque[tuple[int, int, Future[_ChunkResult | None]]] = collections.deque()
            start = 0

            def submit() -> bool:
                nonlocal start
                lines = list(itertools.islice(f, chunk))
                if not lines:
                    return False
                end = start + len(lines)
                if end > max_size:
                    raise _Anomaly
                cuts = frozenset(t - start for t in targets if start < t <= end)
                task = (start, origin, b"".join(lines), len(lines), cuts)
                pending.append((start, len(lines), ex.submit(_check_chunk, task)))
                start = end
                return True

            for _ in range(jobs + 1):
                if not submit():
                    break
            while pending:
                cstart, count, fut = pending.popleft()
                submit()
                r = fut.result()
                if r is None:
                    raise _Anomaly
                first_prev, last_prev, hashes, snaps = r
                if first_prev != prev_str:
                    raise _Anomaly
                for cut, hs in snaps.items():
                    if compact_root(frontier.hashes + hs) != targets[cstart + cut][0]:
                        raise _Anomaly
                # the chunk starts at a multiple of 2**k >= count: its compact range hashes are
                # perfect subtrees of the global tree, levels = set bits of count, descending
                levels = [lv for lv in range(count.bit_length() - 1, -1, -1) if count >> lv & 1]
                for lv, h in zip(levels, hashes, strict=True):
                    frontier.append_subtree(lv, h)
                prev_str = last_prev
    except _Anomaly:
        return None
    except Exception:  # pragma: no cover - no processes available etc.: fall back to sequential
        return None
    if frontier.size != max_size:
        return None
    return Result(ok=True, size=frontier.size, root=frontier.root(), entries=frontier.size)


class _Anomaly(Exception):
    pass


def _attribute_prev_break(
    b: _Bundle,
    handle: Member,
    k1: int,
    claimed_prev: str,
    leaf_k1: bytes,
    next_line: bytes | None,
    targets: dict[int, tuple[bytes, str]],
) -> Result:
    """Entry k1's prev does not match leaf(k1-1). Blame k1-1 if entry k1 is still intact,
    else k1. Entry k1 is intact if entry k1+1 records leaf(k1) as its prev; when k1 is the
    last entry, if the checkpoint at size k1+1 verifies with the claimed prev as leaf(k1-1)."""
    blame_prev = _fail_seq(*prev_break(k1, intact=True))
    if next_line is not None:
        if next_line.endswith(b"\n"):
            try:
                nxt = json.loads(next_line[:-1])
            except ValueError:
                nxt = None
            if isinstance(nxt, dict) and nxt.get("prev") == _b64encode(leaf_k1).decode():
                return blame_prev
    elif k1 + 1 in targets:
        alt = _Frontier()
        with b.open(handle) as f:
            for i, line in enumerate(f):
                if i >= k1 - 1:
                    break
                alt.append(_sha256(b"\x00" + line[:-1]).digest())
        alt.append(base64.b64decode(claimed_prev))
        alt.append(leaf_k1)
        if alt.root() == targets[k1 + 1][0]:
            return blame_prev
    return _fail_seq(*prev_break(k1, intact=False))


_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def verify_evidence_bundle(path: str, trusted_keys: TrustedKeys) -> Result:
    """Verify an evidence bundle (zip or directory with manifest.json)."""
    ring = _keyring(trusted_keys)
    if not ring:
        raise ValueError("at least one trusted verifier key is required")
    try:
        with _Bundle(path) as b:
            return _verify_evidence(b, ring)
    except _BundleError as exc:
        return _fail_file(exc.name, exc.reason)


def _verify_evidence(b: _Bundle, ring: Keyring) -> Result:
    for name, hs in b.by_name.items():
        if len(hs) > 1:
            return _fail_file(name, "duplicate member")
    manifest_bytes = b.read(b.unique("manifest.json"))
    sig_text = b.read(b.unique("manifest.sig"), MAX_NOTE_BYTES)
    try:
        body, names = verify_note(sig_text, ring)
    except NoteError as exc:
        return _fail_file("manifest.sig", f"does not verify: {exc}")
    m = re.fullmatch(r"([^\n]+)\n" + re.escape(EVIDENCE_FORMAT) + r"\nsha256:([0-9a-f]{64})\n", body)
    if not m:
        return _fail_file("manifest.sig", "signed body is not an mlgov.evidence/v1 manifest statement")
    origin, want_hex = m.group(1), m.group(2)
    if origin not in names:
        return _fail_file("manifest.sig", f"not signed by a trusted key named {origin!r}")
    if _sha256(manifest_bytes).hexdigest() != want_hex:
        return _fail_file("manifest.json", "SHA-256 does not match the signed manifest.sig")
    try:
        manifest = json.loads(manifest_bytes, parse_float=_reject_float, parse_constant=_reject_constant)
        if canonical_json(manifest) != manifest_bytes:
            raise ValueError("not canonical")
    except (ValueError, _FloatFound) as exc:
        return _fail_file("manifest.json", f"invalid: {exc}")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        manifest.get("format") != EVIDENCE_FORMAT
        or manifest.get("origin") != origin
        or not isinstance(files, dict)
        or not all(isinstance(v, str) and _HEX64.match(v) for v in files.values())
    ):
        return _fail_file("manifest.json", "bad format, origin or files map")
    present = {n for n in b.by_name if n not in ("manifest.json", "manifest.sig")}
    for name in sorted(present - set(files)):
        return _fail_file(name, "file not listed in manifest.json")
    for name in sorted(files):
        if name not in b.by_name:
            return _fail_file(name, "listed in manifest.json but missing")
        h = _sha256()
        with b.open(b.unique(name)) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != files[name]:
            return _fail_file(name, "SHA-256 does not match manifest.json")
    for req in ("audit/checkpoint.txt", "audit/entries.jsonl", "audit/proofs.json"):
        if req not in files:
            return _fail_file(req, "missing from evidence bundle")
    try:
        c_origin, size, root, _ = verify_checkpoint(b.read(b.unique("audit/checkpoint.txt"), MAX_NOTE_BYTES), ring)
    except (NoteError, CheckpointError) as exc:
        return _fail_file("audit/checkpoint.txt", f"does not verify: {exc}")
    if c_origin != origin:
        return _fail_file("audit/checkpoint.txt", f"origin {c_origin!r} differs from manifest {origin!r}")
    try:
        proofs_doc = json.loads(
            b.read(b.unique("audit/proofs.json")), parse_float=_reject_float, parse_constant=_reject_constant
        )
        if proofs_doc["tree_size"] != size or type(proofs_doc["tree_size"]) is not int:
            return _fail_file("audit/proofs.json", "tree_size differs from the checkpoint size")
        proofs: dict[int, list[bytes]] = {}
        for p in proofs_doc["proofs"]:
            seq = p["seq"]
            if type(seq) is not int or seq in proofs:
                raise ValueError(f"bad or repeated seq {seq!r}")
            proofs[seq] = [_b64decode_strict(x) for x in p["proof"]]
    except (ValueError, KeyError, TypeError, _FloatFound, binascii.Error) as exc:
        return _fail_file("audit/proofs.json", f"malformed: {exc!r}")
    cited: list[int] = []
    with b.open(b.unique("audit/entries.jsonl")) as f:
        for line in f:
            if not line.endswith(b"\n"):
                return _fail_file("audit/entries.jsonl", "last line does not end with a newline")
            raw = line[:-1]
            try:
                obj = check_entry_bytes(raw)
            except EntryError as exc:
                return Result(ok=False, bad_file="audit/entries.jsonl", reason=str(exc))
            seq = obj["seq"]
            if obj["log"] != origin:
                return _fail_seq(seq, "log differs from origin", "audit/entries.jsonl")
            if cited and seq <= cited[-1]:
                return _fail_seq(seq, "entries not in ascending seq order", "audit/entries.jsonl")
            if seq >= size:
                return _fail_seq(seq, f"seq beyond checkpoint size {size}", "audit/entries.jsonl")
            if seq not in proofs or not verify_inclusion(seq, size, hash_leaf(raw), proofs[seq], root):
                return _fail_seq(seq, "inclusion proof does not verify against the checkpoint", "audit/entries.jsonl")
            cited.append(seq)
    if set(proofs) != set(cited):
        return _fail_file("audit/proofs.json", "proofs for entries that are not cited")
    return Result(ok=True, size=size, root=root, entries=len(cited), checkpoints=1, key_names=sorted(names))


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def _is_evidence(path: str) -> bool:
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "manifest.json"))
    try:
        with zipfile.ZipFile(path) as z:
            return "manifest.json" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _load_keys(paths: list[str]) -> list[VerifierKey]:
    keys = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    keys.append(parse_verifier_key(line))
    return keys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Offline verifier for mlgov audit log and evidence bundles.")
    ap.add_argument("bundle", help="bundle directory or .zip")
    ap.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="KEYFILE",
        help="file with pinned verifier key(s) <name>+<id>+<base64>; repeatable",
    )
    ap.add_argument(
        "--trusted-checkpoint",
        metavar="FILE",
        help="a signed checkpoint you saved earlier (detects rollback and forks)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for checking entries (default: CPU count; 1 = sequential)",
    )
    args = ap.parse_args(argv)
    try:
        keys = _load_keys(args.key)
        if not keys:
            raise ValueError("no keys in key file(s)")
        trusted = None
        if args.trusted_checkpoint:
            with open(args.trusted_checkpoint, "rb") as f:
                trusted = f.read()
    except (OSError, ValueError) as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return 2
    if not os.path.exists(args.bundle):
        print(f"usage error: no such bundle {args.bundle}", file=sys.stderr)
        return 2
    if _is_evidence(args.bundle):
        if trusted is not None:
            print("usage error: --trusted-checkpoint applies to log bundles only", file=sys.stderr)
            return 2
        res = verify_evidence_bundle(args.bundle, keys)
    else:
        res = verify_log_bundle(args.bundle, keys, trusted, jobs=max(1, args.jobs))
    print(res.line())
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
