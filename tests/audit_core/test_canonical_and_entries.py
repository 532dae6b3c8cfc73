"""canonical_json and check_entry_bytes unit cases."""

from __future__ import annotations

import base64
import json
import unicodedata

import pytest
import rfc8785

from audit.verifier import CanonicalError, EntryError, canonical_json, check_entry_bytes


def test_rfc8785_vectors_allowed_by_schema():
    # cyberphone/json-canonicalization: the parts our schema allows (no floats)
    obj = {
        "literals": [None, True, False],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "numbers": [333333333, 0, -1, 9007199254740991],
    }
    out = canonical_json(obj)
    assert out == rfc8785.dumps(obj)
    assert out.startswith(b'{"literals":[null,true,false],"numbers":[333333333,0,-1,9007199254740991],')
    assert '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode() in out


@pytest.mark.parametrize(
    "obj,path",
    [
        ({"data": {"metrics": {"auc": 0.93}}}, "data.metrics.auc"),
        ({"data": {"xs": [1, 2.5]}}, "data.xs[1]"),
        ({"n": 2**53}, "n"),
        ({"n": -(2**53)}, "n"),
        ({"s": "e\u0301"}, "s"),
        ({"s": "\ud800"}, "s"),
        ({"caf\u00e9": 1}, "caf\u00e9"),
        ({1: 1}, "<root>"),
        ({"t": (1, 2)}, "t"),
        ({"b": b"x"}, "b"),
        ({"f": float("nan")}, "f"),
    ],
)
def test_canonical_rejects_with_path(obj, path):
    with pytest.raises(CanonicalError) as ei:
        canonical_json(obj)
    assert str(ei.value).startswith(path)
    assert isinstance(ei.value, ValueError)


def test_float_message_says_decimal_strings():
    with pytest.raises(CanonicalError, match="decimal strings"):
        canonical_json({"data": {"metrics": {"auc": 0.5}}})


def test_canonical_accepts_limits():
    assert canonical_json({"a": 2**53 - 1, "b": -(2**53 - 1)}) == b'{"a":9007199254740991,"b":-9007199254740991}'


def good_record(**over):
    rec = {
        "v": "mlgov.audit/v1",
        "log": "example.com/log",
        "seq": 3,
        "prev": base64.b64encode(bytes(32)).decode(),
        "ts": "2026-01-02T03:04:05.123456Z",
        "actor": {"type": "user", "id": "42", "username": "alice", "auth": "session"},
        "ctx": {"request_id": "r1", "origin": "http", "ip": "192.0.2.1"},
        "action": "model_version.register",
        "object": {"type": "model_version", "id": "7"},
        "data": {"metrics": {"auc": "0.93"}},
        "reason": "Gr\u00fc\u00dfe",
    }
    rec.update(over)
    return rec


def test_check_entry_bytes_accepts_good():
    raw = canonical_json(good_record())
    assert check_entry_bytes(raw)["seq"] == 3


@pytest.mark.parametrize(
    "raw_fn,match",
    [
        (lambda r: r.replace(b'"seq":3', b'"seq":3.0'), "decimal strings"),
        (lambda r: r.replace(b'"seq":3', b'"seq":NaN'), "not allowed"),
        (lambda r: r.replace(b'"seq":3', b'"seq":Infinity'), "not allowed"),
        (lambda r: r.replace(b'"seq":3', b'"seq":1e2'), "not allowed"),
        (lambda r: r.replace(b'"seq":3', b'"seq":9007199254740992'), "integer"),
        (lambda r: r.replace(b'{"action"', b'{ "action"'), "canonical"),
        (lambda r: r.replace(b'"v":"mlgov.audit/v1"', b'"v":"mlgov.audit/v1","v":"mlgov.audit/v1"'), "canonical"),
        (lambda r: r.replace(b'"seq":3', b'"seq":03'), "JSON"),
        (lambda r: r.replace("Gr\u00fc".encode(), b"Gr\\u00fc"), "canonical"),
        (lambda r: r.replace("Gr\u00fc".encode(), unicodedata.normalize("NFD", "Gr\u00fc").encode()), "NFC"),
        (lambda r: r.replace("Gr\u00fc".encode(), b"Gr\xff"), "UTF-8"),
        (lambda r: r.replace(b'"r1"', b'"\\ud800"'), "canonical"),
        (lambda r: r + b" ", "canonical"),
        (lambda r: b"[" + r + b"]", "object"),
    ],
)
def test_check_entry_bytes_rejects(raw_fn, match):
    raw = raw_fn(canonical_json(good_record()))
    with pytest.raises(EntryError, match=match):
        check_entry_bytes(raw)


@pytest.mark.parametrize(
    "over,match",
    [
        ({"v": "mlgov.audit/v2"}, "v:"),
        ({"log": ""}, "log"),
        ({"seq": -1}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": "3"}, "seq"),
        ({"prev": base64.b64encode(bytes(31)).decode()}, "prev"),
        ({"prev": "A" * 43 + "="}, None),
        ({"prev": "B" * 43 + "="}, "prev"),
        ({"ts": "2026-01-02T03:04:05Z"}, "ts"),
        ({"ts": "2026-13-02T03:04:05.000000Z"}, "ts"),
        ({"actor": {"type": "robot", "id": "1", "auth": "x"}}, "actor.type"),
        ({"actor": {"type": "user", "id": "", "auth": "x"}}, "actor.id"),
        ({"actor": {"type": "user", "id": "1"}}, "actor.auth"),
        ({"actor": None}, "actor"),
        ({"ctx": {"origin": "http"}}, "ctx.request_id"),
        ({"ctx": {"request_id": "r", "origin": "ftp"}}, "ctx.origin"),
        ({"action": "register"}, "action"),
        ({"action": "Model.register"}, "action"),
        ({"action": "model..register"}, "action"),
        ({"action": "model_version.register.v2"}, None),
        ({"object": {"type": "m"}}, "object.id"),
        ({"object": {"type": "m", "id": 7}}, "object.id"),
        ({"data": []}, "data"),
        ({"reason": 5}, "reason"),
    ],
)
def test_schema(over, match):
    raw = canonical_json(good_record(**over))
    if match is None:
        check_entry_bytes(raw)
    else:
        with pytest.raises(EntryError, match=match):
            check_entry_bytes(raw)


def test_missing_required_fields():
    for key in ("v", "log", "seq", "prev", "ts", "actor", "ctx", "action", "object", "data"):
        rec = good_record()
        del rec[key]
        with pytest.raises(EntryError):
            check_entry_bytes(canonical_json(rec))


def test_big_digit_strings_are_fine():
    rec = good_record(data={"id": "12345678901234567890", "n": 9007199254740991})
    assert check_entry_bytes(canonical_json(rec))["data"]["n"] == 2**53 - 1
    assert json.loads(canonical_json(rec))["data"]["id"] == "12345678901234567890"
