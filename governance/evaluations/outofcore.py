"""Out-of-core evaluations: a table larger than memory computed exactly with DuckDB (issue 15.1).

Pure (no Django). The engine is DuckDB: it reads Parquet and CSV (plain or gzip) as a stream, and
its GROUP BY and ORDER BY spill to disk under a memory limit, so the statistics that need a sort
(KS, Wasserstein, the pooled order of two samples) are exact without holding the rows. Every
statistic is reduced to counts that the in-memory kernels already consume:

- fairness: confusion counts per (sensitive features, y_true, y_pred) from one GROUP BY, then
  ``fairness.fairness_from_counts``;
- drift, numeric feature: the current sample's distinct values with their counts in ascending
  order (GROUP BY ... ORDER BY, streamed in batches) merged with the sorted reference sample (held
  in memory: a registered reference sample is at most ``EVALUATION_SYNC_MAX_ROWS`` rows): the
  eCDF difference at every pooled value gives KS and Wasserstein-1 exactly as ``numeric_stats``,
  and the counts below the reference deciles give PSI and JS;
- drift, categorical feature: counts per category from one GROUP BY (chi-square, PSI, JS).

Both paths then share ``drift.drift_from_stats`` / ``fairness.fairness_from_counts``, and the tests
compare them on the same inputs to 1e-12. Bad input names the data row (1-based, the header is
not a row): a malformed CSV line, a missing value, a label other than 0/1, a score outside [0, 1].
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from governance.common.errors import ValidationFailed

from . import drift as drift_core
from . import fairness as fairness_core
from .inputs import (
    CATEGORICAL,
    NUMERIC,
    InputTooLarge,
    Parsed,
    _BudgetReader,
    _open_binary,
    _too_large,
    csv_compression,
)

KINDS = ("fairness", "drift")
BATCH_ROWS = 1 << 20
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}

Progress = Callable[[str, float], None]


def _fail(field_name: str, message: str):
    raise ValidationFailed(f"{field_name}: {message}", field=field_name)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _type_kind(duck_type: str) -> str | None:
    t = duck_type.upper()
    if t == "BOOLEAN":
        return "bool"
    if t in _INT_TYPES:
        return "int"
    if t in _FLOAT_TYPES or t.startswith("DECIMAL"):
        return "float"
    if t == "VARCHAR":
        return "str"
    return None


@dataclass
class Table:
    """A DuckDB connection with the input as relation ``src`` (rows in file order)."""

    con: object
    columns: dict[str, str]  # column -> kind (bool/int/float/str) or the DuckDB type when unsupported
    rows: int

    def first_bad_row(self, condition: str) -> int | None:
        """The 1-based data row of the first row where ``condition`` (SQL) holds."""
        found = self.con.execute(
            f"SELECT rn FROM (SELECT row_number() OVER () AS rn, * FROM src) WHERE {condition} ORDER BY rn LIMIT 1"
        ).fetchone()
        return int(found[0]) if found else None

    def column(self, col: str, fname: str) -> str:
        if col not in self.columns:
            shown = ", ".join(list(self.columns)[:20])
            _fail(fname, f"column {col!r} not found in the file (columns: {shown})")
        return self.columns[col]

    def batches(self, sql: str, params: list | None = None) -> Iterator:
        reader = self.con.execute(sql, params or []).to_arrow_reader(BATCH_ROWS)
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return


def open_table(
    path: str,
    file_format: str,
    *,
    workdir: str,
    memory_limit: str = "1GB",
    threads: int = 2,
    max_bytes: int | None = None,
) -> Table:
    """Open ``path`` in a DuckDB database under ``workdir`` (its spill files go there too). A CSV is
    loaded once into a table (one parse; DuckDB compresses it on disk), after its decompressed size was
    measured through a byte budget of ``max_bytes``; a Parquet file is scanned in place."""
    import duckdb

    con = duckdb.connect(str(Path(workdir) / "evaluation.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET temp_directory = '{Path(workdir) / 'spill'}'")
    con.execute("SET preserve_insertion_order = true")
    try:
        if file_format == "parquet":
            con.execute(f"CREATE VIEW src AS SELECT * FROM read_parquet({_lit(path)})")
        elif file_format == "csv":
            with _open_binary(path) as raw:
                compression = csv_compression(raw.read(8))
                raw.seek(0)
                reader = _BudgetReader(raw, max_bytes)  # refuses other compressions, counts decompressed bytes
                try:
                    while reader.read(1 << 22):
                        pass
                except InputTooLarge as exc:
                    _too_large(
                        f"the CSV decompresses to more than {exc.budget} bytes", "EVALUATION_OUT_OF_CORE_MAX_BYTES"
                    )
            codec = "gzip" if compression == "gzip" else "none"
            # the dialect of the in-memory reader (pyarrow's defaults), given rather than sniffed: a sniffer
            # that meets a malformed row in its sample cannot say which row it was
            con.execute(
                f"CREATE TABLE src AS SELECT * FROM read_csv({_lit(path)}, header = true, compression = '{codec}', "
                "delim = ',', quote = '\"', escape = '\"')"
            )
        else:
            _fail("file_format", "must be 'csv' or 'parquet'")
    except duckdb.Error as exc:
        con.close()
        msg = str(exc)
        line = _CSV_LINE.search(msg)
        if line:
            original = re.search(r"Original Line: (.*)", msg)
            shown = f" ({original.group(1)[:200]!r})" if original else ""
            expected = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
            why = f": expected {expected.group(1)} fields, found {expected.group(2)}" if expected else ""
            _fail("file", f"row {int(line.group(1)) - 1} is malformed{why}{shown}")
        _fail("file", f"could not read {file_format.upper()}: {msg.splitlines()[0]}")
    described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
    columns = {name: (_type_kind(t) or t) for name, t, *_ in described}
    rows = int(con.execute("SELECT count(*) FROM src").fetchone()[0])
    if rows == 0:
        con.close()
        _fail("file", "the table has no rows")
    return Table(con=con, columns=columns, rows=rows)


# ---------------------------------------------------------------------------------------------
# validation helpers (the first bad row is named)
# ---------------------------------------------------------------------------------------------


def _no_nulls(t: Table, col: str, fname: str) -> None:
    nulls = t.con.execute(f"SELECT count(*) FROM src WHERE {_q(col)} IS NULL").fetchone()[0]
    if nulls:
        row = t.first_bad_row(f"{_q(col)} IS NULL")
        _fail(fname, f"column {col!r} has {nulls} missing values (the first at row {row})")


def _label_expr(t: Table, col: str, fname: str) -> str:
    """A BIGINT 0/1 expression for a label column, after checking every value is 0/1 (or a boolean)."""
    kind = t.column(col, fname)
    c = _q(col)
    if kind == "bool":
        return f"CAST({c} AS BIGINT)"
    if kind == "str":
        _fail(fname, "labels must be 0/1 or booleans, got strings")
    if kind not in ("int", "float"):
        _fail(fname, f"column {col!r} has unsupported type {kind}")
    bad = f"NOT ({c} = 0 OR {c} = 1)"
    if t.con.execute(f"SELECT count(*) FROM src WHERE {bad}").fetchone()[0]:
        row = t.first_bad_row(bad)
        _fail(fname, f"labels must be binary 0/1 (found values other than 0 and 1; the first at row {row})")
    return f"CAST({c} AS BIGINT)"


def _score_expr(t: Table, col: str, fname: str) -> str:
    kind = t.column(col, fname)
    c = _q(col)
    if kind == "str":
        _fail(fname, "must contain numbers, got strings")
    if kind not in ("int", "float", "bool"):
        _fail(fname, f"column {col!r} has unsupported type {kind}")
    d = f"CAST({c} AS DOUBLE)"
    bad = f"(isnan({d}) OR isinf({d}))"
    if t.con.execute(f"SELECT count(*) FROM src WHERE {bad}").fetchone()[0]:
        row = t.first_bad_row(bad)
        _fail(fname, f"contains NaN or infinite value at row {row}")
    bad = f"({d} < 0 OR {d} > 1)"
    if t.con.execute(f"SELECT count(*) FROM src WHERE {bad}").fetchone()[0]:
        row = t.first_bad_row(bad)
        _fail(fname, f"scores must be probabilities in [0, 1] (the first outside at row {row})")
    return d


def _group_value(kind: str, value, fname: str):
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        if value != math.floor(value):
            _fail(
                fname,
                "sensitive feature values must be strings, booleans or integers (bin continuous values first)",
            )
        return int(value)
    if kind == "str" and "\x00" in value:
        _fail(fname, "strings must not contain NUL characters")
    return value


# ---------------------------------------------------------------------------------------------
# fairness
# ---------------------------------------------------------------------------------------------


def fairness(t: Table, columns: dict, params: dict, *, min_group_size: int, progress: Progress | None = None) -> dict:
    """``compute_fairness`` over the table: confusion counts per group from one GROUP BY."""
    from .inputs import threshold_param

    names_cols = list(columns.get("sensitive_features") or [])
    if not names_cols:
        _fail("columns.sensitive_features", "must list at least one column")
    for key in ("y_true", "y_pred", "y_score", "sample_weight"):
        if key in columns and columns[key] is not None:
            t.column(columns[key], f"columns.{key}")
    for c in names_cols:
        t.column(c, "columns.sensitive_features")
    for key in ("y_true", "y_pred", "y_score", "sample_weight"):
        if columns.get(key) is not None:
            _no_nulls(t, columns[key], f"columns.{key}")
    for c in names_cols:
        _no_nulls(t, c, "columns.sensitive_features")
    if progress:
        progress("validated", 0.3)
    yt = _label_expr(t, columns["y_true"], "columns.y_true")
    used = {}
    if columns.get("y_pred") is not None:
        yp = _label_expr(t, columns["y_pred"], "columns.y_pred")
    else:
        thr = threshold_param(params)
        used["threshold"] = thr
        yp = f"CAST({_score_expr(t, columns['y_score'], 'columns.y_score')} >= {thr!r} AS BIGINT)"
    weighted = columns.get("sample_weight") is not None
    if weighted:
        wcol = columns["sample_weight"]
        kind = t.column(wcol, "columns.sample_weight")
        if kind not in ("int", "float"):
            _fail("columns.sample_weight", "weights must be numbers")
        w = f"CAST({_q(wcol)} AS DOUBLE)"
        bad = f"(isnan({w}) OR isinf({w}))"
        if t.con.execute(f"SELECT count(*) FROM src WHERE {bad}").fetchone()[0]:
            _fail("columns.sample_weight", f"contains NaN or infinite value at row {t.first_bad_row(bad)}")
        if t.con.execute(f"SELECT count(*) FROM src WHERE {w} < 0").fetchone()[0]:
            _fail("columns.sample_weight", "weights must be non-negative")
    else:
        w = "1.0"
    kinds = [t.columns[c] for c in names_cols]
    for c, kind in zip(names_cols, kinds, strict=True):
        if kind not in ("bool", "int", "float", "str"):
            _fail("columns.sensitive_features", f"column {c!r} has unsupported type {kind}")
    groups_sql = ", ".join(_q(c) for c in names_cols)
    rows = t.con.execute(
        f"SELECT {groups_sql}, {yt} AS yt, {yp} AS yp, count(*) AS n, fsum({w}) AS w FROM src GROUP BY ALL"
    ).fetchall()
    if progress:
        progress("counted", 0.9)
    k = len(names_cols)
    cells: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for row in rows:
        key = tuple(_group_value(kinds[j], row[j], "columns.sensitive_features") for j in range(k))
        cnt, wsum = cells.setdefault(key, (np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.float64)))
        cell = int(row[k]) * 2 + int(row[k + 1])
        cnt[cell] += int(row[k + 2])
        wsum[cell] += float(row[k + 3])
    keys = sorted(cells)
    counts = np.array([cells[key][0] for key in keys], dtype=np.int64)
    wcounts = np.array([cells[key][1] for key in keys], dtype=np.float64) if weighted else counts.astype(np.float64)
    if weighted:
        tot = np.array([math.fsum(cells[key][1][i] for key in keys) for i in range(4)])
        if not tot.sum() > 0:
            _fail("columns.sample_weight", "weights must have a positive sum")
    else:
        tot = counts.sum(axis=0).astype(np.float64)
    names = list(names_cols)
    # the in-memory path names a sensitive feature after its column, in sorted order
    order = sorted(range(k), key=lambda j: names[j])
    if order != list(range(k)):
        names = [names[j] for j in order]
        keys2 = [tuple(key[j] for j in order) for key in keys]
        perm = sorted(range(len(keys2)), key=lambda i: keys2[i])
        keys = [keys2[i] for i in perm]
        counts, wcounts = counts[perm], wcounts[perm]
    group_dicts = [dict(zip(names, key, strict=True)) for key in keys]
    return fairness_core.fairness_from_counts(
        names,
        group_dicts,
        counts,
        wcounts,
        tot,
        n=int(counts.sum()),
        weighted=weighted,
        params=used,
        min_group_size=min_group_size,
        favourable_outcome=params.get("favourable_outcome", 1),
    )


# ---------------------------------------------------------------------------------------------
# drift
# ---------------------------------------------------------------------------------------------


def _numeric_stats(t: Table, col: str, fname: str, ref: np.ndarray) -> dict:
    """``drift.numeric_stats(ref, current column)`` from the column's sorted distinct values."""
    d_expr = f"CAST({_q(col)} AS DOUBLE)"
    bad = f"(isnan({d_expr}) OR isinf({d_expr}))"
    if t.con.execute(f"SELECT count(*) FROM src WHERE {bad}").fetchone()[0]:
        _fail(fname, f"contains NaN or infinite value at row {t.first_bad_row(bad)}")
    r = np.sort(ref)
    n = len(r)
    m = t.rows
    if max(n, m) <= drift_core.EXACT_KS_MAX_N:  # small: scipy's exact p-value needs the values themselves
        cur = np.asarray(t.con.execute(f"SELECT {d_expr} AS v FROM src").fetchnumpy()["v"], dtype=np.float64)
        return drift_core.numeric_stats(ref, cur)
    edges = np.quantile(r, drift_core.PSI_QUANTILES)
    below = np.zeros(len(edges), dtype=np.int64)  # current values < each edge
    d = 0.0
    w_parts: list[float] = []
    r_done = 0  # reference values already merged
    c_done = 0  # current values already merged
    prev_v = None
    prev_diff = 0.0

    def merge(vals: np.ndarray, cnts: np.ndarray, upto: int) -> None:
        nonlocal d, r_done, c_done, prev_v, prev_diff
        rseg = r[r_done:upto]
        rvals, rcnts = np.unique(rseg, return_counts=True)
        pooled = np.union1d(rvals, vals)
        if len(pooled) == 0:
            return
        rc = np.zeros(len(pooled), dtype=np.int64)
        cc = np.zeros(len(pooled), dtype=np.int64)
        rc[np.searchsorted(pooled, rvals)] = rcnts
        cc[np.searchsorted(pooled, vals)] = cnts
        ri = r_done + np.cumsum(rc)
        ci = c_done + np.cumsum(cc)
        diff = np.abs(ri / n - ci / m)
        d = max(d, float(diff.max()))
        if prev_v is not None:
            w_parts.append(prev_diff * (pooled[0] - prev_v))
        w_parts.append(float(np.sum(diff[:-1] * np.diff(pooled))))
        prev_v, prev_diff = pooled[-1], float(diff[-1])
        r_done, c_done = int(ri[-1]), int(ci[-1])

    for batch in t.batches(f"SELECT {d_expr} AS v, count(*) AS c FROM src GROUP BY 1 ORDER BY 1"):
        vals = batch.column(0).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        cnts = batch.column(1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        if len(vals) == 0:
            continue
        below += np.array([cnts[: np.searchsorted(vals, e, side="left")].sum() for e in edges], dtype=np.int64)
        merge(vals, cnts, int(np.searchsorted(r, vals[-1], side="right")))
    merge(np.zeros(0), np.zeros(0, dtype=np.int64), n)  # reference values above the current maximum
    w = math.fsum(w_parts)
    std = float(np.std(r))
    wn = w / max(std, drift_core.WASSERSTEIN_STD_FLOOR)
    rb = np.diff(np.concatenate([[0], np.searchsorted(r, edges, side="left"), [n]]))
    cb = np.diff(np.concatenate([[0], below, [m]]))
    rp, cp = rb / n, cb / m
    from scipy.spatial.distance import jensenshannon

    return {
        "ks_statistic": d,
        "ks_pvalue": drift_core.ks_pvalue(d, n, m),
        "wasserstein": w,
        "wasserstein_normalized": wn,
        "psi": drift_core._psi(rp, cp),
        "js_distance": float(jensenshannon(rp, cp, base=2)),
        "psi_edges": edges,
    }


def _categorical_stats(t: Table, col: str, kind: str, fname: str, ref: np.ndarray) -> dict:
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    counts: dict = {}
    for value, c in t.con.execute(f"SELECT {_q(col)}, count(*) FROM src GROUP BY 1").fetchall():
        if kind == "bool":
            value = "true" if value else "false"
        elif kind == "float":
            if value != math.floor(value):
                _fail(fname, "column is declared categorical but contains non-integer numbers")
            value = int(value)
        counts[value] = counts.get(value, 0) + int(c)
    rlabels, rcounts = np.unique(ref, return_counts=True)
    rmap = dict(zip(rlabels.tolist(), rcounts.tolist(), strict=True))
    labels = sorted(set(rmap) | set(counts))
    rc = np.array([rmap.get(v, 0) for v in labels], dtype=np.int64)
    cc = np.array([counts.get(v, 0) for v in labels], dtype=np.int64)
    n, m = int(rc.sum()), int(cc.sum())
    rp, cp = rc / n, cc / m
    chi2, p, _dof, _exp = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    return {
        "chi2_statistic": float(chi2),
        "chi2_pvalue": float(p),
        "psi": drift_core._psi(rp, cp),
        "js_distance": float(jensenshannon(rp, cp, base=2)),
        "n_categories": int(len(labels)),
    }


def drift(t: Table, columns: dict, params: dict, reference: Parsed, *, progress: Progress | None = None) -> dict:
    """``compute_drift`` of the table (the current sample) against an in-memory reference sample."""
    feats = list(columns.get("features") or [])
    if not feats:
        _fail("columns.features", "must list at least one column")
    declared = set(columns.get("categorical") or []) | set(params.get("categorical") or [])
    declared |= set(reference.declared_categorical)
    ref_types = reference.feature_types
    for name in feats:
        t.column(name, "columns.features")
    for name in ref_types:
        if name not in feats:
            _fail("columns.features", f"feature {name!r} is in the reference but missing from the current sample")
    per_feature = []
    for i, name in enumerate(sorted(feats)):
        fname = f"columns.features[{name!r}]"
        if name not in ref_types:
            _fail("columns.features", f"feature {name!r} is in the current sample but not in the reference")
        kind = t.columns[name]
        if kind not in ("bool", "int", "float", "str"):
            _fail(fname, f"column {name!r} has unsupported type {kind}")
        _no_nulls(t, name, fname)
        ftype = CATEGORICAL if kind in ("str", "bool") or name in declared else NUMERIC
        if ftype != ref_types[name]:
            _fail(
                "columns.features",
                f"feature {name!r} is {ref_types[name]} in the reference but {ftype} in the current sample "
                f"({ref_types[name]} column posted as {ftype})",
            )
        ref = reference.arrays[f"reference.{name}"]
        if ftype == CATEGORICAL:
            cur_is_str = kind in ("str", "bool")
            if (ref.dtype.kind == "U") != cur_is_str:
                ref_is = "strings" if ref.dtype.kind == "U" else "integers"
                cur_is = "strings" if cur_is_str else "integers"
                _fail(
                    "columns.features",
                    f"feature {name!r} has {ref_is} in the reference but {cur_is} in the current sample",
                )
            s = _categorical_stats(t, name, kind, fname, ref)
        else:
            s = _numeric_stats(t, name, fname, ref)
        per_feature.append((name, ftype, len(ref), t.rows, s))
        if progress:
            progress(f"feature {name}", (i + 1) / len(feats))
    used = {"categorical": sorted(f[0] for f in per_feature if f[1] == CATEGORICAL)}
    p = drift_core.validate_params(params, Parsed(kind="drift", arrays={}, params=used))
    return drift_core.drift_from_stats(per_feature, p)


def duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def compute(
    kind: str,
    path: str,
    *,
    file_format: str,
    columns: dict,
    params: dict,
    reference: Parsed | None = None,
    min_group_size: int = 30,
    memory_limit: str = "1GB",
    threads: int = 2,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict, int]:
    """(the kernel's result, rows read) for ``kind`` over the table at ``path``."""
    if kind not in KINDS:
        _fail("kind", f"{kind} evaluations are not computed out of core (only {', '.join(KINDS)})")
    with tempfile.TemporaryDirectory(prefix="mlgov-ooc-") as workdir:
        t = open_table(
            path, file_format, workdir=workdir, memory_limit=memory_limit, threads=threads, max_bytes=max_bytes
        )
        try:
            if progress:
                progress("opened", 0.1)
            if kind == "fairness":
                out = fairness(t, columns, params, min_group_size=min_group_size, progress=progress)
            else:
                if reference is None:
                    _fail("reference", "a registered reference sample is required")
                out = drift(t, columns, params, reference, progress=progress)
            return out, t.rows
        finally:
            t.con.close()
