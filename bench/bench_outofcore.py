"""Out-of-core evaluations (issue 15.1): DuckDB path vs the in-memory path, peak RSS and time.

.venv/bin/python bench/bench_outofcore.py --keep /tmp/ooc  # fairness 100M rows, drift 100M x 25 columns vs 1M
                                                           # reference, performance 20M rows (files kept for reuse)
.venv/bin/python bench/bench_outofcore.py --quick          # 2M rows each
options: --fair-rows N --drift-rows N --perf-rows N --ref-rows N --baseline-rows N --threads N --keep DIR --only KIND

The input files are generated before any timing (the 100M-row drift file is about 17 GB: check the free
disk); each measurement reports wall time, the CPU time of the process (all its threads), its peak RSS
and the load average of the machine while it ran (the machine may be shared).

Baseline (same run, same files): the in-memory path (``parse_table`` + the kernel) on the first
``--baseline-rows`` rows, where both paths run; the out-of-core path on the same file gives the
time ratio and checks the results are equal (1e-12). Then the out-of-core path alone at full size.
Every measurement runs in a fresh interpreter and reports its own peak RSS (VmHWM).
Targets (issue 15.1): fairness 100M rows under 60 s, drift 100M rows under 5 min, peak RSS under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
FAIR_COLUMNS = {"y_true": "y", "y_pred": "p", "sensitive_features": ["sex", "region"]}
PERF_COLUMNS = {"y_true": "y", "y_score": "s"}
NUM = [f"x{i:02d}" for i in range(20)]
CAT = [f"c{i}" for i in range(5)]
DRIFT_COLUMNS = {"features": NUM + CAT}
CHUNK = 2_000_000


def write_fairness(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(
        path, pa.schema([("y", pa.int8()), ("p", pa.int8()), ("sex", pa.string()), ("region", pa.int16())])
    ) as out:
        for start in range(0, n, CHUNK):
            k = min(CHUNK, n - start)
            y = (rng.random(k) < 0.3).astype(np.int8)
            p = (rng.random(k) < np.where(y == 1, 0.7, 0.2)).astype(np.int8)
            sex = np.where(rng.random(k) < 0.5, "female", "male")
            region = rng.integers(0, 12, k).astype(np.int16)
            out.write_table(pa.table({"y": y, "p": p, "sex": sex, "region": region}))


def write_performance(path: Path, n: int, seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, pa.schema([("y", pa.int8()), ("s", pa.float64())])) as out:
        for start in range(0, n, CHUNK):
            k = min(CHUNK, n - start)
            y = (rng.random(k) < 0.3).astype(np.int8)
            s = 1.0 / (1.0 + np.exp(-(rng.normal(0, 1, k) + 1.2 * y - 0.8)))
            out.write_table(pa.table({"y": y, "s": s}))


def write_drift(path: Path, n: int, seed: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        cols = {}
        for i, name in enumerate(NUM):
            if i % 4 == 0:
                cols[name] = rng.lognormal(1 + shift * (i % 3), 0.5, k)
            elif i % 4 == 1:
                cols[name] = np.round(rng.normal(600 + shift * 30, 50, k))
            else:
                cols[name] = rng.normal(shift * (i % 2), 1, k)
        for i, name in enumerate(CAT):
            card = [2, 5, 12, 30, 50][i]
            cols[name] = rng.integers(0, card, k).astype(str) if i % 2 else rng.integers(0, card, k)
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
from governance.evaluations import outofcore
from governance.evaluations.inputs import parse_table
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.drift import compute_drift
from governance.evaluations.performance import compute_performance
args = json.loads(sys.argv[1])
load0 = os.getloadavg()[0]
t0 = time.perf_counter()
ref = None
if args["kind"] == "drift":
    ref = parse_table("drift", args["ref"], file_format="parquet", columns=args["columns"], role="reference")
if args["mode"] == "memory":
    parsed = parse_table(args["kind"], args["path"], file_format="parquet", columns=args["columns"], reference=ref)
    if args["kind"] == "performance":
        out = compute_performance(parsed)
    else:
        out = compute_fairness(parsed) if args["kind"] == "fairness" else compute_drift(parsed)
    first = "current." + (args["columns"].get("features") or [""])[0]
    rows = len(parsed.arrays[first]) if args["kind"] == "drift" else parsed.n_rows
else:
    out, rows = outofcore.compute(args["kind"], args["path"], file_format="parquet", columns=args["columns"],
                                  params={{}}, reference=ref, threads=args["threads"], memory_limit=args["memory"])
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
out.pop("library_versions", None)
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) / 1024
load = (load0 + os.getloadavg()[0]) / 2
res = {{"seconds": seconds, "cpu": cpu, "load": load, "rss_mb": hwm, "rows": rows, "out": out}}
print(json.dumps(res, default=float))
"""


