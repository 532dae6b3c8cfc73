"""The out-of-core path (DuckDB) gives the in-memory results to 1e-12 on the same inputs, and names
the data row of bad input."""

from __future__ import annotations

import gzip
import io
import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from governance.common.errors import ValidationFailed
from governance.evaluations import outofcore
from governance.evaluations.drift import compute_drift
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import parse_table

TOL = 1e-12


def assert_same(a, b, path="result"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(a), sorted(b))
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=path)
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float), (path, a, b)
        assert math.isclose(a, b, rel_tol=TOL, abs_tol=TOL), (path, a, b)
    else:
        assert a == b, (path, a, b)


def write(table: pa.Table, tmp_path, fmt: str) -> str:
    if fmt == "parquet":
        path = tmp_path / "input.parquet"
        pq.write_table(table, path, row_group_size=7000)
    elif fmt == "csv":
        path = tmp_path / "input.csv"
        pacsv.write_csv(table, path)
    else:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        path = tmp_path / "input.csv.gz"
        path.write_bytes(gzip.compress(buf.getvalue()))
        return str(path)
    return str(path)


def fairness_table(n: int, seed: int = 1, weights: bool = False, score: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "wést"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    band = rng.integers(0, 5, n)
    y = (rng.random(n) < 0.3 + 0.1 * (band % 2)).astype(np.int64)
    cols = {"label": y, "region": region, "age_band": band}
    if score:
        cols["score"] = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    else:
        cols["pred"] = (rng.random(n) < np.where(y == 1, 0.7, 0.2)).astype(np.int64)
    if weights:
        cols["w"] = rng.gamma(2.0, 1.5, n)
    return pa.table(cols)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "csv.gz"])
@pytest.mark.parametrize("variant", ["pred", "score", "weighted"])
def test_fairness_out_of_core_equals_in_memory(tmp_path, fmt, variant):
    table = fairness_table(40_000, weights=variant == "weighted", score=variant == "score")
    path = write(table, tmp_path, fmt)
    columns = {"y_true": "label", "sensitive_features": ["region", "age_band"]}
    columns["y_score" if variant == "score" else "y_pred"] = "score" if variant == "score" else "pred"
    if variant == "weighted":
        columns["sample_weight"] = "w"
    params = {"threshold": 0.55} if variant == "score" else {}
    memory = compute_fairness(
        parse_table("fairness", path, file_format=fmt.split(".")[0], columns=columns, params=params), min_group_size=30
    )
    out, rows = outofcore.compute(
        "fairness", path, file_format=fmt.split(".")[0], columns=columns, params=params, min_group_size=30
    )
    assert rows == 40_000
    memory.pop("library_versions"), out.pop("library_versions")
    assert_same(memory, out)


def drift_tables(n_ref: int, n_cur: int, seed: int = 2) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)

    def side(n, shift):
        return pa.table(
            {
                "income": rng.lognormal(10 + shift, 0.5, n),
                "score": np.round(rng.normal(600 + 40 * shift, 50, n)),  # ties
                "tenure": rng.integers(0, 30, n),  # integers, numeric
                "segment": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1] if shift else [0.25] * 4),
                "branch": rng.integers(0, 12, n),  # declared categorical
                "flag": rng.random(n) < 0.3 + shift / 5,
            }
        )

    return side(n_ref, 0), side(n_cur, 1)


@pytest.mark.parametrize("fmt,batch", [("parquet", None), ("csv", None), ("parquet", 997)])
def test_drift_out_of_core_equals_in_memory(tmp_path, monkeypatch, fmt, batch):
    if batch:  # distinct values streamed in many batches: the merge carries state across them
        monkeypatch.setattr(outofcore, "BATCH_ROWS", batch)
    ref_t, cur_t = drift_tables(12_000, 30_000)
    ref_path = tmp_path / "ref.parquet"
    pq.write_table(ref_t, ref_path)
    path = write(cur_t, tmp_path, fmt)
    columns = {"features": ["income", "score", "tenure", "segment", "branch", "flag"], "categorical": ["branch"]}
    ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    memory = compute_drift(parse_table("drift", path, file_format=fmt, columns=columns, reference=ref), params={})
    out, rows = outofcore.compute("drift", path, file_format=fmt, columns=columns, params={}, reference=ref)
    assert rows == 30_000
    memory.pop("library_versions"), out.pop("library_versions")
    assert_same(memory, out)
    assert {f["feature"]: f["drifted"] for f in out["features"]}["income"] is True


