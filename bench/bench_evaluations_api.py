"""End-to-end fairness evaluation through the API: upload, parse, compute, store.

Posts 1,000,000 rows (4 groups, the reference's make_fair data) as a Parquet and as a CSV upload to
``POST /api/v1/evaluations/`` as a pipeline would (multipart, token auth, in-process client),
against a fresh database, and times each request end to end. Baselines measured in the same run:
the bare ``np.bincount`` over the same rows and ``compute_fairness`` on already-parsed arrays.

    .venv/bin/python bench/bench_evaluations_api.py [--rows 1000000] [--database-url postgres://...]
Target: <= 2 s for 1M rows end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = r"""
import io, json, sys, time
import numpy as np, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq, django
django.setup()
sys.path.insert(0, "bench")
from bench_fairness import make_fair
from rest_framework.test import APIClient
from audit.context import Actor
from governance.accounts.services import service_account_create
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import parse_inline
from tests.factories.registry import model_version, registered_model
from tests.factories.accounts import person
from tests.factories.accounts import ADMIN

rows = int(sys.argv[1])
y_true, y_pred, group = make_fair(rows)
table = pa.table({"label": y_true, "prediction": y_pred, "segment": group})
parquet, csv = io.BytesIO(), io.BytesIO()
pq.write_table(table, parquet)
pacsv.write_csv(table, csv)
user, key = service_account_create(by=ADMIN, name="bench-pipeline")
version = model_version(model=registered_model(owner=person("developer")))
client = APIClient()
client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

def median(fn, reps=5):
    fn(); times = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]

code = group * 4 + y_true * 2 + y_pred
floor = median(lambda: np.bincount(code, minlength=16), 9)
parsed = parse_inline("fairness", {"y_true": y_true, "y_pred": y_pred, "sensitive_features": {"segment": group}})
compute = median(lambda: compute_fairness(parsed), 9)
out = {"rows": rows, "floor_s": floor, "compute_s": compute, "parquet_mb": parquet.getbuffer().nbytes / 2**20,
       "csv_mb": csv.getbuffer().nbytes / 2**20}
columns = json.dumps({"y_true": "label", "y_pred": "prediction", "sensitive_features": ["segment"]})
for fmt, blob in (("parquet", parquet), ("csv", csv)):
    times, status = [], None
    for i in range(4):
        upload = io.BytesIO(blob.getvalue()); upload.name = f"holdout.{fmt}"
        t = time.perf_counter()
        response = client.post("/api/v1/evaluations/", {"model_version": version.pk, "kind": "fairness",
                               "dataset": f"bench-{fmt}-{i}", "columns": columns, "file": upload}, format="multipart")
        times.append(time.perf_counter() - t)
        status = response.status_code
        assert status in (201, 202), response.content[:500]
        body = response.json()
    out[fmt] = {"status": status, "median_s": sorted(times[1:])[1], "all_s": times, "eval_status": body["status"],
                "input_rows": body.get("input_rows")}
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
            "VAR_DIR": f"{tmp}/var",
            "MEDIA_ROOT": f"{tmp}/media",
            "LOG_LEVEL": "WARNING",
            "DEBUG": "true",
        }
        print("migrating a fresh database ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        print(f"posting {rows:,} rows as Parquet and CSV uploads (4 requests each, first is warm-up) ...", flush=True)
        result = subprocess.run(
            [sys.executable, "-c", RUN, str(rows)], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            print(result.stderr[-4000:])
            return 1
        out = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nrows {out['rows']:,}  (Parquet {out['parquet_mb']:.1f} MB, CSV {out['csv_mb']:.1f} MB)")
    print(f"  floor   np.bincount over the rows            {out['floor_s'] * 1e3:8.2f} ms")
    print(
        f"  compute compute_fairness (parsed arrays)      {out['compute_s'] * 1e3:8.2f} ms   "
        f"({out['compute_s'] / out['floor_s']:.2f}x the floor; target <= 3x)"
    )
    for fmt in ("parquet", "csv"):
        r = out[fmt]
        verdict = "PASS" if r["median_s"] <= 2.0 else "MISS"
        print(
            f"  API     POST /api/v1/evaluations/ ({fmt:<7})  {r['median_s'] * 1e3:8.0f} ms   "
            f"HTTP {r['status']}, evaluation {r['eval_status']}, {r['input_rows']:,} rows; target <= 2 s: {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
