"""A malformed row deep in a large CSV fails the evaluation naming the row (issue 15, bad input at scale).

.venv/bin/python bench/bench_bad_row.py --keep /tmp/badrow            # 100M rows, row 73,000,001 malformed
.venv/bin/python bench/bench_bad_row.py --rows 2000000 --bad-row 1500001 # a check that it works
options: --rows N --bad-row N --kind fairness|performance --threads N --memory 1GB --keep DIR
         --database-url URL (default: a fresh SQLite database in a temporary folder)

Generates a CSV (fairness: ``y,p,sex,region``; performance: ``y,s``) whose data row ``--bad-row`` has
one field too few (rows are numbered as the service numbers them: 1-based data rows, the header is not
a row, so data row N is line N + 1 of the file), before any timing; the file is kept in ``--keep DIR``
and reused. Then, in a fresh interpreter against a freshly migrated database, a pipeline posts it
through ``services.evaluation_create`` as an input referenced by path (``input_uri``, with
``EVALUATION_INPUT_ROOTS`` set to the file's folder): the service queues it and the Celery task
``evaluations.run`` (eager: no broker) runs the worker's code in the same process, the out-of-core path
(the SHA-256 of the file, its measure, DuckDB's load, which meets the bad row). Prints the wall time, the
CPU time (all threads) and the peak RSS of that process for the whole job, the failure reason and the
checks on what was stored: status ``failed``, the reason names the row, no metrics, checks, warnings
or digest stored, and the audit trail is create, start, fail. Exits non-zero if any check fails.
No baseline: nothing else reads the file; the time is about one read for the digest, one for the
measure and DuckDB's parse up to the bad row (it stops there).
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

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 2_000_000
COLUMNS = {
    "fairness": {"y_true": "y", "y_pred": "p", "sensitive_features": ["sex", "region"]},
    "performance": {"y_true": "y", "y_score": "s"},
}
HEADER = {"fairness": b"y,p,sex,region\n", "performance": b"y,s\n"}
BAD_LINE = {"fairness": b"1,0,female\n", "performance": b"1\n"}  # one field too few
EXPECTED = {"fairness": "expected 4 fields, found 3", "performance": "expected 2 fields, found 1"}


def line_table(kind: str) -> np.ndarray:
    """Every distinct line of the generated file, indexed by the code ``codes`` draws."""
    if kind == "fairness":
        lines = [
            f"{y},{p},{sex},{region}\n".encode()
            for y in (0, 1)
            for p in (0, 1)
            for sex in ("female", "male")
            for region in range(12)
        ]
    else:
        lines = [f"{y},{s / 1000:.3f}\n".encode() for y in (0, 1) for s in range(1001)]
    table = np.empty(len(lines), dtype=object)
    table[:] = lines
    return table


def codes(kind: str, rng: np.random.Generator, k: int) -> np.ndarray:
    y = (rng.random(k) < 0.3).astype(np.int64)
    if kind == "fairness":
        p = (rng.random(k) < np.where(y == 1, 0.7, 0.2)).astype(np.int64)
        sex = (rng.random(k) < 0.5).astype(np.int64)
        return ((y * 2 + p) * 2 + sex) * 12 + rng.integers(0, 12, k)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(0, 1, k) + 1.2 * y - 0.8)))
    return y * 1001 + np.rint(s * 1000).astype(np.int64)


def write_csv(path: Path, kind: str, rows: int, bad_row: int, seed: int = 0) -> None:
    """``rows`` data rows, data row ``bad_row`` (1-based) malformed; prints how far it is."""
    rng = np.random.default_rng(seed)
    table = line_table(kind)
    t0 = time.perf_counter()
    step = max(rows // 10, CHUNK)
    with open(path, "wb") as out:
        out.write(HEADER[kind])
        for start in range(0, rows, CHUNK):
            k = min(CHUNK, rows - start)
            lines = table[codes(kind, rng, k)]
            if start < bad_row <= start + k:
                lines[bad_row - 1 - start] = BAD_LINE[kind]
            out.write(b"".join(lines))
            done = start + k
            if done % step < CHUNK or done == rows:
                print(f"  generated {done:,} of {rows:,} rows ({time.perf_counter() - t0:.0f} s)", flush=True)


CHILD = r"""
import json, os, resource, sys, time
import django
django.setup()
from audit.models import AuditEvent
from governance.evaluations.models import Evaluation
from governance.evaluations.services import evaluation_create
from tests.factories.accounts import as_user, person, service_account
from tests.factories.registry import model_version, registered_model