def test_small_current_sample_uses_the_exact_ks_pvalue_too(tmp_path):
    ref_t, cur_t = drift_tables(3000, 2000)
    ref_path = tmp_path / "ref.parquet"
    pq.write_table(ref_t, ref_path)
    path = write(cur_t, tmp_path, "parquet")
    columns = {"features": ["income", "score"]}
    ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    memory = compute_drift(parse_table("drift", path, file_format="parquet", columns=columns, reference=ref))
    out, _rows = outofcore.compute("drift", path, file_format="parquet", columns=columns, params={}, reference=ref)
    memory.pop("library_versions"), out.pop("library_versions")
    assert_same(memory, out)


def _refused(path, fmt, columns, **kw) -> str:
    with pytest.raises(ValidationFailed) as exc:
        outofcore.compute("fairness", path, file_format=fmt, columns=columns, params={}, **kw)
    return exc.value.message


COLS = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["region"]}


@pytest.mark.parametrize("watched", [False, True], ids=["", "watched"])
@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "csv.gz"])
def test_a_malformed_csv_row_is_named_by_its_row_number(tmp_path, compressed, watched):
    """Also when a gzip CSV is fed to DuckDB through a pipe (whose feeding thread must stop when the
    load fails) and when the load is watched for its progress."""
    lines = ["label,pred,region"] + ["1,0,north", "0,1,south"] * 30_000
    lines[45_001] = "1,0"  # data row 45,001
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("bad.csv.gz" if compressed else "bad.csv")
    path.write_bytes(gzip.compress(text) if compressed else text)
    with pytest.raises(ValidationFailed) as exc:
        outofcore.compute(
            "fairness",
            str(path),
            file_format="csv",
            columns=COLS,
            params={},
            progress=(lambda *report: None) if watched else None,
        )
    message = exc.value.message
    assert message.startswith("file: row 45001 is malformed: expected 3 fields, found 2"), message


def test_a_gzip_csv_reports_its_load_by_the_decompressed_bytes_handed_to_duckdb(tmp_path, monkeypatch):
    """DuckDB's own figure for a gzip file counts compressed bytes read far ahead of the parse; the
    feeding thread's count of decompressed bytes moves with the load. Same result as the plain file."""
    monkeypatch.setattr(outofcore, "CSV_PROGRESS_POLL_SECONDS", 0.005)
    block = "".join(f"{i % 2},{(i // 3) % 2},{'nse'[i % 3]},row {i:06d} of a monthly base\n" for i in range(10_000))
    text = ("label,pred,region,note\n" + block * 120).encode()  # 1.2M rows, 55 MB
    plain, packed = tmp_path / "scores.csv", tmp_path / "scores.csv.gz"
    plain.write_bytes(text)
    packed.write_bytes(gzip.compress(text, compresslevel=1))
    seen: list[tuple] = []
    out, rows = outofcore.compute(
        "fairness",
        str(packed),
        file_format="csv",
        columns=COLS,
        params={},
        threads=1,
        progress=lambda *report: seen.append(report),
    )
    assert rows == 1_200_000
    loading = [fraction for stage, fraction, _ in seen if stage == "loading the CSV"]
    assert len(set(loading)) >= 4, loading
    steps = [b - a for a, b in zip(loading, loading[1:], strict=False)]
    assert max(steps) < 0.25, loading  # DuckDB's compressed-byte figure would leap from 5% to ~50% at once
    fractions = [fraction for _, fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    assert [r for stage, _, r in seen if stage in ("opened", "validated", "counted")] == [rows] * 3
    expected, _ = outofcore.compute("fairness", str(plain), file_format="csv", columns=COLS, params={}, threads=1)
    assert_same(expected, out)


@pytest.mark.parametrize(
    "column,value,expected",
    [
        ("label", 2, "labels must be binary 0/1 (found values other than 0 and 1; the first at row 33334)"),
        ("pred", None, "column 'pred' has 1 missing values (the first at row 33334)"),
    ],
)
def test_a_bad_value_is_named_by_its_row_number(tmp_path, column, value, expected):
    table = fairness_table(50_000)
    values = table.column(column).to_pylist()
    values[33_333] = value
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.int64()))
    path = write(table, tmp_path, "parquet")
    assert expected in _refused(path, "parquet", COLS)


