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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from governance.common.errors import ValidationFailed

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

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

KINDS = ("fairness", "drift", "performance")
BATCH_ROWS = 1 << 20
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}

Progress = Callable[[str, float, int | None], None]  # (stage, fraction done, rows read or None: not known yet)

# Reading a CSV input is the first part of its evaluation's progress: measuring its decompressed size
# up to CSV_MEASURED, DuckDB's load (the parse, where every row is read) up to CSV_LOADED; the
# computation over the loaded table takes the rest. CSV_PROGRESS_POLL_SECONDS: how often the load's
# progress is read (the recorder given as ``progress`` decides how often it is written).
CSV_MEASURED = 0.05
CSV_LOADED = 0.5
CSV_PROGRESS_POLL_SECONDS = 0.5


def _fail(field_name: str, message: str) -> NoReturn:
    raise ValidationFailed(f"{field_name}: {message}", field=field_name)


def _one_row(con: DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate without GROUP BY)."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


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

    con: DuckDBPyConnection
    columns: dict[str, str]  # column -> kind (bool/int/float/str) or the DuckDB type when unsupported
    rows: int
    offset: int = 0  # the file row of the first row (a row range of a fanned-out evaluation)
    memory_limit: str = ""

    def first_bad_row(self, condition: str) -> int | None:
        """The 1-based data row of the first row where ``condition`` (SQL) holds."""
        found = self.con.execute(
            f"SELECT rn FROM (SELECT row_number() OVER () AS rn, * FROM src) WHERE {condition} ORDER BY rn LIMIT 1"
        ).fetchone()
        return int(found[0]) + self.offset if found else None

    def column(self, col: str, fname: str) -> str:
        if col not in self.columns:
            shown = ", ".join(list(self.columns)[:20])
            _fail(fname, f"column {col!r} not found in the file (columns: {shown})")
        return self.columns[col]

    def scan(self, cols: list[str], *, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Any]]:
        """(row offset, Arrow record batch) of ``cols`` over rows [start, stop), in file order."""
        sql = "SELECT " + ", ".join(_q(c) for c in cols) + " FROM src"
        if stop is not None:
            sql += f" LIMIT {int(stop) - int(start)}"
        if start:
            sql += f" OFFSET {int(start)}"
        offset = self.offset + start
        for batch in self.batches(sql):
            yield offset, batch
            offset += batch.num_rows

    def batches(self, sql: str, params: list[Any] | None = None) -> Iterator[Any]:
        reader = self.con.execute(sql, params or []).to_arrow_reader(BATCH_ROWS)
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return


