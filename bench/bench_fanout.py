"""Fan-out (issue 15.3): the cost of splitting a CSV and what the row ranges cost against one worker.

.venv/bin/python bench/bench_fanout.py                 # 4M-row CSVs, 4 ranges
.venv/bin/python bench/bench_fanout.py --quick         # 500k rows
options: --rows N --parts N --keep DIR

Generated plain CSVs (fairness: y, p, a quoted string feature and an integer one; performance: y and a
continuous score; drift: 8 numeric features with 3 decimals and 1 categorical, against a 200k-row
reference), written before any timing. For each kind, in one process (no broker, no workers):

- the splitting pass (``outofcore.csv_split``: one read of the file finding the record starts, quotes
  checked), its time and throughput;
- baseline: one worker's out-of-core computation of the whole file (``outofcore.compute``);
- every range's partial statistics computed one after the other (``outofcore.partial``), then the
  merge (``outofcore.finish``): the total is the work a fan-out does; the slowest range plus the split
  and the merge is the wall time the fan-out would take with one free worker per range (the machine is
  shared, so that is a sum of measured parts, not a measured parallel run);
- the results compared to 1e-12.

Each figure reports wall and CPU time (the process, all threads) and the load average while it ran.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAIR_COLUMNS = {"y_true": "y", "y_pred": "p", "sensitive_features": ["sex", "region"]}
PERF_COLUMNS = {"y_true": "y", "y_score": "s"}
PERF_PARAMS = {"n_boot": 200, "seed": 1}
DRIFT_NUM = [f"x{i}" for i in range(8)]
DRIFT_COLUMNS = {"features": [*DRIFT_NUM, "c0"]}
REF_ROWS = 200_000
CHUNK = 1_000_000


def write_csv(path: Path, kind: str, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as handle:
        for start in range(0, n, CHUNK):
            k = min(CHUNK, n - start)
            y = (rng.random(k) < 0.3).astype(np.int8)
            if kind == "drift":
                cols = {name: np.round(rng.normal(i % 3, 1 + 0.1 * i, k), 3) for i, name in enumerate(DRIFT_NUM)}
                cols["c0"] = rng.integers(0, 20, k)
                table = pa.table(cols)
            elif kind == "fairness":
                table = pa.table(
                    {
                        "y": y,
                        "p": (rng.random(k) < np.where(y == 1, 0.7, 0.2)).astype(np.int8),
                        "sex": np.where(rng.random(k) < 0.5, "female", "male"),  # written quoted
                        "region": rng.integers(0, 12, k).astype(np.int16),
                    }
                )
            else:
                table = pa.table({"y": y, "s": np.clip(0.3 * y + 0.7 * rng.random(k), 0, 1)})
            opts = pacsv.WriteOptions(include_header=start == 0)
            pacsv.write_csv(table, handle, write_options=opts)


def measured(fn):
    load0 = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu, max(load0, os.getloadavg()[0])


def same(a, b, path="result") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "library_versions":
                same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=path)
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


def bench(kind: str, path: Path, parts: int) -> list[tuple[str, str]]:
    from governance.evaluations import outofcore

    columns, params = {"fairness": (FAIR_COLUMNS, {}), "performance": (PERF_COLUMNS, PERF_PARAMS)}.get(
        kind, (DRIFT_COLUMNS, {})
    )
    reference = None
    if kind == "drift":
        from governance.evaluations.inputs import parse_table

        ref_path = path.with_name("drift-reference.csv")
        if not ref_path.exists():
            write_csv(ref_path, "drift", REF_ROWS, seed=9)
        ref_columns = {**columns, "categorical": ["c0"]}
        reference = parse_table("drift", str(ref_path), file_format="csv", columns=ref_columns, role="reference")
    size_mb = path.stat().st_size / 1e6
    split, t_split, c_split, l_split = measured(lambda: outofcore.csv_split(str(path), parts))
    assert not split.reason, split.reason
    (whole, rows), t_one, c_one, l_one = measured(
        lambda: outofcore.compute(
            kind, str(path), file_format="csv", columns=columns, params=params, reference=reference
        )
    )
    partials, t_ranges = [], []
    c_parts = 0.0
    with tempfile.TemporaryDirectory() as out_root:
        for i, r in enumerate(split.ranges):
            out_dir = Path(out_root) / str(i)
            out_dir.mkdir()
            p, t, c, _l = measured(
                lambda r=r, out_dir=out_dir: outofcore.partial(
                    kind,
                    str(path),
                    row_range=(r["row"], r["row"] + r["rows"]),
                    total_rows=split.rows,
                    columns=columns,
                    params=params,
                    reference=reference,
                    csv={**split.as_dict(), "range": r},
                    out_dir=str(out_dir),
                )
            )
            partials.append(p if kind == "performance" else outofcore.load_partial(outofcore.dump_partial(p)))
            t_ranges.append(t)
            c_parts += c
        (merged, merged_rows), t_merge, c_merge, l_merge = measured(
            lambda: outofcore.finish(
                kind, str(path), partials, columns=columns, params=params, reference=reference, csv=split.as_dict()
            )
        )
    same(whole, merged)
    assert rows == merged_rows == split.rows
    wall = t_split + max(t_ranges) + t_merge
    load = max(l_split, l_one, l_merge)
    return [
        (f"{kind}: CSV {rows:,} rows, {size_mb:,.0f} MB", ""),
        ("  splitting pass (csv_split)", f"{t_split:.2f} s wall, {c_split:.2f} s CPU, {size_mb / t_split:,.0f} MB/s"),
        ("  one worker, whole file (baseline)", f"{t_one:.2f} s wall, {c_one:.2f} s CPU"),
        (
            f"  {parts} ranges one after the other + merge",
            f"{sum(t_ranges) + t_merge:.2f} s wall ({(sum(t_ranges) + t_merge) / t_one:.2f}x), "
            f"{c_parts + c_merge:.2f} s CPU; ranges {', '.join(f'{t:.2f}' for t in t_ranges)} s, merge {t_merge:.2f} s",
        ),
        (
            f"  split + slowest range + merge ({parts} free workers)",
            f"{wall:.2f} s ({wall / t_one:.2f}x the baseline), equal to 1e-12; load average up to {load:.1f}",
        ),
    ]


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    django.setup()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="500k rows")
    ap.add_argument("--keep", help="write (or reuse) the CSVs in this folder")
    args = ap.parse_args()
    rows = 500_000 if args.quick else args.rows
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mlgov-fanout-"))
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for kind in ("fairness", "performance", "drift"):
        path = folder / f"{kind}-{rows}.csv"
        if not path.exists():
            write_csv(path, kind, rows)
        lines += bench(kind, path, args.parts)
    print("\n## Fan-out (bench/bench_fanout.py)\n")
    for label, value in lines:
        print(f"{label:<55} {value}")


if __name__ == "__main__":
    main()