def test_other_csv_compressions_are_refused(tmp_path):
    import bz2

    path = tmp_path / "x.csv"
    path.write_bytes(bz2.compress(b"label,pred,region\n1,0,a\n"))
    assert "bzip2-compressed CSV is not accepted" in _refused(str(path), "csv", COLS)


def test_csv_decompressed_size_is_capped(tmp_path):
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(b"label,pred,region\n" + b"1,0,north\n" * 200_000))
    with pytest.raises(Exception) as exc:
        outofcore.compute("fairness", str(path), file_format="csv", columns=COLS, params={}, max_bytes=100_000)
    assert "decompresses to more than 100000 bytes" in str(exc.value) or "100000" in str(exc.value)


def _same_distribution_tables(n_ref: int, n_cur: int) -> tuple[pa.Table, pa.Table]:
    """No drift: the two eCDFs cross at many places (the gaps whose values the second scan reads)."""
    rng = np.random.default_rng(7)

    def side(n):
        return pa.table(
            {
                "a": rng.normal(0, 1, n),
                "b": np.round(rng.normal(600, 50, n)),  # many ties with the reference
                "c": rng.lognormal(3, 1, n) * 1e6,  # large magnitudes
            }
        )

    return side(n_ref), side(n_cur)


@pytest.mark.parametrize("budget", [None, 50])
def test_drift_with_many_ecdf_crossings_equals_in_memory(tmp_path, monkeypatch, budget):
    if budget:  # the crossing gaps' values read in several second scans
        monkeypatch.setattr(outofcore, "CROSSING_VALUES_MAX", budget)
    monkeypatch.setattr(outofcore, "BATCH_ROWS", 20_011)
    ref_t, cur_t = _same_distribution_tables(15_000, 90_000)
    ref_path = tmp_path / "ref.parquet"
    pq.write_table(ref_t, ref_path)
    path = write(cur_t, tmp_path, "parquet")
    columns = {"features": ["a", "b", "c"]}
    ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    memory = compute_drift(parse_table("drift", path, file_format="parquet", columns=columns, reference=ref))
    out, rows = outofcore.compute("drift", path, file_format="parquet", columns=columns, params={}, reference=ref)
    memory.pop("library_versions"), out.pop("library_versions")
    assert_same(memory, out)
    # the case the second scan exists for did occur
    with outofcore_table(path) as t:
        plan = outofcore.drift_plan(t, columns, {}, ref)
        part = outofcore.drift_scan(t, plan, total_rows=t.rows)
        crossings = {f.name: len(part.numeric[f.name].crossing_gaps(f.num)) for f in plan}
    assert min(crossings.values()) >= 1 and sum(crossings.values()) > 50, crossings


def outofcore_table(path: str):
    import contextlib
    import tempfile

    @contextlib.contextmanager
    def opened():
        with tempfile.TemporaryDirectory() as workdir:
            t = outofcore.open_table(path, "parquet", workdir=workdir)
            try:
                yield t
            finally:
                t.con.close()

    return opened()