def run(kind: str, mode: str, path: Path, ref: Path | None, threads: int, memory: str) -> dict:
    args = {
        "kind": kind,
        "mode": mode,
        "path": str(path),
        "ref": str(ref) if ref else None,
        "threads": threads,
        "memory": memory,
        "columns": {"fairness": FAIR_COLUMNS, "drift": DRIFT_COLUMNS, "performance": PERF_COLUMNS}[kind],
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), json.dumps(args)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode:
        raise SystemExit(f"{kind} {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same(a, b) -> bool:
    if isinstance(a, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a))
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fair-rows", type=int, default=100_000_000)
    ap.add_argument("--drift-rows", type=int, default=100_000_000)
    ap.add_argument("--perf-rows", type=int, default=20_000_000)
    ap.add_argument("--ref-rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=4_000_000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--memory", default="1GB", help="DuckDB memory_limit")
    ap.add_argument("--keep", help="folder for the generated files (reused when present)")
    ap.add_argument("--only", choices=("fairness", "drift", "performance"), help="run one of the three")
    args = ap.parse_args()
    if args.quick:
        args.fair_rows = args.drift_rows = args.perf_rows = 2_000_000
        args.ref_rows, args.baseline_rows = 200_000, 1_000_000
    folder = Path(args.keep or tempfile.mkdtemp(prefix="mlgov-bench-ooc-"))
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "fair_base": (folder / f"fair-{args.baseline_rows}.parquet", lambda p: write_fairness(p, args.baseline_rows)),
        "fair": (folder / f"fair-{args.fair_rows}.parquet", lambda p: write_fairness(p, args.fair_rows)),
        "ref": (folder / f"ref-{args.ref_rows}.parquet", lambda p: write_drift(p, args.ref_rows, 1, 0.0)),
        "drift_base": (
            folder / f"cur-{args.baseline_rows}.parquet",
            lambda p: write_drift(p, args.baseline_rows, 2, 0.3),
        ),
        "drift": (folder / f"cur-{args.drift_rows}.parquet", lambda p: write_drift(p, args.drift_rows, 3, 0.3)),
        "perf_base": (
            folder / f"perf-{args.baseline_rows}.parquet",
            lambda p: write_performance(p, args.baseline_rows),
        ),
        "perf": (folder / f"perf-{args.perf_rows}.parquet", lambda p: write_performance(p, args.perf_rows)),
    }
    wanted = {
        "fairness": ("fair_base", "fair"),
        "drift": ("ref", "drift_base", "drift"),
        "performance": ("perf_base", "perf"),
    }
    keep_keys = set(wanted[args.only]) if args.only else set(files)
    for key, (path, make) in files.items():
        if key in keep_keys and not path.exists():
            t0 = time.perf_counter()
            tmp = path.with_suffix(".tmp")
            make(tmp)
            tmp.rename(path)
            print(
                f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    p = {k: v[0] for k, v in files.items()}
    lines = []
    for kind, base, full, ref, target_s in (
        ("fairness", "fair_base", "fair", None, 60.0),
        ("drift", "drift_base", "drift", p["ref"], 300.0),
        ("performance", "perf_base", "perf", None, None),
    ):
        if args.only and kind != args.only:
            continue
        mem = run(kind, "memory", p[base], ref, args.threads, args.memory)
        ooc = run(kind, "duckdb", p[base], ref, args.threads, args.memory)
        equal = same(mem["out"], ooc["out"])
        print(
            f"{kind} at {mem['rows']:,} rows: in-memory {mem['seconds']:.1f} s / {mem['rss_mb']:.0f} MB, "
            f"out of core {ooc['seconds']:.1f} s / {ooc['rss_mb']:.0f} MB, equal to 1e-12: {equal}",
            flush=True,
        )
        big = run(kind, "duckdb", p[full], ref, args.threads, args.memory)
        print(
            f"{kind} at {big['rows']:,} rows out of core: {big['seconds']:.1f} s ({big['cpu']:.0f} s CPU, load "
            f"average {big['load']:.1f}), peak RSS {big['rss_mb']:.0f} MB",
            flush=True,
        )
        full_size = big["rows"] >= 100_000_000
        ok = (target_s is None or big["seconds"] < target_s) and big["rss_mb"] < 2048 and equal
        if target_s is None:
            verdict = "PASS (bounded memory)" if ok else "MISS"
        else:
            verdict = ("PASS" if ok else "MISS") if full_size else "(targets are for 100M rows)"
        target = f"target {target_s:.0f} s at 100M" if target_s else "no time target"
        per_row = (big["seconds"] / big["rows"]) / (mem["seconds"] / mem["rows"])
        lines.append(
            f"  {kind}: {big['rows']:,} rows in {big['seconds']:.1f} s ({target}; {big['cpu']:.0f} s CPU at load "
            f"{big['load']:.1f}), peak RSS {big['rss_mb']:.0f} MB (< 2048), {big['rss_mb'] / mem['rss_mb']:.2f}x the "
            f"in-memory RSS at {mem['rows']:,} rows; time per row {per_row:.2f}x the in-memory path's; at "
            f"{mem['rows']:,} rows out of core {ooc['seconds'] / mem['seconds']:.2f}x the in-memory time, "
            f"equal to 1e-12 {equal} {verdict}"
        )
    print("\nsummary")
    print("\n".join(lines))
    if not args.keep:
        for path in p.values():
            path.unlink(missing_ok=True)
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
