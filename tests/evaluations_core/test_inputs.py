"""Validation errors (field + reason) and the canonical input digest."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from governance.common.errors import ValidationFailed
from governance.evaluations.drift import compute_drift
from governance.evaluations.inputs import input_sha256, parse_inline, parse_table
from tests.properties import examples

FAIR = {"y_true": [0, 1, 1, 0], "y_pred": [1, 0, 1, 0], "sensitive_features": {"race": ["a", "b", "a", "b"]}}


def fair(**over):
    d = {**FAIR, **over}
    return {k: v for k, v in d.items() if v is not ...}


def raises(field, fn, *args, **kw):
    with pytest.raises(ValidationFailed) as ei:
        fn(*args, **kw)
    assert ei.value.field == field, (ei.value.field, ei.value.message)
    assert ei.value.message.startswith(field)
    return ei.value.message


@pytest.mark.parametrize(
    "data,field,reason",
    [
        (fair(y_true=[0, 1, 1]), "data.y_pred", "length"),
        (fair(y_pred=[1, 0, 1, 0, 1]), "data.y_pred", "length"),
        (fair(sensitive_features={"race": ["a", "b"]}), "data.sensitive_features.race", "length"),
        (fair(sample_weight=[1.0, 2.0]), "data.sample_weight", "length"),
        (fair(y_true=[0, 1, 2, 0]), "data.y_true", "binary"),
        (fair(y_pred=[0.0, 0.5, 1.0, 0.0]), "data.y_pred", "binary"),
        (fair(y_true=["0", "1", "1", "0"]), "data.y_true", "strings"),
        (fair(y_true=[]), "data.y_true", "empty"),
        (fair(y_true=[0, None, 1, 0]), "data.y_true", "null"),
        (fair(y_true="0101"), "data.y_true", "must be a list"),
        (fair(y_pred=..., y_score=[0.1, 0.2, float("nan"), 0.3]), "data.y_score", "NaN"),
        (fair(y_pred=..., y_score=[0.1, 0.2, float("inf"), 0.3]), "data.y_score", "infinite"),
        (fair(y_pred=..., y_score=[0.1, 1.2, 0.3, 0.3]), "data.y_score", "[0, 1]"),
        (fair(y_score=[0.1, 0.2, 0.3, 0.3]), "data.y_score", "either"),
        (fair(y_pred=...), "data.y_pred", "required"),
        (fair(sensitive_features=...), "data.sensitive_features", "required"),
        (fair(sensitive_features=["a"]), "data.sensitive_features", "object"),
        (fair(sensitive_features={"age": [20.5, 30.1, 40.0, 50.0]}), "data.sensitive_features.age", "bin"),
        (fair(sensitive_features={"race": ["a", 1, "a", "b"]}), "data.sensitive_features.race", "mixes"),
        (fair(sample_weight=[1, -1, 1, 1]), "data.sample_weight", "non-negative"),
        (fair(extra=[1]), "data.extra", "unknown"),
    ],
)
def test_fairness_bad_inline(data, field, reason):
    assert reason in raises(field, parse_inline, "fairness", data, params={})


def test_bad_threshold_and_data_type():
    raises("params.threshold", parse_inline, "fairness", fair(y_pred=..., y_score=[0.1] * 4), params={"threshold": 2})
    raises("data", parse_inline, "fairness", [1, 2], params={})
    raises("kind", parse_inline, "nope", {}, params={})


def test_labels_accept_bools_and_floats():
    p = parse_inline("fairness", fair(y_true=[False, True, True, False], y_pred=[1.0, 0.0, 1.0, 0.0]), params={})
    assert p.arrays["y_true"].tolist() == [0, 1, 1, 0] and p.arrays["y_pred"].dtype == np.int64


DRIFT = {
    "reference": {"age": [30, 40, 50], "city": ["x", "y", "x"]},
    "current": {"age": [31, 41, 51], "city": ["x", "x", "y"]},
}


@pytest.mark.parametrize(
    "data,params,field,reason",
    [
        (
            {"reference": DRIFT["reference"], "current": {**DRIFT["current"], "zip": [1, 2, 3]}},
            {},
            "data.current.zip",
            "not in the reference",
        ),
        ({"reference": DRIFT["reference"], "current": {"age": [1, 2, 3]}}, {}, "data.current.city", "missing"),
        (
            {"reference": DRIFT["reference"], "current": {"age": [1, 2, 3], "city": [1, 2, 3]}},
            {},
            "data.current.city",
            "categorical column posted as numeric",
        ),
        (
            {"reference": DRIFT["reference"], "current": {"age": [1.5, 2, 3], "city": ["x", "y", "z"]}},
            {"categorical": ["age"]},
            "data.current.age",
            "non-integer",
        ),
        ({"reference": {"age": [1, 2, float("nan")]}, "current": DRIFT["current"]}, {}, "data.reference.age", "NaN"),
        (
            {"reference": {"age": [1, 2], "city": ["x", "y", "z"]}, "current": DRIFT["current"]},
            {},
            "data.reference.city",
            "length",
        ),
        ({"reference": {"age": []}, "current": {"age": []}}, {}, "data.reference.age", "empty"),
        ({"reference": "x", "current": DRIFT["current"]}, {}, "data.reference", "object"),
        (DRIFT, {"categorical": ["nope"]}, "params.categorical", "not in the data"),
    ],
)
def test_drift_bad_inline(data, params, field, reason):
    assert reason in raises(field, parse_inline, "drift", data, params=params)


def test_drift_missing_reference_raises_at_compute():
    p = parse_inline("drift", {"current": DRIFT["current"]}, params={})
    raises("data.reference", compute_drift, p, params={})


def test_performance_bad_inline():
    raises("data.y_score", parse_inline, "performance", {"y_true": [0, 1], "y_score": [0.2, -0.1]}, params={})
    raises("data.y_score", parse_inline, "performance", {"y_true": [0, 1]}, params={})
    raises("data.y_score", parse_inline, "performance", {"y_true": [0, 1], "y_score": [0.2]}, params={})


def _csv(rows):
    return ("\n".join(",".join(map(str, r)) for r in rows) + "\n").encode()


def _parquet(table_dict):
    buf = io.BytesIO()
    pq.write_table(pa.table(table_dict), buf)
    return buf.getvalue()


def test_digest_identical_inline_csv_parquet_fairness():
    inline = parse_inline(
        "fairness",
        {
            "y_true": [0, 1, 1, 0],
            "y_pred": [True, False, True, False],
            "sensitive_features": {"race": ["a", "b", "a", "b"], "sex": [1, 2, 1, 1]},
            "sample_weight": [1, 2.5, 1, 1],
        },
        params={},
    )
    csv = _csv(
        [["yt", "yp", "race", "sex", "w"], [0, 1, "a", 1, 1], [1, 0, "b", 2, 2.5], [1, 1, "a", 1, 1], [0, 0, "b", 1, 1]]
    )
    cols = {"y_true": "yt", "y_pred": "yp", "sensitive_features": ["race", "sex"], "sample_weight": "w"}
    t1 = parse_table("fairness", csv, file_format="csv", columns=cols)
    pqb = _parquet(
        {
            "yt": [0.0, 1.0, 1.0, 0.0],
            "yp": [True, False, True, False],
            "race": ["a", "b", "a", "b"],
            "sex": [1, 2, 1, 1],
            "w": [1.0, 2.5, 1.0, 1.0],
        }
    )
    t2 = parse_table("fairness", pqb, file_format="parquet", columns=cols)
    assert input_sha256(inline) == input_sha256(t1) == input_sha256(t2)
    assert len(input_sha256(inline)) == 64


def test_digest_recomputable_from_documented_encoding():
    import hashlib
    import struct

    p = parse_inline("performance", {"y_true": [0, 1], "y_score": [0.25, 0.75]}, params={})
    h = hashlib.sha256(b"mlgov.evaluations.input.v1\x00performance\x00")
    h.update(b"y_score\x00f8\x00" + struct.pack("<Q", 2) + struct.pack("<2d", 0.25, 0.75))
    h.update(b"y_true\x00i8\x00" + struct.pack("<Q", 2) + struct.pack("<2q", 0, 1))
    assert input_sha256(p) == h.hexdigest()
    d = parse_inline("drift", {"reference": {"c": ["é", "b"]}, "current": {"c": ["b"]}}, params={})
    h = hashlib.sha256(b"mlgov.evaluations.input.v1\x00drift\x00")
    h.update(b"current.c\x00str\x00" + struct.pack("<Q", 1) + b"b\x00")
    h.update(b"reference.c\x00str\x00" + struct.pack("<Q", 2) + "é\x00b\x00".encode())
    assert input_sha256(d) == h.hexdigest()


def test_drift_tables_and_registered_reference():
    ref_csv = _csv([["age", "city", "n"], [30, "x", 1], [40, "y", 2], [50, "x", 3]])
    cur_csv = _csv([["age", "city", "n"], [31, "x", 1], [41, "x", 3], [51, "y", 3]])
    cols = {"features": ["age", "city", "n"], "categorical": ["n"]}
    ref = parse_table("drift", ref_csv, file_format="csv", columns=cols, role="reference")
    both = parse_table("drift", cur_csv, file_format="csv", columns=cols, reference=ref)
    inline = parse_inline(
        "drift",
        {
            "reference": {"age": [30, 40, 50], "city": ["x", "y", "x"], "n": [1, 2, 3]},
            "current": {"age": [31, 41, 51], "city": ["x", "x", "y"], "n": [1, 3, 3]},
        },
        params={"categorical": ["n"]},
    )
    assert input_sha256(both) == input_sha256(inline)
    assert both.feature_types == {"age": "numeric", "city": "categorical", "n": "categorical"}
    mixed = parse_inline(
        "drift", {"current": {"age": [31, 41, 51], "city": ["x", "x", "y"], "n": [1, 3, 3]}}, params={}, reference=ref
    )
    assert input_sha256(mixed) == input_sha256(inline)
    res = compute_drift(both, params={})
    assert [r["feature"] for r in res["features"]] == ["age", "city", "n"]


@pytest.mark.parametrize(
    "content,fmt,columns,field,reason",
    [
        (b"a,b\n1,2\n3\n", "csv", {"y_true": "a", "y_score": "b"}, "file", "could not read"),
        (b"not parquet", "parquet", {"y_true": "a", "y_score": "b"}, "file", "could not read"),
        (b"a,b\n", "csv", {"y_true": "a", "y_score": "b"}, "file", "no rows"),
        (b"a,b\n1,0.5\n0,0.2\n", "csv", {"y_true": "a", "y_score": "zz"}, "columns.y_score", "not found"),
        (b"a,b\n1,0.5\n0,\n", "csv", {"y_true": "a", "y_score": "b"}, "columns.y_score", "missing"),
        (b"a,b\n1,0.5\n2,0.2\n", "csv", {"y_true": "a", "y_score": "b"}, "columns.y_true", "binary"),
        (b"a,b\n1,0.5\n0,0.2\n", "csv", {"y_true": "a"}, "columns.y_score", "required"),
        (b"a,b\n1,0.5\n0,0.2\n", "csv", {"y_true": 3, "y_score": "b"}, "columns.y_true", "column name"),
        (b"a,b\n1,0.5\n0,0.2\n", "xls", {"y_true": "a", "y_score": "b"}, "file_format", "csv"),
    ],
)
def test_table_errors(content, fmt, columns, field, reason):
    assert reason in raises(field, parse_table, "performance", content, file_format=fmt, columns=columns)


def test_table_fairness_and_drift_errors():
    csv = _csv([["yt", "yp", "race"], [0, 1, "a"], [1, 0, "b"]])
    raises(
        "columns.y_pred",
        parse_table,
        "fairness",
        csv,
        file_format="csv",
        columns={"y_true": "yt", "y_pred": "nope", "sensitive_features": ["race"]},
    )
    raises(
        "columns.sensitive_features",
        parse_table,
        "fairness",
        csv,
        file_format="csv",
        columns={"y_true": "yt", "y_pred": "yp", "sensitive_features": ["zz"]},
    )
    raises(
        "columns.sensitive_features",
        parse_table,
        "fairness",
        csv,
        file_format="csv",
        columns={"y_true": "yt", "y_pred": "yp"},
    )
    raises("columns.features", parse_table, "drift", csv, file_format="csv", columns={"features": ["nope"]})
    ref = parse_table(
        "drift", _csv([["x"], [1], [2]]), file_format="csv", columns={"features": ["x"]}, role="reference"
    )
    msg = raises(
        "columns.features",
        parse_table,
        "drift",
        _csv([["x"], ["a"], ["b"]]),
        file_format="csv",
        columns={"features": ["x"]},
        reference=ref,
    )
    assert "posted as" in msg


@settings(max_examples=examples(25), deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_digest_same_for_lists_arrays_csv_parquet(seed, n):
    rng = np.random.default_rng(seed)
    yt = rng.integers(0, 2, n)
    ys = rng.random(n)
    race = rng.choice(["a", "b", "ç"], n)
    w = rng.random(n) * 5
    data = {"y_true": yt, "y_score": ys, "sensitive_features": {"race": race}, "sample_weight": w}
    as_arrays = parse_inline("fairness", data, params={"threshold": 0.3})
    as_lists = parse_inline(
        "fairness",
        {
            "y_true": yt.tolist(),
            "y_score": ys.tolist(),
            "sensitive_features": {"race": race.tolist()},
            "sample_weight": w.tolist(),
        },
        params={"threshold": 0.3},
    )
    rows = [["t", "s", "race", "w"]] + [
        [int(a), repr(float(b)), c, repr(float(d))] for a, b, c, d in zip(yt, ys, race, w, strict=True)
    ]
    cols = {"y_true": "t", "y_score": "s", "sensitive_features": ["race"], "sample_weight": "w"}
    csv = parse_table("fairness", _csv(rows), file_format="csv", columns=cols, params={"threshold": 0.3})
    par = parse_table(
        "fairness",
        _parquet({"t": yt, "s": ys, "race": race.tolist(), "w": w}),
        file_format="parquet",
        columns=cols,
        params={"threshold": 0.3},
    )
    digests = {input_sha256(p) for p in (as_arrays, as_lists, csv, par)}
    assert len(digests) == 1
    assert (csv.y_pred == (ys >= 0.3)).all()
