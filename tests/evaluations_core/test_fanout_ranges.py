"""The fan-out's arithmetic without workers (issue 15.3): a CSV split by byte ranges at record starts,
and performance split by row ranges, give the single-worker result to 1e-12 (seeded intervals
included) and name a bad row by its file-wide row number; a CSV that cannot be split says why."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from governance.common.errors import ValidationFailed
from governance.evaluations import outofcore
from governance.evaluations.inputs import parse_table
from governance.evaluations.performance import compute_performance
from tests.evaluations_core.test_outofcore import (
    assert_same,
    drift_tables,
    fairness_table,
    performance_table,
    write,
)

FAIR_COLUMNS = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["region", "age_band"], "sample_weight": "w"}
DRIFT_COLUMNS = {"features": ["income", "score", "tenure", "segment", "branch", "flag"], "categorical": ["branch"]}
PERF_COLUMNS = {"y_true": "label", "y_score": "p"}
PERF_PARAMS = {"threshold": 0.4, "n_boot": 300, "seed": 11}


def fanned_out(kind, path, tmp_path, *, parts, columns, params, reference=None, fmt="csv", total_rows=None):
    """What the chunks and the merge compute, in one process: (result, rows, number of ranges)."""
    if fmt == "csv":
        split = outofcore.csv_split(path, parts)
        assert not split.reason, split.reason
        ranges = [((r["row"], r["row"] + r["rows"]), {**split.as_dict(), "range": r}) for r in split.ranges]
        total, csv = split.rows, split.as_dict()
    else:
        step = -(-total_rows // parts)
        ranges = [((a, min(a + step, total_rows)), None) for a in range(0, total_rows, step)]
        total, csv = total_rows, None
    partials = []
    for i, (row_range, range_csv) in enumerate(ranges):
        out_dir = tmp_path / f"part-{i}"
        out_dir.mkdir()
        p = outofcore.partial(
            kind,
            path,
            row_range=row_range,
            total_rows=total,
            columns=columns,
            params=params,
            reference=reference,
            csv=range_csv,
            out_dir=str(out_dir),
        )
        partials.append(p if kind == "performance" else outofcore.load_partial(outofcore.dump_partial(p)))
    out, rows = outofcore.finish(kind, path, partials, columns=columns, params=params, reference=reference, csv=csv)
    return out, rows, len(ranges)


def single(kind, path, fmt, columns, params, reference=None):
    out, rows = outofcore.compute(kind, path, file_format=fmt, columns=columns, params=params, reference=reference)
    return out, rows


def same(a, b):
    a, b = dict(a), dict(b)
    a.pop("library_versions"), b.pop("library_versions")
    assert_same(a, b)


def test_csv_fairness_split_in_byte_ranges_equals_the_single_worker(tmp_path):
    path = write(fairness_table(30_000, weights=True), tmp_path, "csv")
    whole, rows = single("fairness", path, "csv", FAIR_COLUMNS, {})
    out, merged_rows, n = fanned_out("fairness", path, tmp_path, parts=3, columns=FAIR_COLUMNS, params={})
    assert (rows, merged_rows, n) == (30_000, 30_000, 3)
    same(whole, out)


def test_csv_drift_split_in_byte_ranges_equals_the_single_worker(tmp_path):
    ref_t, cur_t = drift_tables(12_000, 30_000)
    pq.write_table(ref_t, tmp_path / "ref.parquet")
    ref = parse_table(
        "drift", str(tmp_path / "ref.parquet"), file_format="parquet", columns=DRIFT_COLUMNS, role="reference"
    )
    path = write(cur_t, tmp_path, "csv")
    whole, _rows = single("drift", path, "csv", DRIFT_COLUMNS, {}, ref)
    out, rows, n = fanned_out("drift", path, tmp_path, parts=4, columns=DRIFT_COLUMNS, params={}, reference=ref)
    assert (rows, n) == (30_000, 4)
    same(whole, out)


@pytest.mark.parametrize("fmt,rounded", [("parquet", False), ("parquet", True), ("csv", False)])
def test_performance_split_in_row_ranges_equals_single_worker_and_in_memory(tmp_path, monkeypatch, fmt, rounded):
    """AUC and its DeLong interval, KS and its cells, Brier, log loss, calibration, the ROC points and
    the seeded bootstrap intervals: the merged score groups are the single worker's."""
    monkeypatch.setattr(outofcore, "BATCH_ROWS", 7_001)
    path = write(performance_table(40_000, rounded=rounded), tmp_path, fmt)
    memory = compute_performance(
        parse_table("performance", path, file_format=fmt, columns=PERF_COLUMNS, params=PERF_PARAMS), params=PERF_PARAMS
    )
    whole, _rows = single("performance", path, fmt, PERF_COLUMNS, PERF_PARAMS)
    out, rows, n = fanned_out(
        "performance", path, tmp_path, parts=3, columns=PERF_COLUMNS, params=PERF_PARAMS, fmt=fmt, total_rows=40_000
    )
    assert (rows, n) == (40_000, 3)
    same(whole, out)
    same(memory, out)
    assert out["confidence_intervals"]["ks_statistic"]["exact_cells"] is rounded


