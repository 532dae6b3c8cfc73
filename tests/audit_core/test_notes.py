"""Signed-note and checkpoint parsing (reference section 3.6) and key strings."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.notes import Signer, checkpoint_body, generate_signer_key, sign_note
from audit.verifier import (
    EMPTY_ROOT,
    CheckpointError,
    NoteError,
    key_id,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    verify_checkpoint,
    verify_note,
)

NAME = "example.com/log"
ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture(scope="module")
def s1():
    return Signer.from_key_string(generate_signer_key(NAME))


@pytest.fixture(scope="module")
def s2():
    return Signer.from_key_string(generate_signer_key(NAME))


def test_key_strings_roundtrip_and_go_format(s1):
    seed = bytes(range(32))
    priv = Ed25519PrivateKey.from_private_bytes(seed)
    pub = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = int.from_bytes(hashlib.sha256(NAME.encode() + b"\n\x01" + pub).digest()[:4], "big")
    skey = f"PRIVATE+KEY+{NAME}+{kid:08x}+" + base64.b64encode(b"\x01" + seed).decode()
    s = Signer.from_key_string(skey)
    assert s.name == NAME and s.key_id == kid == key_id(NAME, pub)
    assert s.verifier_key() == f"{NAME}+{kid:08x}+" + base64.b64encode(b"\x01" + pub).decode()
    vk = parse_verifier_key(s.verifier_key())
    assert (vk.name, vk.key_id, vk.public_key) == (NAME, kid, pub)
    assert generate_signer_key(NAME).startswith(f"PRIVATE+KEY+{NAME}+")
    with pytest.raises(ValueError):
        Signer.from_key_string(skey.replace(f"+{kid:08x}+", "+00000000+"))
    with pytest.raises(ValueError):
        parse_verifier_key(s.verifier_key().replace(f"+{kid:08x}+", "+00000000+"))
    with pytest.raises(ValueError):
        parse_verifier_key(skey)
    for bad in ("has space", "a+b", ""):
        with pytest.raises(ValueError):
            generate_signer_key(bad)


def test_go_sumdb_note_vector():
    # golang.org/x/mod/sumdb/note example keys (note_test.go / doc example)
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    s = Signer.from_key_string(skey)
    assert s.verifier_key() == vkey
    msg = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    note = sign_note(msg, [s])
    want = (
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
        "fqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    assert note == msg + "\n" + want
    assert verify_note(note, [vkey]) == (msg, ["PeterNeumann"])


def test_sign_and_verify_multiple_signers(s1, s2):
    body = checkpoint_body(NAME, 5, ROOT)
    note = sign_note(body, [s1, s2])
    assert verify_note(note, [s1.verifier_key()]) == (body, [NAME])
    assert verify_note(note, [s2.verifier_key()]) == (body, [NAME])
    assert verify_note(note.encode(), [s1.verifier_key(), s2.verifier_key()])[0] == body
    assert verify_checkpoint(note, [s2.verifier_key()])[:3] == (NAME, 5, ROOT)


def test_em_dash_required(s1):
    note = sign_note("hello\n", s1)
    with pytest.raises(NoteError, match="em dash"):
        verify_note(note.replace("\u2014 ", "- "), [s1.verifier_key()])
    with pytest.raises(NoteError, match="em dash"):
        verify_note(note.replace("\u2014 ", "\u2013 "), [s1.verifier_key()])
    with pytest.raises(NoteError):
        verify_note(note.replace("\u2014 ", "\u2014"), [s1.verifier_key()])


def test_blank_line_rules(s1):
    note = sign_note("hello\n", s1)
    body, sigs = note.split("\n\n")
    with pytest.raises(NoteError):
        verify_note(body + "\n" + sigs, [s1.verifier_key()])  # missing blank line
    with pytest.raises(NoteError):
        verify_note(body + "\n\n\n" + sigs, [s1.verifier_key()])  # extra blank line: sig over other text
    with pytest.raises(NoteError):
        verify_note(note[:-1], [s1.verifier_key()])  # no final newline


def test_text_with_empty_lines_splits_at_last_blank_line(s1):
    body = "line one\n\nline three\n\n\nline six\n"
    note = sign_note(body, s1)
    assert verify_note(note, [s1.verifier_key()])[0] == body
    assert parse_note(note)[0] == body


@pytest.mark.parametrize("ch", ["\r", "\t", "\x00", "\x1b", "\x0b"])
def test_control_characters_rejected(s1, ch):
    with pytest.raises(ValueError):
        sign_note(f"a{ch}b\n", s1)
    note = sign_note("ab\n", s1)
    with pytest.raises(NoteError, match="control"):
        verify_note(note.replace("ab", f"a{ch}b"), [s1.verifier_key()])


def test_invalid_utf8_rejected(s1):
    note = sign_note("ab\n", s1).encode()
    with pytest.raises(NoteError, match="UTF-8"):
        verify_note(note.replace(b"ab", b"a\xffb"), [s1.verifier_key()])


def test_many_signatures_accepted(s1):
    others = [Signer.from_key_string(generate_signer_key(f"witness{i}.example")) for i in range(20)]
    note = sign_note("hello\n", others + [s1])
    assert verify_note(note, [s1.verifier_key()]) == ("hello\n", [NAME])
    assert len(parse_note(note)[1]) == 21
    both = verify_note(note, [s1.verifier_key(), others[3].verifier_key()])[1]
    assert sorted(both) == sorted([NAME, "witness3.example"])


def test_bad_base64_and_short_signature(s1):
    note = sign_note("hello\n", s1)
    name_part = f"\u2014 {NAME} "
    with pytest.raises(NoteError, match="base64"):
        verify_note(note.replace(name_part, name_part + "!!"), [s1.verifier_key()])
    with pytest.raises(NoteError):
        verify_note("hello\n\n" + name_part + "AAAA\n", [s1.verifier_key()])


def test_unknown_keys_ignored_but_one_trusted_needed(s1, s2):
    other = Signer.from_key_string(generate_signer_key("other.example"))
    note = sign_note("hello\n", [other, s1])
    assert verify_note(note, [s1.verifier_key()])[1] == [NAME]
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(sign_note("hello\n", other), [s1.verifier_key()])
    # same name, different key (different id) -> unknown -> ignored -> no trusted signature
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(sign_note("hello\n", s2), [s1.verifier_key()])


def test_key_id_mismatch_is_unknown(s1):
    note = sign_note("hello\n", s1)
    line = note.split("\n\n")[1]
    sig = base64.b64decode(line.split(" ")[2])
    forged = "hello\n\n\u2014 " + NAME + " " + base64.b64encode(b"\0\0\0\0" + sig[4:]).decode() + "\n"
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(forged, [s1.verifier_key()])


def test_same_name_and_id_but_different_key_rejected(s1):
    # attacker key whose (name, id) collides with the pinned key: signature fails -> reject
    attacker = Ed25519PrivateKey.generate()
    sig = s1.key_id.to_bytes(4, "big") + attacker.sign(b"hello\n")
    forged = "hello\n\n\u2014 " + NAME + " " + base64.b64encode(sig).decode() + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(forged, [s1.verifier_key()])


def test_failing_known_signature_rejects_even_with_good_one(s1, s2):
    good = sign_note("hello\n", [s1, s2])
    body, sigs = good.split("\n\n")
    lines = sigs.splitlines()
    raw = bytearray(base64.b64decode(lines[1].split(" ")[2]))
    raw[10] ^= 1
    lines[1] = lines[1].rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode()
    bad = body + "\n\n" + "\n".join(lines) + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(bad, [s1.verifier_key(), s2.verifier_key()])
    # s2 unknown -> its bad signature is ignored
    assert verify_note(bad, [s1.verifier_key()])[1] == [NAME]


def test_duplicate_known_signature_rejected(s1):
    note = sign_note("hello\n", s1)
    with pytest.raises(NoteError, match="repeated"):
        verify_note(note + note.split("\n\n")[1], [s1.verifier_key()])


def test_tampered_body_rejected(s1):
    note = sign_note(checkpoint_body(NAME, 5, ROOT), s1)
    with pytest.raises(NoteError):
        verify_note(note.replace("\n5\n", "\n6\n"), [s1.verifier_key()])


def test_checkpoint_parsing():
    b64 = base64.b64encode(ROOT).decode()
    assert parse_checkpoint(f"{NAME}\n5\n{b64}\n") == (NAME, 5, ROOT)
    assert parse_checkpoint(f"{NAME}\n0\n{base64.b64encode(EMPTY_ROOT).decode()}\n")[1] == 0
    # C2SP tlog-checkpoint allows opaque extension lines after the root hash
    assert parse_checkpoint(f"{NAME}\n5\n{b64}\nextension\n") == (NAME, 5, ROOT)
    for bad in (
        f"{NAME}\n05\n{b64}\n",
        f"{NAME}\n5\n{b64}\n\nextension\n",
        f"{NAME}\n5\n{b64}",
        f"{NAME}\n+5\n{b64}\n",
        f"{NAME}\n-5\n{b64}\n",
        f"{NAME}\n5\n{b64[:-2]}\n",
        f"\n5\n{b64}\n",
        f"{NAME}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{NAME}\n0\n{b64}\n",
        f"{NAME}\n\u0665\n{b64}\n",
        f"{NAME}\n5\n{b64}\n\n",
    ):
        with pytest.raises(CheckpointError):
            parse_checkpoint(bad)


def test_checkpoint_key_name_must_equal_origin(s1):
    other = Signer.from_key_string(generate_signer_key("other.example"))
    note = sign_note(checkpoint_body(NAME, 5, ROOT), other)
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(note, [other.verifier_key()])


def test_checkpoint_body_builder():
    assert checkpoint_body(NAME, 0, EMPTY_ROOT) == f"{NAME}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    with pytest.raises(ValueError):
        checkpoint_body(NAME, -1, ROOT)
    with pytest.raises(ValueError):
        checkpoint_body(NAME, 0, ROOT)


def test_signature_with_non_canonical_base64_padding_bits_is_rejected():
    """68-byte signatures end in one '=': the last data character carries 2 unused bits. Setting
    them gives another string that decodes to the same bytes; a note must have one encoding."""
    from audit.notes import Signer, generate_signer_key, sign_note
    from audit.verifier import NoteError, parse_note

    signer = Signer.from_key_string(generate_signer_key("example.org/log"))
    note = sign_note("example.org/log\n1\n" + "A" * 43 + "=\n", signer)
    line = note.rstrip("\n").rsplit("\n", 1)[1]
    b64 = line.rsplit(" ", 1)[1]
    assert b64.endswith("=") and not b64.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    changed = b64[:-2] + alphabet[alphabet.index(b64[-2]) ^ 1] + "="
    forged = note.replace(b64, changed)
    with pytest.raises(NoteError, match="base64"):
        parse_note(forged)
