"""Storage-tamper mutation tests (reference section 3.4) on a 1,000-entry bundle with
checkpoints every 100 entries, plus trusted-checkpoint rollback/fork (3.5)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import unicodedata

import pytest

from audit import notes
from audit.verifier import canonical_json, hash_leaf, verify_log_bundle

N = 1000


def read_lines(bundle):
    with open(os.path.join(bundle, "entries.jsonl"), "rb") as f:
        return f.read().split(b"\n")[:-1]


def write_lines(bundle, lines):
    with open(os.path.join(bundle, "entries.jsonl"), "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def ckpt_path(bundle, size):
    return os.path.join(bundle, "checkpoints", f"{size:020d}.txt")


def keys(signer):
    return [signer.verifier_key()]


def assert_fail_seq(res, seq):
    assert not res.ok, res.line()
    assert res.first_bad_seq == seq, res.line()
    assert res.line().startswith(f"FAIL: seq {seq}: ")


def assert_fail_file(res, name, match=None):
    assert not res.ok, res.line()
    assert res.bad_file == name, res.line()
    assert res.line().startswith(f"FAIL: {name}: ")
    if match:
        assert match in res.reason, res.reason


def test_valid_bundle_passes(base_bundle, signer, kit):
    res = verify_log_bundle(base_bundle, keys(signer))
    assert res.ok, res.line()
    assert res.size == N and res.entries == N and res.checkpoints == 10
    assert res.line().startswith(f"PASS: {N} entries, tree size {N}, root ")
    assert res.line().endswith(f"checkpoints 10, keys {kit.ORIGIN}")


def test_valid_zip_bundle_passes(base_bundle, signer, kit, tmp_path):
    z = kit.zip_dir(base_bundle, tmp_path / "b.zip")
    res = verify_log_bundle(z, keys(signer))
    assert res.ok, res.line()


@pytest.mark.parametrize("k", [0, 1, 57, 99, 100, 101, 499, 500, 998, 999])
@pytest.mark.parametrize("where", ["object_id", "ts_digit", "reason_or_data", "prev_char", "random"])
def test_byte_flip_in_entry_k(bundle_copy, signer, k, where):
    lines = read_lines(bundle_copy)
    raw = lines[k]
    if where == "object_id":
        pos = raw.index(b'"object":{"id":"') + len(b'"object":{"id":"')
    elif where == "ts_digit":
        pos = raw.index(b'"ts":"') + len(b'"ts":"') + 3
    elif where == "reason_or_data":
        pos = raw.index(b'"artifact":"sha256:') + 25
    elif where == "prev_char":
        pos = raw.index(b'"prev":"') + 10
    else:
        pos = (k * 7919) % len(raw)
    b = bytearray(raw)
    b[pos] ^= 0x01
    lines[k] = bytes(b)
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", range(0, N, 37))
def test_every_byte_position_sampled(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    b = bytearray(lines[k])
    pos = (k * 131) % len(b)
    b[pos] = (b[pos] + 1) % 256 if b[pos] != 0x09 else 0x41
    lines[k] = bytes(b)
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", [0, 1, 99, 100, 500, 998, 999])
def test_delete_row(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    del lines[k]
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", [0, 99, 500, 998])
def test_swap_rows(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    lines[k], lines[k + 1] = lines[k + 1], lines[k]
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", [0, 99, 500, 999])
def test_duplicate_row(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    lines.insert(k + 1, lines[k])
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k + 1)


@pytest.mark.parametrize("keep", [0, 1, 500, 950, 999])
def test_drop_tail(bundle_copy, signer, keep):
    write_lines(bundle_copy, read_lines(bundle_copy)[:keep])
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_seq(res, keep)
    assert "truncated" in res.reason


def test_drop_tail_with_checkpoints_removed_still_needs_trusted(bundle_copy, signer):
    trusted = open(ckpt_path(bundle_copy, 1000)).read()
    write_lines(bundle_copy, read_lines(bundle_copy)[:500])
    for size in range(600, 1001, 100):
        os.remove(ckpt_path(bundle_copy, size))
    assert verify_log_bundle(bundle_copy, keys(signer)).ok  # self-consistent shorter log
    res = verify_log_bundle(bundle_copy, keys(signer), trusted)
    assert_fail_file(res, "checkpoints/", "rollback")


def test_forged_row_appended_without_checkpoint(bundle_copy, signer, kit):
    lines = read_lines(bundle_copy)
    forged = canonical_json(kit.make_record(N, hash_leaf(lines[-1])))
    write_lines(bundle_copy, lines + [forged])
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_seq(res, N)
    assert "not covered" in res.reason


@pytest.mark.parametrize("k", [1, 250, 999])
def test_changed_prev(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    rec = json.loads(lines[k])
    rec["prev"] = base64.b64encode(hash_leaf(b"evil")).decode()
    lines[k] = canonical_json(rec)
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", [3, 998, 999])
def test_rewritten_entry_with_valid_prev(bundle_copy, signer, k):
    # content change that keeps the entry itself valid: blamed on k, not on k+1
    lines = read_lines(bundle_copy)
    rec = json.loads(lines[k])
    rec["data"]["metrics"]["auc"] = "0.9999"
    lines[k] = canonical_json(rec)
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


@pytest.mark.parametrize("k", [5, 700])
def test_non_canonical_reordered_keys(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    rec = json.loads(lines[k])
    lines[k] = json.dumps(dict(reversed(list(rec.items()))), separators=(",", ":"), ensure_ascii=False).encode()
    write_lines(bundle_copy, lines)
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_seq(res, k)
    assert "canonical" in res.reason


@pytest.mark.parametrize("k", [5, 700])
def test_non_canonical_whitespace(bundle_copy, signer, k):
    lines = read_lines(bundle_copy)
    lines[k] = lines[k].replace(b'","', b'", "', 1)
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), k)


def test_nfc_to_nfd(bundle_copy, signer):
    k = 17  # seq % 10 == 7 carries a non-ASCII reason
    lines = read_lines(bundle_copy)
    text = lines[k].decode()
    assert text != unicodedata.normalize("NFD", text)
    lines[k] = unicodedata.normalize("NFD", text).encode()
    write_lines(bundle_copy, lines)
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_seq(res, k)
    assert "NFC" in res.reason


def test_crlf_line_ending(bundle_copy, signer):
    lines = read_lines(bundle_copy)
    lines[10] = lines[10] + b"\r"
    write_lines(bundle_copy, lines)
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), 10)


def test_missing_final_newline(bundle_copy, signer):
    path = os.path.join(bundle_copy, "entries.jsonl")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-1])
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), N - 1)


def test_rollback_vs_trusted_checkpoint(tmp_path, signer, kit, log1000):
    entries, leaves = log1000
    full = kit.checkpoint_note([signer], 1000, kit.root_of(leaves))
    old = kit.write_log_bundle(
        tmp_path / "old", entries[:600], kit.standard_checkpoints([signer], leaves[:600], 100), keys(signer)
    )
    assert verify_log_bundle(old, keys(signer)).ok
    res = verify_log_bundle(old, keys(signer), full)
    assert_fail_file(res, "checkpoints/", "rollback")
    # an older trusted checkpoint is fine
    res = verify_log_bundle(old, keys(signer), kit.checkpoint_note([signer], 300, kit.root_of(leaves[:300])))
    assert res.ok, res.line()


def test_trusted_checkpoint_between_bundle_checkpoints(base_bundle, signer, kit, log1000):
    _, leaves = log1000
    good = kit.checkpoint_note([signer], 456, kit.root_of(leaves[:456]))
    assert verify_log_bundle(base_bundle, keys(signer), good).ok
    forked = kit.checkpoint_note([signer], 456, kit.root_of(leaves[:455] + [hash_leaf(b"x")]))
    res = verify_log_bundle(base_bundle, keys(signer), forked)
    assert_fail_seq(res, 455)
    assert "trusted checkpoint" in res.reason


def test_fork_rewritten_history_vs_trusted(tmp_path, signer, kit, log1000):
    entries, leaves = log1000
    trusted = kit.checkpoint_note([signer], 1000, kit.root_of(leaves))
    # operator rewrites history from seq 300 on and re-signs every checkpoint
    alt_entries = entries[:300]
    prev = leaves[299]
    alt_leaves = leaves[:300]
    for seq in range(300, 1000):
        rec = kit.make_record(seq, prev)
        rec["data"]["note"] = "rewritten"
        raw = canonical_json(rec)
        alt_entries.append(raw)
        prev = hash_leaf(raw)
        alt_leaves.append(prev)
    b = kit.write_log_bundle(
        tmp_path / "fork", alt_entries, kit.standard_checkpoints([signer], alt_leaves, 100), keys(signer)
    )
    assert verify_log_bundle(b, keys(signer)).ok  # internally consistent
    res = verify_log_bundle(b, keys(signer), trusted)
    assert_fail_file(res, "checkpoints/00000000000000001000.txt", "fork")


def test_fork_two_checkpoints_same_size(bundle_copy, signer, kit, log1000):
    _, leaves = log1000
    bad = kit.checkpoint_note([signer], 500, kit.root_of(leaves[:499] + [hash_leaf(b"x")]))
    with open(os.path.join(bundle_copy, "checkpoints", "00000000000000000500.fork.txt"), "w") as f:
        f.write(bad)
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert not res.ok and "fork" in res.reason, res.line()


def test_fork_in_zip_duplicate_member(base_bundle, signer, kit, log1000, tmp_path):
    import warnings
    import zipfile

    _, leaves = log1000
    z = kit.zip_dir(base_bundle, tmp_path / "b.zip")
    bad = kit.checkpoint_note([signer], 500, kit.root_of(leaves[:499] + [hash_leaf(b"x")]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(z, "a") as zf:
            zf.writestr("checkpoints/00000000000000000500.txt", bad)
    res = verify_log_bundle(z, keys(signer))
    assert_fail_file(res, "checkpoints/00000000000000000500.txt", "fork")


def test_root_mismatch_checkpoint(bundle_copy, signer, kit, log1000):
    _, leaves = log1000
    with open(ckpt_path(bundle_copy, 300), "w") as f:
        f.write(kit.checkpoint_note([signer], 300, kit.root_of(leaves[:299] + [hash_leaf(b"x")])))
    assert_fail_seq(verify_log_bundle(bundle_copy, keys(signer)), 299)


def test_unknown_key_only(bundle_copy, signer, kit, log1000):
    _, leaves = log1000
    other = notes.Signer.from_key_string(notes.generate_signer_key(kit.ORIGIN))
    with open(ckpt_path(bundle_copy, 400), "w") as f:
        f.write(kit.checkpoint_note([other], 400, kit.root_of(leaves[:400])))
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_file(res, "checkpoints/00000000000000000400.txt", "no signature from a trusted key")


def test_same_name_and_key_id_but_different_key(bundle_copy, signer):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = ckpt_path(bundle_copy, 400)
    body = open(path).read().split("\n\n")[0] + "\n"
    sig = signer.key_id.to_bytes(4, "big") + Ed25519PrivateKey.generate().sign(body.encode())
    with open(path, "w") as f:
        f.write(body + "\n\u2014 " + signer.name + " " + base64.b64encode(sig).decode() + "\n")
    res = verify_log_bundle(bundle_copy, keys(signer))
    assert_fail_file(res, "checkpoints/00000000000000000400.txt", "does not verify")


def test_known_key_signature_fails(bundle_copy, signer):
    path = ckpt_path(bundle_copy, 700)
    text = open(path).read()
    body, sigline = text.split("\n\n")
    prefix, b64 = sigline.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x80
    with open(path, "w") as f:
        f.write(body + "\n\n" + prefix + " " + base64.b64encode(bytes(raw)).decode() + "\n")
    assert_fail_file(
        verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/00000000000000000700.txt", "does not verify"
    )


def test_checkpoint_body_changed(bundle_copy, signer):
    path = ckpt_path(bundle_copy, 700)
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text.replace("\n700\n", "\n701\n"))
    assert_fail_file(verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/00000000000000000700.txt")


def test_checkpoint_with_extra_line(bundle_copy, signer, kit, log1000):
    """An extension line (allowed by C2SP tlog-checkpoint) verifies; an empty one does not."""
    _, leaves = log1000
    body = notes.checkpoint_body(kit.ORIGIN, 200, kit.root_of(leaves[:200])) + "timestamp 12345\n"
    with open(ckpt_path(bundle_copy, 200), "w") as f:
        f.write(notes.sign_note(body, signer))
    assert verify_log_bundle(bundle_copy, keys(signer)).ok
    body = notes.checkpoint_body(kit.ORIGIN, 200, kit.root_of(leaves[:200])) + "\ntimestamp 12345\n"
    with open(ckpt_path(bundle_copy, 200), "w") as f:
        f.write(notes.sign_note(body, signer))
    assert_fail_file(
        verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/00000000000000000200.txt", "must not be empty"
    )


def test_checkpoint_with_leading_zero_size(bundle_copy, signer, kit, log1000):
    _, leaves = log1000
    root = base64.b64encode(kit.root_of(leaves[:200])).decode()
    with open(ckpt_path(bundle_copy, 200), "w") as f:
        f.write(notes.sign_note(f"{kit.ORIGIN}\n0200\n{root}\n", signer))
    assert_fail_file(
        verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/00000000000000000200.txt", "leading zeros"
    )


def test_checkpoint_other_origin(bundle_copy, signer, kit, log1000):
    _, leaves = log1000
    other = notes.Signer.from_key_string(notes.generate_signer_key("other.example/log"))
    with open(ckpt_path(bundle_copy, 200), "w") as f:
        f.write(kit.checkpoint_note([other], 200, kit.root_of(leaves[:200]), "other.example/log"))
    res = verify_log_bundle(bundle_copy, [signer.verifier_key(), other.verifier_key()])
    assert_fail_file(res, "checkpoints/00000000000000000200.txt", "origin")


def test_checkpoint_filename_mismatch(bundle_copy, signer):
    os.rename(ckpt_path(bundle_copy, 200), ckpt_path(bundle_copy, 201))
    assert_fail_file(verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/00000000000000000201.txt", "name")


def test_no_checkpoints(bundle_copy, signer):
    shutil.rmtree(os.path.join(bundle_copy, "checkpoints"))
    assert_fail_file(verify_log_bundle(bundle_copy, keys(signer)), "checkpoints/")


def test_entries_from_other_log(tmp_path, signer, kit):
    entries, leaves = kit.build_log(20, "other.example/log")
    b = kit.write_log_bundle(tmp_path / "b", entries, kit.standard_checkpoints([signer], leaves, 10), keys(signer))
    assert_fail_seq(verify_log_bundle(b, keys(signer)), 0)


def test_empty_log(tmp_path, signer, kit):
    b = kit.write_log_bundle(
        tmp_path / "b", [], {kit.ckpt_name(0): kit.checkpoint_note([signer], 0, kit.root_of([]))}, keys(signer)
    )
    res = verify_log_bundle(b, keys(signer))
    assert res.ok and res.size == 0, res.line()


def test_key_rotation_two_signers(tmp_path, signer, kit, log1000):
    entries, leaves = log1000
    new = notes.Signer.from_key_string(notes.generate_signer_key(kit.ORIGIN))
    cps = kit.standard_checkpoints([signer], leaves[:500], 100)
    cps.update({k: v for k, v in kit.standard_checkpoints([signer, new], leaves, 100).items() if k not in cps})
    b = kit.write_log_bundle(tmp_path / "b", entries, cps, keys(signer))
    assert verify_log_bundle(b, [signer.verifier_key(), new.verifier_key()]).ok
    assert verify_log_bundle(b, keys(signer)).ok
    res = verify_log_bundle(b, [new.verifier_key()])
    assert_fail_file(res, "checkpoints/00000000000000000100.txt", "no signature from a trusted key")


def test_trusted_checkpoint_wrong_key(base_bundle, signer, kit, log1000):
    _, leaves = log1000
    other = notes.Signer.from_key_string(notes.generate_signer_key(kit.ORIGIN))
    res = verify_log_bundle(base_bundle, keys(signer), kit.checkpoint_note([other], 500, kit.root_of(leaves[:500])))
    assert_fail_file(res, "trusted checkpoint")


# --- the multi-process fast path must give exactly the sequential results -----------------

MUTATIONS = {
    "none": lambda lines: lines,
    "flip_500": lambda lines: lines[:500] + [lines[500].replace(b'"auc":"0.9312"', b'"auc":"0.9313"')] + lines[501:],
    "flip_63": lambda lines: lines[:63] + [lines[63].replace(b'"auc":"0.9312"', b'"auc":"0.9313"')] + lines[64:],
    "flip_64": lambda lines: lines[:64] + [lines[64].replace(b'"auc":"0.9312"', b'"auc":"0.9313"')] + lines[65:],
    "delete_128": lambda lines: lines[:128] + lines[129:],
    "swap_127": lambda lines: lines[:127] + [lines[128], lines[127]] + lines[129:],
    "dup_999": lambda lines: lines + [lines[999]],
    "truncate_960": lambda lines: lines[:960],
    "truncate_896": lambda lines: lines[:896],
    "bad_json_700": lambda lines: lines[:700] + [b"{" + lines[700]] + lines[701:],
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_parallel_matches_sequential(bundle_copy, signer, monkeypatch, name):
    from audit import verifier

    write_lines(bundle_copy, MUTATIONS[name](read_lines(bundle_copy)))
    seq = verify_log_bundle(bundle_copy, keys(signer))
    monkeypatch.setattr(verifier, "_PAR_CHUNK", 64)
    par = verify_log_bundle(bundle_copy, keys(signer), jobs=2)
    assert par == seq, (par.line(), seq.line())
    assert (name == "none") == par.ok


def test_parallel_with_trusted_checkpoint_and_odd_sizes(tmp_path, signer, kit, log1000, monkeypatch):
    from audit import verifier

    entries, leaves = log1000
    cps = kit.standard_checkpoints([signer], leaves[:777], 61)
    b = kit.write_log_bundle(tmp_path / "b", entries[:777], cps, keys(signer))
    trusted = kit.checkpoint_note([signer], 333, kit.root_of(leaves[:333]))
    monkeypatch.setattr(verifier, "_PAR_CHUNK", 32)
    par = verify_log_bundle(b, keys(signer), trusted, jobs=2)
    assert par.ok and par.size == 777 and par.root == kit.root_of(leaves[:777]), par.line()
    forked = kit.checkpoint_note([signer], 333, kit.root_of(leaves[:332] + [hash_leaf(b"x")]))
    assert verify_log_bundle(b, keys(signer), forked, jobs=2).first_bad_seq == 332