def awkward_csv(n: int, *, crlf: bool, replace: dict[int, str] | None = None) -> bytes:
    """A fairness CSV whose region values hold quoted newlines, commas and doubled quotes, with blank
    lines here and there (``replace``: data line index -> another line)."""
    rng = np.random.default_rng(3)
    regions = ['"north\nside"', '"south, ""far"""', "east", '"x"""', '"we\r\nst"']
    nl = "\r\n" if crlf else "\n"
    lines = []
    for i in range(n):
        lines.append(f"{int(rng.random() < 0.4)},{int(rng.random() < 0.5)},{regions[i % 5]},{i % 3}")
    lines = [(replace or {}).get(i, line) for i, line in enumerate(lines)]
    body = []
    for i, line in enumerate(lines):
        body.append(line)
        if i % 997 == 5:
            body.append("")  # a blank line: skipped by the reader, not a row
    return ("label,pred,region,band" + nl + nl.join(body) + nl).encode()


@pytest.mark.parametrize("crlf", [False, True])
def test_quoted_newlines_blank_lines_and_crlf_split_exactly(tmp_path, crlf):
    content = awkward_csv(20_000, crlf=crlf)
    path = tmp_path / "awkward.csv"
    path.write_bytes(content)
    columns = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["region", "band"]}
    whole, rows = single("fairness", str(path), "csv", columns, {})
    assert rows == 20_000
    assert {g["group"].get("region") for g in whole["by_group"]} >= {"north\nside", 'south, "far"', 'x"', "we\r\nst"}
    split = outofcore.csv_split(str(path), 5)
    assert not split.reason and split.rows == 20_000 and len(split.ranges) == 5
    assert [r["row"] for r in split.ranges] == sorted(r["row"] for r in split.ranges)
    assert sum(r["rows"] for r in split.ranges) == 20_000
    out, merged_rows, _n = fanned_out("fairness", str(path), tmp_path, parts=5, columns=columns, params={})
    assert merged_rows == 20_000
    same(whole, out)


def _refusal(fn) -> str:
    with pytest.raises(ValidationFailed) as exc:
        fn()
    return exc.value.message


@pytest.mark.parametrize("bad", ["malformed", "label", "missing"])
def test_a_bad_row_in_the_last_csv_range_is_named_by_its_file_row(tmp_path, bad):
    """The single worker's message, with the file-wide row number, though blank lines and quoted newlines
    come before it."""
    broken = {"malformed": "1,0", "label": "3,1,east,0", "missing": ",1,east,0"}[bad]
    path = tmp_path / "bad.csv"
    path.write_bytes(awkward_csv(20_000, crlf=False, replace={18_765: broken}))  # data row 18,766
    columns = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["region", "band"]}
    expected = _refusal(lambda: single("fairness", str(path), "csv", columns, {}))
    # the engine's line numbers count the blank lines it skips (19 before this row), row numbers do not
    row = 18_766 + (sum(1 for i in range(18_765) if i % 997 == 5) if bad == "malformed" else 0)
    assert f"row {row}" in expected, expected
    split = outofcore.csv_split(str(path), 4)
    last = split.ranges[-1]
    assert last["row"] < 18_765 < last["row"] + last["rows"]
    for r in split.ranges[:-1]:  # the earlier ranges are fine
        outofcore.partial(
            "fairness",
            str(path),
            row_range=(0, 0),
            total_rows=split.rows,
            columns=columns,
            params={},
            csv={**split.as_dict(), "range": r},
        )
    message = _refusal(
        lambda: outofcore.partial(
            "fairness",
            str(path),
            row_range=(0, 0),
            total_rows=split.rows,
            columns=columns,
            params={},
            csv={**split.as_dict(), "range": last},
        )
    )
    assert message == expected


