"""The append path assembles each record's canonical bytes from canonical pieces (outside the
lock); they must equal the canonical encoding of the whole record, for every event."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.context import Actor
from audit.services import SCHEMA, EventSpec, _encode_body, _record_bytes, build_body
from audit.verifier import canonical_json, check_entry_bytes
from tests.properties import examples

keys = st.from_regex(r"[A-Za-z0-9_.:\-]{1,12}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=12
)


@settings(max_examples=examples(300), deadline=None)
@given(
    details=st.dictionaries(keys, values, max_size=5),
    reason=st.none() | st.text(min_size=1, max_size=30),
    target_id=st.text(min_size=1, max_size=10),
    seq=st.integers(0, 2**40),
)
def test_assembled_bytes_equal_the_canonical_record(details, reason, target_id, seq):
    body = build_body(
        EventSpec(Actor.system("prop"), "test.assembled", {"type": "t", "id": target_id}, details, reason)
    )
    ctx = {"request_id": "r-1", "origin": "http", "ip": "10.0.0.1"}
    prev = base64.b64encode(bytes(range(32)))
    ts = "2026-11-22T18:00:00.123456Z"
    tail = b',"ts":"' + ts.encode() + b'","v":"' + SCHEMA.encode() + b'"}'
    assembled = _record_bytes(_encode_body(body), canonical_json(ctx), canonical_json("example/log"), prev, seq, tail)
    record = {**body, "v": SCHEMA, "log": "example/log", "seq": seq, "prev": prev.decode(), "ts": ts, "ctx": ctx}
    assert assembled == canonical_json(record)
    check_entry_bytes(assembled)