def test_drift_statistics_of_row_ranges_merge_to_the_whole(tmp_path):
    """What the fan-out relies on: the statistics of disjoint row ranges add up to the whole table's."""
    ref_t, cur_t = drift_tables(12_000, 40_000)
    ref_path = tmp_path / "ref.parquet"
    pq.write_table(ref_t, ref_path)
    path = write(cur_t, tmp_path, "parquet")
    columns = {"features": ["income", "score", "tenure", "segment", "branch", "flag"], "categorical": ["branch"]}
    ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    whole, _rows = outofcore.compute("drift", path, file_format="parquet", columns=columns, params={}, reference=ref)
    with outofcore_table(path) as t:
        plan = outofcore.drift_plan(t, columns, {}, ref)
        merged = outofcore.DriftPartial()
        for start, stop in ((0, 13_001), (13_001, 29_999), (29_999, 40_000)):
            merged.merge(outofcore.drift_scan(t, plan, total_rows=t.rows, start=start, stop=stop))
        assert merged.rows == 40_000
        crossing: dict = {}
        for group in outofcore.crossing_groups(plan, merged):
            for start, stop in ((0, 20_000), (20_000, 40_000)):
                for name, parts in outofcore.crossing_scan(t, plan, group, start=start, stop=stop).items():
                    found = outofcore.group_crossing_values(group[name], parts)
                    for gap, vals in found.items():
                        crossing.setdefault(name, {})[gap] = np.sort(
                            np.concatenate([crossing.get(name, {}).get(gap, np.zeros(0)), vals])
                        )
        out = outofcore.drift_finish(plan, merged, crossing, {})
    whole.pop("library_versions"), out.pop("library_versions")
    assert_same(whole, out)


@pytest.mark.parametrize(
    "value,expected",
    [(None, "has missing values (the first at row 31416)"), (math.nan, "NaN or infinite value at row 31416")],
)
def test_a_bad_drift_value_deep_in_the_file_is_named_by_its_row(tmp_path, monkeypatch, value, expected):
    monkeypatch.setattr(outofcore, "BATCH_ROWS", 10_000)
    ref_t, cur_t = drift_tables(12_000, 40_000)
    ref_path = tmp_path / "ref.parquet"
    pq.write_table(ref_t, ref_path)
    income = cur_t.column("income").to_pylist()
    income[31_415] = value
    cur_t = cur_t.set_column(0, "income", pa.array(income, pa.float64()))
    path = write(cur_t, tmp_path, "parquet")
    columns = {"features": ["income", "segment"]}
    ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    with pytest.raises(ValidationFailed) as exc:
        outofcore.compute("drift", path, file_format="parquet", columns=columns, params={}, reference=ref)
    assert exc.value.field == "columns.features['income']"
    assert expected in exc.value.message, exc.value.message


def performance_table(n: int, *, rounded: bool, seed: int = 5, one_class: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.int64) if one_class else (rng.random(n) < 0.3).astype(np.int64)
    s = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    if rounded:  # many ties: fewer distinct scores than KS cells
        s = np.round(s, 3)
    s[:3] = [0.0, 1.0, -0.0]
    return pa.table({"label": y, "p": s})


@pytest.mark.parametrize(
    "fmt,rounded,one_class",
    [("parquet", False, False), ("parquet", True, False), ("csv", True, False), ("parquet", False, True)],
)
def test_performance_out_of_core_equals_in_memory(tmp_path, monkeypatch, fmt, rounded, one_class):
    """AUC (DeLong), KS, Brier, log loss, calibration and the seeded intervals: the same summary."""
    from governance.evaluations.performance import compute_performance

    monkeypatch.setattr(outofcore, "BATCH_ROWS", 7_001)  # the score groups streamed in many batches
    path = write(performance_table(60_000, rounded=rounded, one_class=one_class), tmp_path, fmt)
    columns = {"y_true": "label", "y_score": "p"}
    params = {"threshold": 0.4, "n_boot": 300, "seed": 11}
    memory = compute_performance(
        parse_table("performance", path, file_format=fmt, columns=columns, params=params), params=params
    )
    out, rows = outofcore.compute("performance", path, file_format=fmt, columns=columns, params=params)
    assert rows == 60_000
    memory.pop("library_versions"), out.pop("library_versions")
    assert_same(memory, out)
    assert out["roc_curve"] == memory["roc_curve"]  # the same stored ROC points, streamed in batches
    if not one_class:
        assert out["roc_curve"]["exact"] is False and out["roc_curve"]["n_points"] <= 201
        assert out["confidence_intervals"]["ks_statistic"]["exact_cells"] is rounded
        assert out["auc"] > 0.6


