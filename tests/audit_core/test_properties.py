"""Hypothesis properties (reference section 3.3): incremental roots, stored-node proofs
versus an independent RFC 6962 PATH/SUBPROOF implementation, and canonical JSON vs rfc8785."""

from __future__ import annotations

import hashlib
import json

import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.verifier import (
    canonical_json,
    check_entry_bytes,
    verify_consistency,
    verify_inclusion,
)
from tests.properties import examples

PROPS = settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- reference RFC 6962 section 2.1 implementation, straight from the definitions --------


def _h_leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def _h_node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hs: list[bytes]) -> bytes:
    n = len(hs)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hs[0]
    k = _k(n)
    return _h_node(ref_mth(hs[:k]), ref_mth(hs[k:]))


def ref_path(m: int, hs: list[bytes]) -> list[bytes]:
    n = len(hs)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, hs[:k]) + [ref_mth(hs[k:])]
    return ref_path(m - k, hs[k:]) + [ref_mth(hs[:k])]


def ref_subproof(m: int, hs: list[bytes], b: bool) -> list[bytes]:
    n = len(hs)
    if m == n:
        return [] if b else [ref_mth(hs)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, hs[:k], b) + [ref_mth(hs[k:])]
    return ref_subproof(m - k, hs[k:], False) + [ref_mth(hs[:k])]


def ref_proof(m: int, hs: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(hs):
        return []
    return ref_subproof(m, hs, True)


class CountingStore:
    def __init__(self, leaves):
        self.store = {}
        self.calls = []
        cr = merkle.CompactRange()
        for i, h in enumerate(leaves):
            self.store[(0, i)] = h
            completed = cr.append(h)
            assert all(level >= 1 for level, _, _ in completed)
            for level, index, hh in completed:
                self.store[(level, index)] = hh
        self.cr = cr

    def fetch(self, nodes):
        self.calls.append(list(nodes))
        return {n: self.store[n] for n in nodes}


def _leaves(n: int) -> list[bytes]:
    return [_h_leaf(i.to_bytes(4, "big")) for i in range(n)]


@PROPS
@given(n=st.integers(min_value=0, max_value=5000))
def test_incremental_root_equals_recursive_mth(n):
    hs = _leaves(n)
    cr = merkle.CompactRange()
    for h in hs:
        cr.append(h)
    assert cr.root() == ref_mth(hs)
    restored = merkle.CompactRange.from_bytes(cr.size, cr.to_bytes())
    assert restored.root() == cr.root()


@PROPS
@given(data=st.data(), n=st.integers(min_value=1, max_value=700))
def test_stored_node_proofs_equal_reference(data, n):
    hs = _leaves(n)
    s = CountingStore(hs)
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    size = data.draw(st.integers(i + 1, n))
    root = ref_mth(hs[:size])
    s.calls.clear()
    proof = merkle.inclusion_proof(i, size, s.fetch)
    assert proof == ref_path(i, hs[:size])
    assert verify_inclusion(i, size, hs[i], proof, root)
    assert len(s.calls) == (1 if proof else 0)
    assert all(len(c) <= 2 * size.bit_length() + 1 for c in s.calls)
    s.calls.clear()
    size2 = size if m <= size else n
    cproof = merkle.consistency_proof(m, size2, s.fetch)
    assert cproof == ref_proof(m, hs[:size2])
    assert verify_consistency(m, size2, ref_mth(hs[:m]), ref_mth(hs[:size2]), cproof)
    assert len(s.calls) <= 1 and all(len(c) <= 2 * size2.bit_length() + 1 for c in s.calls)
    s.calls.clear()
    assert merkle.root_at(size, s.fetch) == root
    assert len(s.calls) == 1 and len(s.calls[0]) <= size.bit_length()


def test_append_stores_about_one_node_per_leaf():
    cr = merkle.CompactRange()
    total = sum(len(cr.append(h)) for h in _leaves(4096))
    assert total == 4095  # every complete subtree of level >= 1 exactly once


def test_node_id_unique_and_int64_safe():
    ids = {merkle.node_id(level, index) for level in range(0, 40) for index in (0, 1, 2**40, 2**56 - 1)}
    assert len(ids) == 160
    assert max(ids) < 2**63
    assert merkle.node_from_id(merkle.node_id(7, 12345)) == (7, 12345)


# --- canonical JSON ----------------------------------------------------------------------

KEYS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12)
NFC_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30).filter(
    lambda s: __import__("unicodedata").is_normalized("NFC", s)
)
CONTROL_TEXT = st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=5)
SAFE_INT = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
SCALARS = st.one_of(
    st.none(), st.booleans(), SAFE_INT, NFC_TEXT, CONTROL_TEXT, st.sampled_from([2**53 - 1, -(2**53 - 1), 0])
)
JSONISH = st.recursive(
    SCALARS, lambda c: st.one_of(st.lists(c, max_size=5), st.dictionaries(KEYS, c, max_size=5)), max_leaves=25
)

B64_32 = st.binary(min_size=32, max_size=32).map(lambda b: __import__("base64").b64encode(b).decode())
TS = st.builds(
    lambda y, mo, d, h, mi, s, us: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}Z",
    st.integers(2000, 2099),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999999),
)
RECORDS = st.fixed_dictionaries(
    {
        "v": st.just("mlgov.audit/v1"),
        "log": st.just("example.com/log"),
        "seq": st.integers(0, 2**53 - 1),
        "prev": B64_32,
        "ts": TS,
        "actor": st.fixed_dictionaries(
            {
                "type": st.sampled_from(["user", "service", "system"]),
                "id": NFC_TEXT.filter(bool),
                "auth": st.sampled_from(["session", "token"]),
            },
            optional={"username": NFC_TEXT},
        ),
        "ctx": st.fixed_dictionaries(
            {"request_id": NFC_TEXT, "origin": st.sampled_from(["http", "celery"])},
            optional={"ip": st.just("192.0.2.1")},
        ),
        "action": st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,3}\Z"),
        "object": st.fixed_dictionaries(
            {"type": NFC_TEXT.filter(bool), "id": NFC_TEXT.filter(bool)}, optional={"version": NFC_TEXT}
        ),
        "data": st.dictionaries(KEYS, JSONISH, max_size=6),
    },
    optional={"reason": NFC_TEXT},
)


def _reorder(obj, rnd):
    if isinstance(obj, dict):
        items = list(obj.items())
        rnd.shuffle(items)
        return {k: _reorder(v, rnd) for k, v in items}
    if isinstance(obj, list):
        return [_reorder(v, rnd) for v in obj]
    return obj


@PROPS
@given(rec=RECORDS, rnd=st.randoms(use_true_random=False))
def test_canonical_equals_rfc8785_and_is_reorder_stable(rec, rnd):
    raw = canonical_json(rec)
    assert raw == rfc8785.dumps(rec)
    shuffled = _reorder(rec, rnd)
    assert canonical_json(shuffled) == raw == rfc8785.dumps(shuffled)
    assert check_entry_bytes(raw) == rec
    assert b"\n" not in raw


@PROPS
@given(value=JSONISH)
def test_canonical_equals_rfc8785_on_values(value):
    assert canonical_json(value) == rfc8785.dumps(value)
    assert json.loads(canonical_json(value)) == value