def _connect(workdir: str, memory_limit: str, threads: int) -> DuckDBPyConnection:
    """A DuckDB database under ``workdir`` (its spill files go there too), rows kept in file order."""
    import duckdb

    con = duckdb.connect(str(Path(workdir) / "evaluation.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET temp_directory = '{Path(workdir) / 'spill'}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    return con


def _read_failed(exc: Exception, file_format: str, lines_before: int = 0) -> NoReturn:
    """The engine's read error as the user's: a CSV line is named as its data row (the header is line 1;
    ``lines_before``: the file's lines before a row range read on its own, so the row is the file's)."""
    msg = str(exc)
    line = _CSV_LINE.search(msg)
    if line:
        original = re.search(r"Original Line: (.*)", msg)
        shown = f" ({original.group(1)[:200]!r})" if original else ""
        expected = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
        why = f": expected {expected.group(1)} fields, found {expected.group(2)}" if expected else ""
        _fail("file", f"row {int(line.group(1)) - 1 + lines_before} is malformed{why}{shown}")
    _fail("file", f"could not read {file_format.upper()}: {msg.splitlines()[0]}")


def _measure_csv(path: str, max_bytes: int | None, progress: Progress | None) -> tuple[str, int]:
    """(DuckDB's codec, decompressed bytes) of the CSV at ``path``, after reading it once through the
    byte budget (which refuses other compressions and more than ``max_bytes`` decompressed). Progress:
    the share of the file's bytes read so far (of its compressed bytes for a gzip file)."""
    with _open_binary(path) as raw:
        compression = csv_compression(raw.read(8))
        size = max(raw.seek(0, 2), 1)
        raw.seek(0)
        reader = _BudgetReader(raw, max_bytes)  # refuses other compressions, counts decompressed bytes
        try:
            while reader.read(1 << 22):
                if progress:
                    progress("measuring the CSV", CSV_MEASURED * min(raw.tell() / size, 1.0), None)
        except InputTooLarge as exc:
            _too_large(f"the CSV decompresses to more than {exc.budget} bytes", "EVALUATION_OUT_OF_CORE_MAX_BYTES")
    return ("gzip" if compression == "gzip" else "none"), reader.count


class _GunzipFeed:
    """A gzip CSV decompressed by a thread into a named pipe in the work directory, which DuckDB reads
    as a plain CSV: the thread counts the bytes it has handed over (DuckDB's own progress for a gzip
    file counts compressed bytes read far ahead of its parse: 100% a third into a measured load). As
    fast as DuckDB's own gzip reader (measured), and a pipe holds no file: nothing more on disk than
    DuckDB's table."""

    def __init__(self, path: str, workdir: str) -> None:
        import os
        import threading

        self.path = path
        self.pipe = Path(workdir) / "input.csv"
        os.mkfifo(self.pipe, 0o600)
        self.fed = 0
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._feed, name="mlgov-csv-gunzip", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        import gzip

        try:
            with open(self.path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream, open(self.pipe, "wb") as out:
                while not self.stopping and (chunk := stream.read(1 << 20)):
                    out.write(chunk)
                    self.fed += len(chunk)
        except BrokenPipeError:
            pass  # DuckDB stopped reading: a bad row (its error is the one reported) or an interrupt
        except Exception as exc:  # handed to the caller (``finish``)
            self.error = exc

    def stop(self) -> None:
        """Stop the thread and wait for it, reading (and dropping) what it still writes: it may be
        waiting for a reader to open the pipe, or for room in it."""
        import os
        import time

        self.stopping = True
        if not self.thread.is_alive():
            return
        fd = os.open(self.pipe, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while self.thread.is_alive():
                try:
                    if not os.read(fd, 1 << 20):
                        time.sleep(0.01)
                except BlockingIOError:
                    time.sleep(0.01)
        finally:
            os.close(fd)
            self.thread.join()

    def finish(self, expected: int) -> None:
        """After a load that succeeded: DuckDB read every decompressed byte the measuring pass counted."""
        self.stop()
        if self.error is not None:
            _fail("file", f"could not decompress the gzip CSV: {self.error}")
        if self.fed != expected:
            _fail("file", f"the CSV changed while it was read ({self.fed} bytes decompressed, {expected} measured)")


def _load_csv(
    con: DuckDBPyConnection, path: str, codec: str, size: int, workdir: str, progress: Progress | None
) -> None:
    """Load the CSV at ``path`` into the table ``src``, in the dialect of the in-memory reader
    (pyarrow's defaults), given rather than sniffed: a sniffer that meets a malformed row in its sample
    cannot say which row it was. A gzip CSV is read through a ``_GunzipFeed``.

    With ``progress``, the load runs in a helper thread while this thread reports the stage "loading
    the CSV" every ``CSV_PROGRESS_POLL_SECONDS`` (rows read: not known until the load ends): for a
    plain CSV DuckDB's ``query_progress()``, the share of the file's bytes its CSV scanner has taken;
    for a gzip CSV the share of the ``size`` decompressed bytes handed to DuckDB. Both are exact to a
    buffer of DuckDB's (megabytes, ahead of the parse) and free: no extra pass over the file and
    nothing per row; the report is made by the caller's thread, which owns the database connection the
    recorder writes through. The figure reported never goes down."""
    feed = _GunzipFeed(path, workdir) if codec == "gzip" else None
    source = str(feed.pipe) if feed else path
    sql = (
        f"CREATE TABLE src AS SELECT * FROM read_csv({_lit(source)}, header = true, compression = 'none', "
        "delim = ',', quote = '\"', escape = '\"')"
    )
    loaded = False
    try:
        if progress is None:
            con.execute(sql)
        else:
            _watch_load(con, sql, (lambda: 100.0 * feed.fed / max(size, 1)) if feed else con.query_progress, progress)
        loaded = True
    finally:
        if feed and not loaded:
            feed.stop()
    if feed:
        feed.finish(size)


def _watch_load(con: DuckDBPyConnection, sql: str, percent: Callable[[], float], progress: Progress) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as StillRunning

    con.execute("SET enable_progress_bar = true")  # DuckDB tracks progress only with it (printing stays off)
    con.execute("SET enable_progress_bar_print = false")
    progress("loading the CSV", CSV_MEASURED, None)
    done = 0.0
    with ThreadPoolExecutor(1, thread_name_prefix="mlgov-csv-load") as pool:
        job = pool.submit(con.execute, sql)
        try:
            while True:
                try:
                    job.result(timeout=CSV_PROGRESS_POLL_SECONDS)
                    break
                except StillRunning:
                    done = min(max(done, percent()), 100.0)  # DuckDB's is -1 while it has none
                    # reported at every poll (the recorder writes at most once a second): also a heartbeat
                    # for the reaper while a buffer takes long
                    progress("loading the CSV", CSV_MEASURED + (CSV_LOADED - CSV_MEASURED) * done / 100, None)
        except BaseException:
            con.interrupt()  # a failed report or a time limit stops the load (the pool waits for it)
            raise
    con.execute("SET enable_progress_bar = false")


def _after_csv_load(progress: Progress, rows: int) -> Progress:
    """The progress of the computation over a loaded CSV: its fractions scaled into what is left after
    the load, its rows read the file's (the load read every row)."""

    def report(stage: str, fraction: float, _rows: int | None) -> None:
        progress(stage, CSV_LOADED + (1.0 - CSV_LOADED) * fraction, rows)

    return report


def open_table(
    path: str,
    file_format: str,
    *,
    workdir: str,
    memory_limit: str = "1GB",
    threads: int = 2,
    max_bytes: int | None = None,
    row_range: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> Table:
    """Open ``path`` in a DuckDB database under ``workdir`` (its spill files go there too). A CSV is
    loaded once into a table (one parse; DuckDB compresses it on disk), after its decompressed size was
    measured through a byte budget of ``max_bytes`` (both reported to ``progress``, see ``_load_csv``);
    a Parquet file is scanned in place (only the rows of ``row_range`` [start, stop) when given: the
    reader skips the other row groups)."""
    import duckdb

    con = _connect(workdir, memory_limit, threads)
    try:
        if file_format == "parquet" and row_range is not None:
            start, stop = int(row_range[0]), int(row_range[1])
            con.execute(
                f"CREATE VIEW src AS SELECT * EXCLUDE (file_row_number) FROM read_parquet({_lit(path)}, "
                f"file_row_number = true) WHERE file_row_number >= {start} AND file_row_number < {stop}"
            )
        elif row_range is not None:
            _fail("file_format", "only Parquet inputs are split by row ranges")
        elif file_format == "parquet":
            con.execute(f"CREATE VIEW src AS SELECT * FROM read_parquet({_lit(path)})")
        elif file_format == "csv":
            codec, size = _measure_csv(path, max_bytes, progress)
            _load_csv(con, path, codec, size, workdir, progress)
        else:
            _fail("file_format", "must be 'csv' or 'parquet'")
    except duckdb.Error as exc:
        con.close()
        _read_failed(exc, file_format)
    described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
    columns = {name: (_type_kind(t) or t) for name, t, *_ in described}
    rows = int(_one_row(con, "SELECT count(*) FROM src")[0])
    if rows == 0 and row_range is None:
        con.close()
        _fail("file", "the table has no rows")
    return Table(con=con, columns=columns, rows=rows, offset=row_range[0] if row_range else 0)


# ---------------------------------------------------------------------------------------------
# validation helpers (the first bad row is named)
# ---------------------------------------------------------------------------------------------


def _no_nulls(t: Table, col: str, fname: str) -> None:
    nulls = _one_row(t.con, f"SELECT count(*) FROM src WHERE {_q(col)} IS NULL")[0]
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
    if _one_row(t.con, f"SELECT count(*) FROM src WHERE {bad}")[0]:
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
    if _one_row(t.con, f"SELECT count(*) FROM src WHERE {bad}")[0]:
        row = t.first_bad_row(bad)
        _fail(fname, f"contains NaN or infinite value at row {row}")
    bad = f"({d} < 0 OR {d} > 1)"
    if _one_row(t.con, f"SELECT count(*) FROM src WHERE {bad}")[0]:
        row = t.first_bad_row(bad)
        _fail(fname, f"scores must be probabilities in [0, 1] (the first outside at row {row})")
    return d


def _group_value(kind: str, value: Any, fname: str) -> Any:
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


def fairness(
    t: Table, columns: dict[str, Any], params: dict[str, Any], *, min_group_size: int, progress: Progress | None = None
) -> dict[str, Any]:
    """``compute_fairness`` over the table: confusion counts per group from one GROUP BY."""
    return fairness_finish([fairness_counts(t, columns, params, progress=progress)], params, min_group_size)


def fairness_counts(
    t: Table, columns: dict[str, Any], params: dict[str, Any], *, progress: Progress | None = None
) -> dict[str, Any]:
    """The table's confusion counts (and weight sums) per group, after checking every row: a plain-JSON
    partial; the partials of disjoint row ranges concatenate (``fairness_finish``)."""
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
        progress("validated", 0.3, 0)
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
        if _one_row(t.con, f"SELECT count(*) FROM src WHERE {bad}")[0]:
            _fail("columns.sample_weight", f"contains NaN or infinite value at row {t.first_bad_row(bad)}")
        if _one_row(t.con, f"SELECT count(*) FROM src WHERE {w} < 0")[0]:
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
        progress("counted", 0.9, t.rows)
    return {"names": names_cols, "kinds": kinds, "weighted": weighted, "used": used, "rows": [list(r) for r in rows]}


def fairness_finish(parts: list[dict[str, Any]], params: dict[str, Any], min_group_size: int) -> dict[str, Any]:
    """``compute_fairness``'s result from the counts of one table or of its row ranges."""
    names_cols, kinds, weighted, used = (parts[0][k] for k in ("names", "kinds", "weighted", "used"))
    rows = [row for part in parts for row in part["rows"]]
    k = len(names_cols)
    cells: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
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


# Numeric features are compared with the reference without sorting the current sample. The reference
# (at most EVALUATION_SYNC_MAX_ROWS rows, held in memory) has distinct values u_0 < ... < u_{K-1};
# they cut the line into gaps (u_{k-1}, u_k). On a gap the reference eCDF is constant, and the current
# eCDF only rises, so:
# - KS: |F_ref - F_cur| over a gap is largest at one of its two ends, where F_cur is "current values
#   <= u_{k-1}" and "current values < u_k": two counts per reference value give D exactly, with the
#   same floating-point operations as ``drift.numeric_stats`` (so the same bits).
# - Wasserstein-1, the integral of |F_ref - F_cur|: on a gap where F_cur stays on one side of F_ref the
#   integral is linear in the gap's count and in the sum of (u_k - x) over its current values. Only
#   a gap where F_cur crosses F_ref needs its values themselves; there are few such gaps (the crossing
#   points of two eCDFs), and a second scan collects just the values that fall in them.
# - PSI / JS: current values below each reference decile.
# All of these are sums over rows, so the statistics of row ranges add up (``NumericAcc.merge``):
# batches of one scan, or the chunks of a fanned-out evaluation. Each batch is sorted in memory
# (numpy) to place it among the reference values; nothing is sorted beyond one batch.

CROSSING_VALUES_MAX = 1 << 25  # values held at once by the second scan (it scans again per group)


@dataclass
class NumericRef:
    """A numeric feature's reference sample, prepared for the merge."""

    n: int
    u: np.ndarray  # distinct values, ascending
    rcum: np.ndarray  # reference values <= u_k (int64)
    edges: np.ndarray  # PSI edges (reference deciles)
    bins: np.ndarray  # reference values per PSI bin
    std: float  # of the reference values (population)

    @classmethod
    def of(cls, ref: np.ndarray) -> NumericRef:
        r = np.sort(np.asarray(ref, dtype=np.float64))
        u, counts = np.unique(r, return_counts=True)
        edges = np.quantile(r, drift_core.PSI_QUANTILES)
        bins = np.diff(np.concatenate([[0], np.searchsorted(r, edges, side="left"), [len(r)]]))
        return cls(n=len(r), u=u, rcum=np.cumsum(counts), edges=edges, bins=bins, std=float(np.std(r)))


@dataclass
class NumericAcc:
    """Exact, mergeable statistics of current values against a ``NumericRef`` (see above)."""

    lt: np.ndarray  # (K,) current values < u_k
    le: np.ndarray  # (K,) current values <= u_k
    s: np.ndarray  # (K+1,) gap k < K: sum of (u_k - x) over its values; gap K (above u_{K-1}): sum of (u_{K-1} - x)
    below: np.ndarray  # current values < each PSI edge
    m: int = 0

    @classmethod
    def empty(cls, ref: NumericRef, total_rows: int | None = None) -> NumericAcc:
        """``total_rows``: the most current values there will be; below 2**31 the per-value counts are
        held as int32 (half the memory of 20 features x 1M reference values)."""
        k = len(ref.u)
        dtype = np.int32 if total_rows is not None and total_rows < 2**31 else np.int64
        z = np.zeros(k, dtype=dtype)
        return cls(lt=z, le=z.copy(), s=np.zeros(k + 1), below=np.zeros(len(ref.edges), dtype=np.int64))

    def add(self, x: np.ndarray, ref: NumericRef) -> None:
        """Add a batch of finite current values."""
        b = len(x)
        if b == 0:
            return
        xs = np.sort(x)
        u = ref.u
        lt = np.searchsorted(xs, u, side="left")
        le = lt.copy()
        hit = xs[np.minimum(lt, b - 1)] == u
        if hit.any():
            le[hit] = np.searchsorted(xs, u[hit], side="right")
        # block k = gap k then the values equal to u_k: xs[le[k-1]:le[k]] (the last block: above u_{K-1})
        starts = np.empty(len(u) + 1, dtype=np.int64)
        starts[0] = 0
        starts[1:] = le
        lens = np.diff(starts, append=b)
        d = np.repeat(np.append(u, u[-1]), lens)
        np.subtract(d, xs, out=d)  # u_k - x: 0 for the values equal to u_k
        nonempty = lens > 0
        self.s[nonempty] += np.add.reduceat(d, starts[nonempty])
        self.lt += lt.astype(self.lt.dtype, copy=False)
        self.le += le.astype(self.le.dtype, copy=False)
        self.below += np.searchsorted(xs, ref.edges, side="left")
        self.m += b

    def merge(self, other: NumericAcc) -> None:
        if self.lt.dtype != np.int64 and self.m + other.m >= 2**31:
            self.lt, self.le = self.lt.astype(np.int64), self.le.astype(np.int64)
        self.lt += other.lt.astype(self.lt.dtype, copy=False)
        self.le += other.le.astype(self.le.dtype, copy=False)
        self.s += other.s
        self.below += other.below
        self.m += other.m

    def crossing_gaps(self, ref: NumericRef) -> np.ndarray:
        """Gaps k (1..K-1) where the current eCDF crosses the reference's (strictly inside the gap)."""
        n, m = ref.n, self.m
        rk = ref.rcum[:-1]
        c0, c1 = self.le[:-1].astype(np.int64), self.lt[1:].astype(np.int64)
        return np.flatnonzero((rk * m > c0 * n) & (rk * m < c1 * n)) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"lt": self.lt, "le": self.le, "s": self.s, "below": self.below, "m": self.m}


def numeric_finish(ref: NumericRef, acc: NumericAcc, crossing: dict[int, np.ndarray]) -> dict[str, Any]:
    """``drift.numeric_stats`` from the merged statistics and the sorted current values of each
    crossing gap (``crossing``: gap -> values)."""
    from scipy.spatial.distance import jensenshannon

    n, m = ref.n, acc.m
    u, rcum = ref.u, ref.rcum
    # KS: at every reference value, and at the top of every gap (the last current value below u_k)
    at_u = np.abs(rcum / n - acc.le / m)
    top = np.abs(rcum[:-1] / n - acc.lt[1:] / m)
    d = float(max(at_u.max(), top.max(initial=0.0), acc.lt[0] / m))
    # Wasserstein-1
    rk, c0, c1 = rcum[:-1], acc.le[:-1].astype(np.int64), acc.lt[1:].astype(np.int64)
    a = rk / n
    lvl0 = c0 / m
    width = np.diff(u)
    s_m = acc.s[1:-1] / m
    parts = np.where(rk * m >= c1 * n, (a - lvl0) * width - s_m, (lvl0 - a) * width + s_m)
    cross = np.flatnonzero((rk * m > c0 * n) & (rk * m < c1 * n))
    parts[cross] = 0.0
    extra = []
    for k in cross + 1:
        vals = crossing.get(int(k))
        count = int(acc.lt[k] - acc.le[k - 1])
        if vals is None or len(vals) != count:
            raise RuntimeError(f"crossing gap {k}: {0 if vals is None else len(vals)} values, expected {count}")
        pts = np.concatenate(([u[k - 1]], vals, [u[k]]))
        levels = (acc.le[k - 1] + np.arange(count + 1)) / m
        extra.append(float(np.sum(np.abs(rcum[k - 1] / n - levels) * np.diff(pts))))
    w = math.fsum([acc.s[0] / m, -acc.s[-1] / m, *parts.tolist(), *extra])
    wn = w / max(ref.std, drift_core.WASSERSTEIN_STD_FLOOR)
    rb = ref.bins
    cb = np.diff(np.concatenate([[0], acc.below, [m]]))
    rp, cp = rb / n, cb / m
    return {
        "ks_statistic": d,
        "ks_pvalue": drift_core.ks_pvalue(d, n, m),
        "wasserstein": w,
        "wasserstein_normalized": wn,
        "psi": drift_core._psi(rp, cp),
        "js_distance": float(jensenshannon(rp, cp, base=2)),
        "psi_edges": ref.edges,
    }


def _crossing_bounds(ref: NumericRef, gaps: np.ndarray) -> np.ndarray:
    bounds = np.empty(2 * len(gaps))
    bounds[0::2] = ref.u[gaps - 1]
    bounds[1::2] = ref.u[gaps]
    return bounds


def crossing_values(x: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gap position in the crossing list, value) of the values of ``x`` strictly inside a crossing gap."""
    pos = np.searchsorted(bounds, x, side="left")
    inside = (pos & 1).astype(bool)
    idx = np.flatnonzero(inside)
    vals = x[idx]
    keep = vals != bounds[pos[idx]]
    return pos[idx][keep] >> 1, vals[keep]


def group_crossing_values(gaps: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
    """gap -> its sorted values, from the (position, value) pairs of ``crossing_values``."""
    if not parts:
        return {}
    pos = np.concatenate([p for p, _v in parts])
    vals = np.concatenate([v for _p, v in parts])
    order = np.lexsort((vals, pos))
    pos, vals = pos[order], vals[order]
    starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]]) if len(pos) else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], len(pos)]
    return {int(gaps[pos[s]]): vals[s:e] for s, e in zip(starts, ends, strict=True)}


# ---------------------------------------------------------------------------------------------
# categorical features: counts per category (mergeable)
# ---------------------------------------------------------------------------------------------


def _category_counts(arr: Any, kind: str, fname: str, into: dict[Any, int]) -> None:
    import pyarrow.compute as pc

    vc = pc.value_counts(arr)
    for value, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
        if kind == "bool":
            value = "true" if value else "false"
        elif kind == "float":
            if value != math.floor(value):
                _fail(fname, "column is declared categorical but contains non-integer numbers")
            value = int(value)
        into[value] = into.get(value, 0) + int(c)


def categorical_finish(ref: np.ndarray, counts: dict[Any, int]) -> dict[str, Any]:
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

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


# ---------------------------------------------------------------------------------------------
# drift: one scan of the feature columns (plus a short second scan for the crossing gaps)
# ---------------------------------------------------------------------------------------------


@dataclass
class DriftFeature:
    name: str
    ftype: str  # NUMERIC / CATEGORICAL
    kind: str  # the column's kind in the file (bool/int/float/str)
    ref: np.ndarray
    num: NumericRef | None = None

    @property
    def fname(self) -> str:
        return f"columns.features[{self.name!r}]"


@dataclass
class DriftPartial:
    """The mergeable statistics of a range of rows: per numeric feature a ``NumericAcc`` (or, for a
    small sample, its values), per categorical feature its counts."""

    rows: int = 0
    numeric: dict[str, NumericAcc] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)  # small samples: the values themselves
    categories: dict[str, dict[Any, int]] = field(default_factory=dict)

    def merge(self, other: DriftPartial) -> None:
        self.rows += other.rows
        for name, acc in other.numeric.items():
            if name in self.numeric:
                self.numeric[name].merge(acc)
            else:
                self.numeric[name] = acc
        for name, vals in other.values.items():
            self.values.setdefault(name, []).extend(vals)
        for name, counts in other.categories.items():
            mine = self.categories.setdefault(name, {})
            for k, c in counts.items():
                mine[k] = mine.get(k, 0) + c


SCAN_MEMORY_LIMIT = 256 * 1024**2


def _scan_memory(t: Table) -> None:
    """Drift only streams the columns (nothing to sort or aggregate in DuckDB): the engine's buffers are
    capped lower, leaving the process's memory to the reference and the per-value statistics."""
    current = _one_row(t.con, "SELECT current_setting('memory_limit')")[0]
    t.con.execute(f"SET memory_limit = '{SCAN_MEMORY_LIMIT // 1024**2}MB'")
    t.memory_limit = str(current)  # what it was (the crossing scan streams too: it keeps the cap)


def drift_plan(t: Table, columns: dict[str, Any], params: dict[str, Any], reference: Parsed) -> list[DriftFeature]:
    """Check the features against the file and the reference; the features in name order."""
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
    plan = []
    for name in sorted(feats):
        fname = f"columns.features[{name!r}]"
        if name not in ref_types:
            _fail("columns.features", f"feature {name!r} is in the current sample but not in the reference")
        kind = t.columns[name]
        if kind not in ("bool", "int", "float", "str"):
            _fail(fname, f"column {name!r} has unsupported type {kind}")
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
            plan.append(DriftFeature(name, ftype, kind, ref))
        else:
            plan.append(DriftFeature(name, ftype, kind, ref, NumericRef.of(ref)))
    return plan


def _numbers(arr: Any, feature: DriftFeature, offset: int) -> np.ndarray:
    """A batch's column as finite float64 (int64 for an integer column of a small sample)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if arr.null_count:
        first = int(np.argmax(arr.is_null().to_numpy(zero_copy_only=False)))
        _fail(feature.fname, f"column {feature.name!r} has missing values (the first at row {offset + first + 1})")
    x: np.ndarray = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    finite = np.isfinite(x)
    if not finite.all():
        _fail(feature.fname, f"contains NaN or infinite value at row {offset + int(np.argmin(finite)) + 1}")
    return x


def drift_scan(
    t: Table,
    plan: list[DriftFeature],
    *,
    total_rows: int,
    threads: int = 2,
    start: int = 0,
    stop: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> DriftPartial:
    """The first (and main) scan over rows [start, stop): every feature's mergeable statistics."""
    from concurrent.futures import ThreadPoolExecutor

    part = DriftPartial()
    small = {f.name for f in plan if f.num is not None and max(f.num.n, total_rows) <= drift_core.EXACT_KS_MAX_N}
    for f in plan:
        if f.num is None:
            part.categories[f.name] = {}
        elif f.name in small:
            part.values[f.name] = []
        else:
            part.numeric[f.name] = NumericAcc.empty(f.num, total_rows)

    def one(f: DriftFeature, arr: Any, offset: int) -> None:
        if f.num is None:
            if arr.null_count:
                first = int(np.argmax(arr.is_null().to_numpy(zero_copy_only=False)))
                _fail(f.fname, f"column {f.name!r} has missing values (the first at row {offset + first + 1})")
            _category_counts(arr, f.kind, f.fname, part.categories[f.name])
            return
        x = _numbers(arr, f, offset)
        if f.name in small:
            part.values[f.name].append(x.astype(np.int64) if f.kind == "int" else x)
        else:
            part.numeric[f.name].add(x, f.num)

    names = [f.name for f in plan]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for offset, batch in t.scan(names, start=start, stop=stop):
            futures = [pool.submit(one, f, batch.column(i), offset) for i, f in enumerate(plan)]
            for fut in futures:  # in feature order: the first feature's error is the one reported
                fut.result()
            part.rows += batch.num_rows
            if on_batch:
                on_batch(batch.num_rows)
    return part


def crossing_groups(plan: list[DriftFeature], part: DriftPartial) -> list[dict[str, np.ndarray]]:
    """The crossing gaps of each numeric feature, in groups of at most CROSSING_VALUES_MAX values
    (one second scan per group)."""
    groups: list[dict[str, np.ndarray]] = []
    current: dict[str, np.ndarray] = {}
    held = 0
    for f in plan:
        acc = part.numeric.get(f.name)
        if acc is None or f.num is None:
            continue
        gaps = acc.crossing_gaps(f.num)
        if not len(gaps):
            continue
        sizes = acc.lt[gaps] - acc.le[gaps - 1]
        cut = 0
        while cut < len(gaps):
            room = CROSSING_VALUES_MAX - held
            take = int(np.searchsorted(np.cumsum(sizes[cut:]), room, side="right"))
            if take == 0 and held == 0:
                take = 1  # one gap larger than the budget: it is held alone
            if take == 0:
                groups.append(current)
                current, held = {}, 0
                continue
            current[f.name] = np.concatenate([current.get(f.name, np.zeros(0, dtype=np.int64)), gaps[cut : cut + take]])
            held += int(sizes[cut : cut + take].sum())
            cut += take
    if current:
        groups.append(current)
    return groups


def crossing_scan(
    t: Table, plan: list[DriftFeature], group: dict[str, np.ndarray], *, start: int = 0, stop: int | None = None
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The second scan over rows [start, stop): the values inside the crossing gaps of ``group``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by_name = {f.name: f for f in plan}
    names = sorted(group)
    bounds = {name: _crossing_bounds(by_name[name].num, group[name]) for name in names}  # type: ignore[arg-type]
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in names}
    for _offset, batch in t.scan(names, start=start, stop=stop):
        for i, name in enumerate(names):
            x = pc.cast(batch.column(i), pa.float64()).to_numpy(zero_copy_only=False)
            pos, vals = crossing_values(x, bounds[name])
            if len(vals):
                out[name].append((pos, vals))
    return out


def drift_finish(
    plan: list[DriftFeature], part: DriftPartial, crossing: dict[str, dict[int, np.ndarray]], params: dict[str, Any]
) -> dict[str, Any]:
    """``compute_drift``'s result from the merged statistics."""
    per_feature = []
    for f in plan:
        if f.num is None:
            s = categorical_finish(f.ref, part.categories[f.name])
            m = sum(part.categories[f.name].values())
        elif f.name in part.values:
            vals = part.values[f.name]
            cur = np.concatenate(vals) if vals else np.zeros(0)
            s = drift_core.numeric_stats(f.ref, cur)
            m = len(cur)
        else:
            acc = part.numeric[f.name]
            s = numeric_finish(f.num, acc, crossing.get(f.name, {}))
            m = acc.m
        per_feature.append((f.name, f.ftype, len(f.ref), m, s))
    used = {"categorical": sorted(f.name for f in plan if f.ftype == CATEGORICAL)}
    p = drift_core.validate_params(params, Parsed(kind="drift", arrays={}, params=used))
    return drift_core.drift_from_stats(per_feature, p)


def drift(
    t: Table,
    columns: dict[str, Any],
    params: dict[str, Any],
    reference: Parsed,
    *,
    threads: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``compute_drift`` of the table (the current sample) against an in-memory reference sample."""
    plan = drift_plan(t, columns, params, reference)
    _scan_memory(t)
    read = [0]

    def on_batch(rows: int) -> None:
        read[0] += rows
        if progress:
            progress("reading", read[0] / t.rows, read[0])

    part = drift_scan(t, plan, total_rows=t.rows, threads=threads, on_batch=on_batch)
    crossing: dict[str, dict[int, np.ndarray]] = {}
    groups = crossing_groups(plan, part)
    for i, group in enumerate(groups):
        found = crossing_scan(t, plan, group)
        for name, parts in found.items():
            crossing.setdefault(name, {}).update(group_crossing_values(group[name], parts))
        if progress:
            progress(f"crossing gaps {i + 1}/{len(groups)}", 1.0, t.rows)
    return drift_finish(plan, part, crossing, params)


# ---------------------------------------------------------------------------------------------
# performance: AUC (DeLong), KS and the rest from the positives and negatives per distinct score
# ---------------------------------------------------------------------------------------------


def performance(
    t: Table, columns: dict[str, Any], params: dict[str, Any], *, progress: Progress | None = None
) -> dict[str, Any]:
    """``compute_performance`` over the table. DuckDB groups the rows by score (positives and negatives
    per distinct score, spilled to disk and stored in score order); two streams over that sorted table
    give AUC with its DeLong variance, KS, the KS bootstrap cells, the Brier and log-loss moments and
    the calibration bins: the same summary the in-memory path computes from its sort of the rows
    (``performance.ScoreGroups``)."""
    p, groups_sql = performance_groups(t, columns, params)
    if progress:
        progress("validated", 0.2, 0)
    t.con.execute(f"CREATE TABLE score_groups AS {groups_sql} ORDER BY s")
    if progress:
        progress("grouped by score", 0.6, t.rows)
    return performance_from_groups(t, p, progress=progress)


def performance_params(params: dict[str, Any]) -> dict[str, Any]:
    """The performance parameters validated as the in-memory kernel does."""
    from . import performance as perf
    from .inputs import threshold_param

    return perf.validate_params(
        params, Parsed(kind="performance", arrays={}, params={"threshold": threshold_param(params)})
    )


def performance_groups(t: Table, columns: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the validated parameters, the SQL that counts the positives and negatives per distinct score of
    ``src``), after checking every row. The counts of disjoint row ranges add up per score."""

    for key in columns:
        if key not in ("y_true", "y_score"):
            _fail(f"columns.{key}", "unknown key (expected: y_score, y_true)")
    for key in ("y_true", "y_score"):
        if not isinstance(columns.get(key), str) or not columns[key]:
            _fail(f"columns.{key}", "is required")
        t.column(columns[key], f"columns.{key}")
    for key in ("y_true", "y_score"):
        _no_nulls(t, columns[key], f"columns.{key}")
    yt = _label_expr(t, columns["y_true"], "columns.y_true")
    sc = _score_expr(t, columns["y_score"], "columns.y_score")
    p = performance_params(params)
    groups_sql = (
        "SELECT s, CAST(sum(y) AS DOUBLE) AS pos, CAST(count(*) - sum(y) AS DOUBLE) AS neg "
        f"FROM (SELECT CASE WHEN {sc} = 0 THEN 0.0 ELSE {sc} END AS s, {yt} AS y FROM src) GROUP BY s"
    )
    return p, groups_sql


def performance_from_groups(t: Table, p: dict[str, Any], *, progress: Progress | None = None) -> dict[str, Any]:
    """``compute_performance``'s result from the table ``score_groups`` (s, pos, neg) in ``t.con``, one
    row per distinct score in ascending order (of one table, or the merged counts of its row ranges)."""
    from . import performance as perf

    groups, P, N = _one_row(t.con, "SELECT count(*), sum(pos), sum(neg) FROM score_groups")
    groups, P, N = int(groups), float(P), float(N)
    n = int(P + N)
    thr = p["threshold"]
    tp, fp = _one_row(
        t.con, f"SELECT coalesce(sum(pos), 0), coalesce(sum(neg), 0) FROM score_groups WHERE s >= {thr!r}"
    )
    tp, fp = int(tp), int(fp)
    n_pos = int(P)
    fn = n_pos - tp
    tn = n - tp - fp - fn
    both = P > 0 and N > 0

    def stream() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        last = -math.inf
        for batch in t.batches("SELECT s, pos, neg FROM score_groups"):
            v = batch.column(0).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            if len(v) == 0:
                continue
            if not (v[0] > last and np.all(v[1:] > v[:-1])):
                raise RuntimeError("the score groups were not read in score order")
            last = float(v[-1])
            yield (
                v,
                batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64, copy=False),
                batch.column(2).to_numpy(zero_copy_only=False).astype(np.float64, copy=False),
            )

    def terms(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pc = np.clip(v, perf.EPS, 1 - perf.EPS)
        return (1.0 - v) ** 2, (-v) ** 2, -np.log(pc), -np.log(1 - pc)  # brier (y=1, y=0), log loss (y=1, y=0)

    bins = 10
    edges = np.linspace(0.0, 1.0, bins + 1)
    cnt, ssum, ysum = np.zeros(bins), np.zeros(bins), np.zeros(bins)
    exact_cells = groups <= perf.KS_CELLS
    small_pos: list[np.ndarray] = []
    small_neg: list[np.ndarray] = []
    cpos, cneg, present = np.zeros(perf.KS_CELLS), np.zeros(perf.KS_CELLS), np.zeros(perf.KS_CELLS, dtype=bool)
    ks = 0.0
    auc_parts, m10_parts, b_parts, l_parts = [], [], [], []
    pos_before = neg_before = 0.0
    roc = perf.RocAccumulator(P, N, groups)
    for v, pos, neg in stream():  # first stream: sums, KS, cells, calibration, ROC points
        roc.feed(v, pos, neg)
        cp = pos_before + np.cumsum(pos)
        cn = neg_before + np.cumsum(neg)
        if both:
            ks = max(ks, float(np.max(np.abs(cp / P - cn / N))))
            auc_parts.append(float(pos @ ((cn - neg + 0.5 * neg) / N)))
            m10_parts.append(float(neg @ (1.0 - (cp - pos + 0.5 * pos) / P)))
        b1, b0, l1, l0 = terms(v)
        b_parts.append(float(pos @ b1 + neg @ b0))
        l_parts.append(float(pos @ l1 + neg @ l0))
        idx = np.searchsorted(edges[1:-1], v, side="right")
        size = pos + neg
        cnt += np.bincount(idx, weights=size, minlength=bins)
        ssum += np.bincount(idx, weights=v * size, minlength=bins)
        ysum += np.bincount(idx, weights=pos, minlength=bins)
        if exact_cells:
            small_pos.append(pos)
            small_neg.append(neg)
        else:
            before = (pos_before + neg_before) + np.cumsum(size) - size
            cell = np.floor(before * perf.KS_CELLS / float(n)).astype(np.int64)
            cpos += np.bincount(cell, weights=pos, minlength=perf.KS_CELLS)
            cneg += np.bincount(cell, weights=neg, minlength=perf.KS_CELLS)
            present |= np.bincount(cell, minlength=perf.KS_CELLS) > 0
        pos_before, neg_before = float(cp[-1]), float(cn[-1])
    auc = math.fsum(auc_parts) / P if both else None
    m10 = math.fsum(m10_parts) / N if both else None
    mb, ml = math.fsum(b_parts) / n, math.fsum(l_parts) / n
    if progress:
        progress("AUC", 0.8, t.rows)
    sx_parts, sy_parts = [], []
    mom: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in ("b", "l")}
    pos_before = neg_before = 0.0
    for v, pos, neg in stream():  # second stream: DeLong variance, central moments of the per-row terms
        cp = pos_before + np.cumsum(pos)
        cn = neg_before + np.cumsum(neg)
        if both:
            sx_parts.append(float(pos @ ((cn - neg + 0.5 * neg) / N - auc) ** 2))
            sy_parts.append(float(neg @ ((1.0 - (cp - pos + 0.5 * pos) / P) - m10) ** 2))
        b1, b0, l1, l0 = terms(v)
        for key, mean, t1, t0 in (("b", mb, b1, b0), ("l", ml, l1, l0)):
            d1, d0 = t1 - mean, t0 - mean
            mom[key][0].append(float(pos @ (d1 * d1) + neg @ (d0 * d0)))
            mom[key][1].append(float(pos @ (d1 * d1 * d1) + neg @ (d0 * d0 * d0)))
        pos_before, neg_before = float(cp[-1]), float(cn[-1])
    auc_var = None
    if both and auc is not None:
        sx = math.fsum(sx_parts) / (P - 1) if P > 1 else 0.0
        sy = math.fsum(sy_parts) / (N - 1) if N > 1 else 0.0
        auc_var = (auc, sx / P + sy / N)
    if exact_cells:
        cells = (
            np.concatenate(small_pos) if small_pos else np.zeros(0),
            np.concatenate(small_neg) if small_neg else np.zeros(0),
            True,
        )
    else:
        cells = (cpos[present], cneg[present], False)
    summary = perf.PerformanceSummary(
        n=n,
        n_pos=n_pos,
        confusion=(tp, fp, fn, tn),
        auc_var=auc_var,
        ks=min(ks, 1.0) if both else None,
        brier=perf.TermMoments(n, mb, math.fsum(mom["b"][0]) / n, math.fsum(mom["b"][1]) / n),
        log_loss=perf.TermMoments(n, ml, math.fsum(mom["l"][0]) / n, math.fsum(mom["l"][1]) / n),
        ks_cells=cells,
        calibration=perf.calibration_rows(cnt.astype(np.int64), ssum, ysum),
        roc_curve=roc.result(),
    )
    return perf.performance_result(summary, p)


# ---------------------------------------------------------------------------------------------
# CSV row ranges: one pass finds line starts at byte offsets; each range is read on its own
# ---------------------------------------------------------------------------------------------

# A CSV has no row groups to seek to, so a plain (uncompressed) CSV is split by bytes: one pass over the
# file (numpy, blocks of CSV_SPLIT_BLOCK bytes) finds, after each of the target offsets size * i / parts,
# the start of the next record, and counts the records before it. A newline ends a record only outside
# quotes: with the reader's dialect (quote and escape '"'), a newline is inside a quoted field exactly
# when an odd number of '"' precede it, provided every quote sits where the dialect puts one (an opening
# quote at the start of a field, a closing quote at its end, an escaped quote doubled). The pass checks
# that too: a file with a stray quote (`ab"c`, which the engine reads as a literal character) is not
# split and runs on one worker with the reason recorded. Quoted newlines themselves are handled.
# Each range knows the data rows and the lines before it (the engine skips a blank line but counts it in
# its line numbers), so a bad row is named by its file-wide row number. The dialect and the column types
# come from one sniff of the whole file (DuckDB's ``sniff_csv``: the same detection as the single-worker
# read) and are given to every range, so each range parses exactly as that part of the whole file does.

CSV_SPLIT_BLOCK = 1 << 24
_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13


@dataclass
class CsvSplit:
    """How a CSV is split: ``ranges`` (byte start, byte stop, data rows before, lines before, rows) and
    the read options every range is read with; ``reason`` says why it is not split (``ranges`` empty)."""

    rows: int = 0
    header_end: int = 0  # byte offset after the header line
    options: dict[str, Any] = field(default_factory=dict)
    ranges: list[dict[str, int]] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "header_end": self.header_end, "options": self.options, "ranges": self.ranges}


def _csv_options(con: DuckDBPyConnection, path: str) -> dict[str, Any] | str:
    """The dialect and column types DuckDB detects for the whole file (what ``open_table`` reads it
    with), as explicit ``read_csv`` options; or why they cannot be given to row ranges."""
    import duckdb

    try:
        cursor = con.execute(
            f"SELECT * FROM sniff_csv({_lit(path)}, header = true, delim = ',', quote = '\"', escape = '\"')"
        )
        names = [d[0] for d in cursor.description or []]
        row = cursor.fetchone()
    except duckdb.Error as exc:
        return f"the CSV could not be sniffed ({str(exc).splitlines()[0]})"
    assert row is not None
    sniffed = dict(zip(names, row, strict=True))
    if int(sniffed.get("SkipRows") or 0) != 0:
        return "the CSV starts with lines before its header"
    if str(sniffed.get("Comment") or "(empty)") not in ("(empty)", ""):
        return "the CSV has comment lines"
    new_line = str(sniffed.get("NewLineDelimiter") or "")
    if new_line not in ("\\n", "\\r\\n"):
        return f"the CSV's lines end with {new_line!r}, not a line feed"
    options: dict[str, Any] = {
        "new_line": new_line,
        "columns": [[c["name"], c["type"]] for c in sniffed["Columns"]],
    }
    for key, option in (("DateFormat", "dateformat"), ("TimestampFormat", "timestampformat")):
        if sniffed.get(key):
            options[option] = str(sniffed[key])
    return options


def _csv_read_sql(path: str, options: dict[str, Any]) -> str:
    columns = "{" + ", ".join(f"{_lit(name)}: {_lit(kind)}" for name, kind in options["columns"]) + "}"
    extra = "".join(f", {key} = {_lit(options[key])}" for key in ("dateformat", "timestampformat") if key in options)
    return (
        f"read_csv({_lit(path)}, auto_detect = false, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"new_line = {_lit(options['new_line'])}, skip = 0, comment = '', columns = {columns}{extra})"
    )


def csv_first_look(path: Any) -> tuple[int, str]:
    """(about how many data rows the CSV has, from the lines of its first ``CSV_SPLIT_BLOCK`` bytes; why
    it cannot be split, when its first bytes tell): lets a small or compressed file skip the splitting
    pass. The estimate is not exact (quoted newlines and blank lines count as lines)."""
    if not isinstance(path, (str, Path)):
        return 0, "the input is not a file the workers can read by path"
    with _open_binary(str(path)) as raw:
        head = raw.read(CSV_SPLIT_BLOCK)
        size = raw.seek(0, 2)
    if csv_compression(head[:8]) != "none":
        return 0, "a compressed CSV has no byte offsets to split at (decompressed as one stream)"
    lines = head.count(b"\n") + int(bool(head) and not head.endswith(b"\n") and len(head) == size)
    return max(int(lines * size / max(len(head), 1)) - 1, 0), ""


def csv_split(path: Any, parts: int, *, max_bytes: int | None = None, progress: Progress | None = None) -> CsvSplit:
    """Split the CSV at ``path`` into at most ``parts`` row ranges of about equal bytes (see above), or
    say why it is not split (``progress``: the share of its bytes read). Raises only for a file over
    ``max_bytes`` (as ``open_table`` would)."""
    if not isinstance(path, (str, Path)):
        return CsvSplit(reason="the input is not a file the workers can read by path")
    path = str(path)
    with _open_binary(path) as raw:
        if csv_compression(raw.read(8)) != "none":
            return CsvSplit(reason="a compressed CSV has no byte offsets to split at (decompressed as one stream)")
        size = raw.seek(0, 2)
    if max_bytes is not None and size > max_bytes:
        _too_large(f"the CSV decompresses to more than {max_bytes} bytes", "EVALUATION_OUT_OF_CORE_MAX_BYTES")
    import duckdb

    con = duckdb.connect()
    try:
        options = _csv_options(con, path)
    finally:
        con.close()
    if isinstance(options, str):
        return CsvSplit(reason=options)
    targets = [size * i // parts for i in range(1, parts)]
    boundaries: list[tuple[int, int, int]] = []  # (byte offset of a record start, lines before, rows before)
    quoted = False  # inside a quoted field after the bytes read so far
    lines = blanks = 0  # records ended (the header's included), blank ones among them
    last_nl = -1  # the last newline outside quotes
    prev_byte = -1
    header_end = 0
    with open(path, "rb") as handle:
        offset = 0
        block = handle.read(CSV_SPLIT_BLOCK)
        while block:
            ahead = handle.read(CSV_SPLIT_BLOCK)
            a = np.frombuffer(block, dtype=np.uint8)
            is_quote = a == _QUOTE
            nl = np.flatnonzero(a == _LF)
            if quoted or is_quote.any():
                # inside[i]: byte i is followed by the inside of a quoted field (the parity of the quotes so far)
                inside = np.bitwise_xor.accumulate(is_quote.view(np.uint8))
                if quoted:
                    inside ^= 1
                q = np.flatnonzero(is_quote)
                opening = inside[q] == 1
                before = a[np.maximum(q - 1, 0)].astype(np.int16)
                nxt = a[np.minimum(q + 1, len(a) - 1)].astype(np.int16)
                if len(q) and q[0] == 0:
                    before[0] = prev_byte
                if len(q) and q[-1] == len(a) - 1:
                    nxt[-1] = ahead[0] if ahead else -1
                fits_open = (before == _COMMA) | (before == _LF) | (before == _QUOTE) | (before == -1)
                fits_close = (nxt == _COMMA) | (nxt == _CR) | (nxt == _LF) | (nxt == _QUOTE) | (nxt == -1)
                stray = np.where(opening, ~fits_open, ~fits_close)
                if stray.any():
                    at = offset + int(q[int(np.argmax(stray))])
                    return CsvSplit(
                        reason=f"a quote at byte {at} is not at the start or end of a field (read as a character)"
                    )
                nl = nl[inside[nl] == 0]
                quoted = bool(inside[-1])
            if len(nl):
                g = nl.astype(np.int64) + offset
                prev = np.empty_like(g)
                prev[0] = last_nl
                prev[1:] = g[:-1]
                byte_before = a[np.maximum(nl - 1, 0)].astype(np.int16)
                byte_before[nl == 0] = prev_byte
                blank = (g - prev == 1) | ((g - prev == 2) & (byte_before == _CR))
                if lines == 0:
                    if blank[0]:
                        return CsvSplit(reason="the CSV's first line (its header) is blank")
                    header_end = int(g[0]) + 1
                blank_before = np.cumsum(blank)
                while targets and targets[0] - 1 <= g[-1]:
                    i = int(np.searchsorted(g, targets.pop(0) - 1, side="left"))
                    start = int(g[i]) + 1
                    if start <= header_end or (boundaries and start <= boundaries[-1][0]) or start >= size:
                        continue
                    ended = lines + i + 1
                    boundaries.append((start, ended - 1, ended - blanks - int(blank_before[i]) - 1))
                lines += len(g)
                blanks += int(blank_before[-1])
                last_nl = int(g[-1])
            prev_byte = int(a[-1])
            offset += len(a)
            block = ahead
            if progress:
                progress("finding the row ranges", offset / max(size, 1), None)
    if quoted:
        return CsvSplit(reason="the CSV ends inside a quoted field")
    if lines == 0:
        return CsvSplit(reason="the CSV has no line after its header")
    tail = size - (last_nl + 1)
    last_record = tail > 0 and not (tail == 1 and prev_byte == _CR)  # a last line without its newline
    rows = lines - 1 - blanks + int(last_record)  # the header is not a row, nor is a blank line
    starts = [(header_end, 0, 0), *boundaries]
    ranges = []
    for i, (start, lines_before, rows_before) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else size
        rows_after = starts[i + 1][2] if i + 1 < len(starts) else rows
        ranges.append(
            {"start": start, "stop": stop, "row": rows_before, "line": lines_before, "rows": rows_after - rows_before}
        )
    return CsvSplit(rows=rows, header_end=header_end, options=options, ranges=ranges)


def _csv_range_file(path: str, split: dict[str, Any], rng: dict[str, int], target: Path) -> None:
    """The header line and the bytes of one range, as a CSV of its own."""
    with open(path, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read(split["header_end"]))
        src.seek(rng["start"])
        left = rng["stop"] - rng["start"]
        while left > 0:
            block = src.read(min(left, CSV_SPLIT_BLOCK))
            if not block:
                raise RuntimeError(f"the CSV ended at byte {rng['start'] + rng['stop'] - rng['start'] - left}")
            dst.write(block)
            left -= len(block)


def open_csv_range(
    path: str, split: dict[str, Any], rng: dict[str, int], *, workdir: str, memory_limit: str = "1GB", threads: int = 2
) -> Table:
    """One row range of a split CSV (``CsvSplit.as_dict`` and one of its ``ranges``) loaded as ``src``,
    read with the whole file's dialect and column types; its rows are numbered as in the file."""
    import duckdb

    piece = Path(workdir) / "range.csv"
    _csv_range_file(path, split, rng, piece)
    con = _connect(workdir, memory_limit, threads)
    try:
        con.execute(f"CREATE TABLE src AS SELECT * FROM {_csv_read_sql(str(piece), split['options'])}")
    except duckdb.Error as exc:
        con.close()
        _read_failed(exc, "csv", lines_before=rng["line"])
    finally:
        piece.unlink()
    described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
    rows = int(_one_row(con, "SELECT count(*) FROM src")[0])
    if rows != rng["rows"]:
        con.close()
        raise RuntimeError(
            f"the CSV range at bytes {rng['start']}-{rng['stop']} has {rows} rows, {rng['rows']} expected"
        )
    columns = {name: (_type_kind(t) or t) for name, t, *_ in described}
    return Table(con=con, columns=columns, rows=rows, offset=rng["row"])


def open_csv_view(
    path: str, split: dict[str, Any], *, workdir: str, memory_limit: str = "1GB", threads: int = 2
) -> Table:
    """The whole split CSV as a view ``src`` (streamed, not loaded): the merge's crossing scan."""
    con = _connect(workdir, memory_limit, threads)
    con.execute(f"CREATE VIEW src AS SELECT * FROM {_csv_read_sql(path, split['options'])}")
    described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
    columns = {name: (_type_kind(t) or t) for name, t, *_ in described}
    return Table(con=con, columns=columns, rows=int(split["rows"]))


# ---------------------------------------------------------------------------------------------
# row ranges (fan-out over several workers): partial statistics, their encoding, the merge
# ---------------------------------------------------------------------------------------------

FANOUT_KINDS = ("fairness", "drift", "performance")


def partial(
    kind: str,
    path: str,
    *,
    row_range: tuple[int, int],
    total_rows: int,
    columns: dict[str, Any],
    params: dict[str, Any],
    reference: Parsed | None = None,
    csv: dict[str, Any] | None = None,
    out_dir: str | None = None,
    memory_limit: str = "1GB",
    threads: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The mergeable statistics of the rows [start, stop): fairness counts per group, the drift scan's
    ``DriftPartial``, or (performance) the positives and negatives per distinct score, written as the
    Parquet file ``score_groups`` under ``out_dir``. A Parquet input is read for those rows only; a CSV
    (``csv``: its ``CsvSplit.as_dict()`` with the range as ``range``) for the range's bytes only. Bad input
    fails naming its file row."""
    if kind not in FANOUT_KINDS:
        _fail("kind", f"{kind} evaluations are not split by row ranges (only {', '.join(FANOUT_KINDS)})")
    with tempfile.TemporaryDirectory(prefix="mlgov-ooc-") as workdir:
        if csv is not None:
            t = open_csv_range(path, csv, csv["range"], workdir=workdir, memory_limit=memory_limit, threads=threads)
        else:
            t = open_table(
                path, "parquet", workdir=workdir, memory_limit=memory_limit, threads=threads, row_range=row_range
            )
        try:
            if kind == "fairness":
                return {"kind": kind, "rows": t.rows, "fairness": fairness_counts(t, columns, params)}
            if kind == "performance":
                if out_dir is None:
                    raise ValueError("a performance partial is a file: out_dir is required")
                _params, groups_sql = performance_groups(t, columns, params)
                target = Path(out_dir) / "score_groups.parquet"
                t.con.execute(f"COPY ({groups_sql}) TO {_lit(str(target))} (FORMAT parquet)")
                if progress:
                    progress("grouped by score", 1.0, t.rows)
                return {"kind": kind, "rows": t.rows, "score_groups": str(target)}
            if reference is None:
                _fail("reference", "a registered reference sample is required")
            plan = drift_plan(t, columns, params, reference)
            _scan_memory(t)
            read = [0]

            def on_batch(rows: int) -> None:
                read[0] += rows
                if progress:
                    progress("reading", read[0] / max(t.rows, 1), read[0])

            part = drift_scan(t, plan, total_rows=total_rows, threads=threads, on_batch=on_batch)
            return {"kind": kind, "rows": part.rows, "drift": part}
        finally:
            t.con.close()


def dump_partial(p: dict[str, Any]) -> bytes:
    """A partial as an .npz file (arrays, and its other fields as JSON): no pickle."""
    import io
    import json

    meta = {"kind": p["kind"], "rows": p["rows"]}
    arrays: dict[str, np.ndarray] = {}
    if p["kind"] == "fairness":
        meta["fairness"] = p["fairness"]
    else:
        d: DriftPartial = p["drift"]
        meta["numeric"] = {name: acc.m for name, acc in d.numeric.items()}
        meta["categories"] = {name: [[k, c] for k, c in counts.items()] for name, counts in d.categories.items()}
        meta["values"] = sorted(d.values)
        for name, acc in d.numeric.items():
            for key in ("lt", "le", "s", "below"):
                arrays[f"n/{name}/{key}"] = getattr(acc, key)
        for name, vals in d.values.items():
            arrays[f"v/{name}"] = np.concatenate(vals) if vals else np.zeros(0)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def load_partial(data: bytes) -> dict[str, Any]:
    import io
    import json

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        out = {"kind": meta["kind"], "rows": meta["rows"]}
        if meta["kind"] == "fairness":
            out["fairness"] = meta["fairness"]
            return out
        d = DriftPartial(rows=meta["rows"])
        for name, m in meta["numeric"].items():
            d.numeric[name] = NumericAcc(
                lt=z[f"n/{name}/lt"], le=z[f"n/{name}/le"], s=z[f"n/{name}/s"], below=z[f"n/{name}/below"], m=m
            )
        for name, pairs in meta["categories"].items():
            d.categories[name] = dict(pairs)
        for name in meta["values"]:
            d.values[name] = [z[f"v/{name}"]]
        out["drift"] = d
        return out


def finish(
    kind: str,
    path: str,
    partials: list[dict[str, Any]],
    *,
    columns: dict[str, Any],
    params: dict[str, Any],
    reference: Parsed | None = None,
    csv: dict[str, Any] | None = None,
    min_group_size: int = 30,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> tuple[dict[str, Any], int]:
    """(the kernel's result, rows) from the partials of row ranges covering the file: counts add up;
    performance's score groups are merged by the engine (one GROUP BY over the parts, in score order);
    drift's crossing gaps are read by one more scan of the whole file (of their values only; a CSV,
    ``csv`` its split, is streamed with the split's dialect and types)."""
    rows = sum(p["rows"] for p in partials)
    if kind == "fairness":
        return fairness_finish([p["fairness"] for p in partials], params, min_group_size), rows
    with tempfile.TemporaryDirectory(prefix="mlgov-ooc-") as workdir:
        if kind == "performance":
            con = _connect(workdir, memory_limit, threads)
            try:
                files = "[" + ", ".join(_lit(p["score_groups"]) for p in partials) + "]"
                con.execute(
                    "CREATE TABLE score_groups AS SELECT s, sum(pos) AS pos, sum(neg) AS neg "
                    f"FROM read_parquet({files}) GROUP BY s ORDER BY s"
                )
                return performance_from_groups(Table(con=con, columns={}, rows=rows), performance_params(params)), rows
            finally:
                con.close()
        merged = DriftPartial()
        for p in partials:
            merged.merge(p["drift"])
        if csv is not None:
            t = open_csv_view(path, csv, workdir=workdir, memory_limit=memory_limit, threads=threads)
        else:
            t = open_table(path, "parquet", workdir=workdir, memory_limit=memory_limit, threads=threads)
        try:
            plan = drift_plan(t, columns, params, reference)  # type: ignore[arg-type]
            crossing: dict[str, dict[int, np.ndarray]] = {}
            for group in crossing_groups(plan, merged):
                for name, parts in crossing_scan(t, plan, group).items():
                    crossing.setdefault(name, {}).update(group_crossing_values(group[name], parts))
            return drift_finish(plan, merged, crossing, params), rows
        finally:
            t.con.close()


def duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def compute(
    kind: str,
    path: str,
    *,
    file_format: str,
    columns: dict[str, Any],
    params: dict[str, Any],
    reference: Parsed | None = None,
    min_group_size: int = 30,
    memory_limit: str = "1GB",
    threads: int = 2,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], int]:
    """(the kernel's result, rows read) for ``kind`` over the table at ``path``."""
    if kind not in KINDS:
        _fail("kind", f"{kind} evaluations are not computed out of core (only {', '.join(KINDS)})")
    with tempfile.TemporaryDirectory(prefix="mlgov-ooc-") as workdir:
        t = open_table(
            path,
            file_format,
            workdir=workdir,
            memory_limit=memory_limit,
            threads=threads,
            max_bytes=max_bytes,
            progress=progress,
        )
        try:
            if progress and file_format == "csv":
                progress = _after_csv_load(progress, t.rows)
            if progress:
                progress("opened", 0.0, 0)
            if kind == "fairness":
                out = fairness(t, columns, params, min_group_size=min_group_size, progress=progress)
            elif kind == "performance":
                out = performance(t, columns, params, progress=progress)
            else:
                if reference is None:
                    _fail("reference", "a registered reference sample is required")
                out = drift(t, columns, params, reference, threads=threads, progress=progress)
            return out, t.rows
        finally:
            t.con.close()