def test_performance_bad_score_is_named_by_its_row(tmp_path):
    table = performance_table(30_000, rounded=False)
    p = table.column("p").to_pylist()
    p[21_000] = 1.5
    table = table.set_column(1, "p", pa.array(p, pa.float64()))
    path = write(table, tmp_path, "parquet")
    with pytest.raises(ValidationFailed) as exc:
        outofcore.compute(
            "performance", path, file_format="parquet", columns={"y_true": "label", "y_score": "p"}, params={}
        )
    assert exc.value.field == "columns.y_score"
    assert "the first outside at row 21001" in exc.value.message


@pytest.mark.parametrize("kind", ["fairness", "drift"])
def test_row_range_partials_encoded_and_merged_equal_the_whole_file(tmp_path, kind):
    """The fan-out's arithmetic: partials of row ranges, through their .npz encoding, merge to the result
    of one pass over the file (to 1e-12)."""
    if kind == "fairness":
        path = write(fairness_table(45_000, weights=True), tmp_path, "parquet")
        columns = {
            "y_true": "label",
            "y_pred": "pred",
            "sensitive_features": ["region", "age_band"],
            "sample_weight": "w",
        }
        ref = None
    else:
        ref_t, cur_t = drift_tables(12_000, 45_000)
        ref_path = tmp_path / "ref.parquet"
        pq.write_table(ref_t, ref_path)
        path = write(cur_t, tmp_path, "parquet")
        columns = {"features": ["income", "score", "tenure", "segment", "branch", "flag"], "categorical": ["branch"]}
        ref = parse_table("drift", str(ref_path), file_format="parquet", columns=columns, role="reference")
    whole, rows = outofcore.compute(kind, path, file_format="parquet", columns=columns, params={}, reference=ref)
    parts = [
        outofcore.load_partial(
            outofcore.dump_partial(
                outofcore.partial(kind, path, row_range=r, total_rows=45_000, columns=columns, params={}, reference=ref)
            )
        )
        for r in ((0, 15_000), (15_000, 30_001), (30_001, 45_000))
    ]
    merged, merged_rows = outofcore.finish(kind, path, parts, columns=columns, params={}, reference=ref)
    assert merged_rows == rows == 45_000
    whole.pop("library_versions"), merged.pop("library_versions")
    assert_same(whole, merged)


def test_a_bad_row_in_a_later_row_range_is_named_by_its_file_row(tmp_path):
    table = fairness_table(30_000)
    values = table.column("label").to_pylist()
    values[25_555] = 7
    table = table.set_column(0, "label", pa.array(values, pa.int64()))
    path = write(table, tmp_path, "parquet")
    with pytest.raises(ValidationFailed) as exc:
        outofcore.partial("fairness", path, row_range=(20_000, 30_000), total_rows=30_000, columns=COLS, params={})
    assert "the first at row 25556" in exc.value.message, exc.value.message


def test_a_gzip_load_that_fails_before_reading_leaves_no_feeding_thread(tmp_path):
    """The engine may fail before it opens the pipe (here: the table exists): the thread decompressing
    into it must not wait for a reader forever."""
    import threading

    import duckdb

    path = tmp_path / "scores.csv.gz"
    text = b"label,pred,region\n" + b"1,0,north\n" * 1000
    path.write_bytes(gzip.compress(text))
    con = duckdb.connect()
    con.execute("CREATE TABLE src (x INTEGER)")
    with pytest.raises(duckdb.CatalogException):
        outofcore._load_csv(con, str(path), "gzip", len(text), str(tmp_path), None)
    assert not [t for t in threading.enumerate() if t.name == "mlgov-csv-gunzip"]