def test_csvs_that_cannot_be_split_say_why(tmp_path):
    content = awkward_csv(3_000, crlf=False)
    stray = tmp_path / "stray.csv"
    stray.write_bytes(content.replace(b"\n1,0,east,", b'\n1,0,ea"st,', 1))
    assert "is not at the start or end of a field" in outofcore.csv_split(str(stray), 2).reason
    gz = tmp_path / "table.csv.gz"
    gz.write_bytes(gzip.compress(content))
    assert "compressed" in outofcore.csv_split(str(gz), 2).reason
    open_quote = tmp_path / "open.csv"
    open_quote.write_bytes(content + b'1,0,"never closed,1\n')
    assert "ends inside a quoted field" in outofcore.csv_split(str(open_quote), 2).reason
    assert "not a file" in outofcore.csv_split(content, 2).reason


def test_the_first_look_at_a_csv_estimates_its_rows_and_spots_compression(tmp_path):
    path = write(fairness_table(5_000), tmp_path, "csv")
    assert outofcore.csv_first_look(path) == (5_000, "")  # all of it read: the lines less the header
    with open(path, "rb+") as handle:
        handle.truncate(handle.seek(0, 2) - 1)  # no newline after the last row
    assert outofcore.csv_first_look(path) == (5_000, "")
    gz = tmp_path / "table.csv.gz"
    gz.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert "compressed" in outofcore.csv_first_look(str(gz))[1]


def test_a_csv_without_a_final_newline_keeps_its_last_row(tmp_path):
    table = pa.table({"label": [1, 0] * 500, "pred": [1, 1] * 500, "region": ["a", "b"] * 500})
    path = write(table, tmp_path, "csv")
    with open(path, "rb+") as handle:
        handle.truncate(handle.seek(0, 2) - 1)  # no newline after the last row
    split = outofcore.csv_split(path, 3)
    assert split.rows == 1_000 and sum(r["rows"] for r in split.ranges) == 1_000


def test_csv_drift_with_many_ecdf_crossings_reads_the_crossing_gaps_through_the_csv(tmp_path, monkeypatch):
    """No drift: the merged counts leave many gaps where the eCDFs cross, whose values the merge reads
    in one more scan of the whole CSV (streamed with the split's options)."""
    from tests.evaluations_core.test_outofcore import _same_distribution_tables

    monkeypatch.setattr(outofcore, "CROSSING_VALUES_MAX", 50)  # in several scans
    ref_t, cur_t = _same_distribution_tables(15_000, 60_000)
    pq.write_table(ref_t, tmp_path / "ref.parquet")
    columns = {"features": ["a", "b", "c"]}
    ref = parse_table("drift", str(tmp_path / "ref.parquet"), file_format="parquet", columns=columns, role="reference")
    path = write(cur_t, tmp_path, "csv")
    scans = []
    real_scan = outofcore.crossing_scan
    monkeypatch.setattr(outofcore, "crossing_scan", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    out, rows, n = fanned_out("drift", path, tmp_path, parts=3, columns=columns, params={}, reference=ref)
    assert (rows, n) == (60_000, 3) and len(scans) > 1
    monkeypatch.setattr(outofcore, "crossing_scan", real_scan)
    whole, _rows = single("drift", path, "csv", columns, {}, ref)
    same(whole, out)


@pytest.mark.parametrize("block", [1, 7, 4099])
@pytest.mark.parametrize("crlf", [False, True])
def test_the_split_does_not_depend_on_the_blocks_it_reads(tmp_path, monkeypatch, block, crlf):
    """Quotes, CRLF pairs, blank lines and record starts that straddle two blocks: the same ranges as in
    one block, and the progress of the pass reaches 100%."""
    path = tmp_path / "awkward.csv"
    path.write_bytes(awkward_csv(3_000 if block == 1 else 20_000, crlf=crlf))
    whole = outofcore.csv_split(str(path), 5)
    monkeypatch.setattr(outofcore, "CSV_SPLIT_BLOCK", block)
    seen = []
    split = outofcore.csv_split(str(path), 5, progress=lambda stage, fraction, rows: seen.append(fraction))
    assert not split.reason and split.as_dict() == whole.as_dict()
    assert seen == sorted(seen) and seen[-1] == 1.0
    stray = tmp_path / "stray.csv"
    stray.write_bytes(path.read_bytes().replace(b",east,", b',ea"st,', 1))
    assert "is not at the start or end of a field" in outofcore.csv_split(str(stray), 5).reason