args = json.loads(sys.argv[1])
pipeline = as_user(service_account(), auth="token")
version = model_version(model=registered_model(owner=person("developer")))
load0 = os.getloadavg()[0]
t0 = time.perf_counter()
created = evaluation_create(by=pipeline, model_version=version, kind=args["kind"], dataset="bench-bad-row",
                            input_uri=args["path"], columns=args["columns"])
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
ev = Evaluation.objects.get(pk=created.evaluation.pk)
hwm = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) / 1024
actions = list(AuditEvent.objects.filter(object_type="evaluation", object_id=str(ev.pk)).order_by("seq")
               .values_list("action", flat=True))
print(json.dumps({
    "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": hwm,
    "load": (load0 + os.getloadavg()[0]) / 2, "queued": created.queued, "status": ev.status,
    "reason": ev.failure_reason, "metrics": ev.metrics, "checks": ev.checks, "warnings": ev.warnings,
    "input_sha256": ev.input_sha256, "input_rows": ev.input_rows, "progress": ev.progress,
    "computed_out_of_core": (ev.result or {}).get("computed_out_of_core"), "actions": actions,
}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--bad-row", type=int, default=73_000_001, help="1-based data row (the header is not a row)")
    ap.add_argument("--kind", choices=("fairness", "performance"), default="fairness")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="EVALUATION_OUT_OF_CORE_THREADS")
    ap.add_argument("--memory", default="1GB", help="EVALUATION_OUT_OF_CORE_MEMORY (DuckDB memory_limit)")
    ap.add_argument("--keep", help="folder for the generated file (reused when present)")
    ap.add_argument("--database-url", help="default: a fresh SQLite database in a temporary folder")
    args = ap.parse_args()
    if not 1 <= args.bad_row <= args.rows:
        ap.error("--bad-row must be between 1 and --rows")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="mlgov-bench-badrow-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{args.kind}-{args.rows}-bad-{args.bad_row}.csv"
    if not path.exists():
        print(f"generating {path} ({args.rows:,} rows, data row {args.bad_row:,} malformed) ...", flush=True)
        t0 = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        write_csv(tmp, args.kind, args.rows, args.bad_row)
        tmp.rename(path)
        print(f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    with tempfile.TemporaryDirectory(prefix="mlgov-bench-badrow-db-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
            "VAR_DIR": f"{tmp}/var",
            "MEDIA_ROOT": f"{tmp}/media",
            "LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": "",  # eager: the task runs in the process that queued it
            "EVALUATION_INPUT_ROOTS": str(folder),
            "EVALUATION_OUT_OF_CORE_THREADS": str(args.threads),
            "EVALUATION_OUT_OF_CORE_MEMORY": args.memory,
            "EVALUATION_FANOUT_CHUNKS": "0",
        }
        print("migrating a fresh database ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        print(f"evaluating {path.name} ({args.kind}, out of core, {args.threads} threads) ...", flush=True)
        spec = {"kind": args.kind, "path": str(path), "columns": COLUMNS[args.kind]}
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True, text=True
        )
    if proc.returncode:
        print(proc.stderr[-4000:])
        return 1
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    reason = out["reason"] or ""
    checks = {
        "queued for the worker": out["queued"],
        "failed in the out-of-core path, in DuckDB's load": out["progress"].get("stage") == "loading the CSV",
        "status failed": out["status"] == "failed",
        f"the reason names row {args.bad_row}": f"file: row {args.bad_row} is malformed" in reason,
        f"the reason says why ({EXPECTED[args.kind]})": EXPECTED[args.kind] in reason,
        "no metrics, checks, warnings or digest stored": not (
            out["metrics"] or out["checks"] or out["warnings"] or out["input_sha256"]
        ),
        "audit trail: create, start, fail": out["actions"]
        == ["evaluation.create", "evaluation.start", "evaluation.fail"],
    }
    print(f"\nfailure reason: {reason}")
    print(f"last progress: {json.dumps(out['progress'])}")
    print(
        f"\n{args.kind} CSV, {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB), data row {args.bad_row:,} "
        f"malformed: failed in {out['seconds']:.1f} s wall ({out['cpu']:.0f} s CPU, load average "
        f"{out['load']:.1f}), peak RSS {out['rss_mb']:.0f} MB"
    )
    for what, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    if not args.keep:
        path.unlink(missing_ok=True)
        folder.rmdir()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
