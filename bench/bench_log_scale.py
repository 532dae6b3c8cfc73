"""A large audit log stays fast everywhere (issue 15.5), PostgreSQL: the admin's audit list and the
dashboard, the entries API, inclusion and consistency proofs, and export memory.

.venv/bin/python bench/bench_log_scale.py                      # a fresh 10,000,000-entry log (~30 min to build)
.venv/bin/python bench/bench_log_scale.py --quick              # 200,000 entries
.venv/bin/python bench/bench_log_scale.py --db mlgov_big       # reuse (and grow to --entries) a kept database
options: --entries N --baseline N --export-max N --pg postgresql://user@host:port --keep-db

The in-run baseline is the same set of measurements on a small log (--baseline, 10,000 entries) in
its own fresh database: each figure on the large log is printed with its ratio to the small log's,
so a ratio near 1 says the cost does not grow with the log. Each measurement runs in a child
process with a fresh interpreter (clean peak RSS). Targets (issue 15.5): admin list and dashboard
under 300 ms, proofs under 10 ms, export in memory that does not grow with the log, and the entries
API paged by seq ranges. Export is measured twice: the entries stream over the whole log (the part
that grows) and a full zip bundle up to --export-max entries (the zip adds a constant).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_audit

ROOT = Path(__file__).resolve().parents[1]
REPS = 15
ADMIN_PAGES = {
    "admin list, page 1": "/admin/audit/auditevent/",
    "admin list, page 5,000 (or the last)": "/admin/audit/auditevent/?p={deep}",
    "admin list, filtered by action": "/admin/audit/auditevent/?action=pipeline.batch_scored",
    "admin list, refusals (rare)": "/admin/audit/auditevent/?action=*.denied",
    "admin list, this year": "/admin/audit/auditevent/?ts__gte={year}",
    "admin list, object type": "/admin/audit/auditevent/?object_type=model_version",
    "dashboard (admin index)": "/admin/",
}


def child_measure(args: dict) -> dict:
    """Everything but export, on the database in DATABASE_URL."""
    from django.conf import settings
    from django.test import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):  # no collectstatic manifest in a bench
        return _measure(args)


def _measure(args: dict) -> dict:
    import base64
    import random

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from audit.checkpoints import consistency, head, inclusion
    from audit.verifier import verify_consistency, verify_inclusion
    from governance.accounts.models import User
    from governance.accounts.principal import Principal
    from governance.accounts.services import user_create

    user = User.objects.filter(username="bench-admin").first() or user_create(
        by=Principal.system("bench"), username="bench-admin", password=None, roles=[], is_staff=True, is_superuser=True
    )
    size = head().size
    client = Client()
    client.force_login(user)
    out: dict = {"size": size, "pages": {}, "count_queries": 0}
    year = timezone.now().replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    for name, url in ADMIN_PAGES.items():
        url = url.format(deep=min(5000, max(1, size // 100)), year=year.isoformat().replace("+", "%2B"))
        times = []
        for i in range(REPS + 1):
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                response = client.get(url, secure=True)
                elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")
            if i:
                times.append(elapsed)
            scans = [
                q["sql"]
                for q in queries.captured_queries
                if "audit_auditevent" in q["sql"] and ("COUNT(" in q["sql"].upper() or "DISTINCT" in q["sql"].upper())
            ]
            out["count_queries"] += len(scans)
        out["pages"][name] = statistics.median(times) * 1e3
    # entries API: 1,000-entry pages at the start, the middle and the head
    times = []
    for start in (0, size // 2, max(0, size - 1000)) * 5:
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/audit/entries?start={start}&end={start + 1000}", secure=True)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200 or len(response.json()["entries"]) != min(1000, size - start):
            raise RuntimeError(f"entries at {start}: {response.status_code}")
    out["pages"]["entries API, 1,000 entries"] = statistics.median(times) * 1e3
    rnd = random.Random(3)
    inc, con = [], []
    inclusion(0, size)
    for _ in range(args["proofs"]):
        tree = rnd.randint(max(1, size // 2), size)
        seq = rnd.randrange(tree)
        t0 = time.perf_counter()
        proof = inclusion(seq, tree)
        inc.append(time.perf_counter() - t0)
        b = base64.b64decode
        assert verify_inclusion(seq, tree, b(proof["leaf_hash"]), [b(h) for h in proof["proof"]], b(proof["root"]))
        second = rnd.randint(max(2, size // 2), size)
        first = rnd.randint(1, second)
        t0 = time.perf_counter()
        proof = consistency(first, second)
        con.append(time.perf_counter() - t0)
        assert verify_consistency(
            first, second, b(proof["first_root"]), b(proof["second_root"]), [b(h) for h in proof["proof"]]
        )
    out["pages"]["inclusion proof"] = statistics.median(inc) * 1e3
    out["pages"]["consistency proof"] = statistics.median(con) * 1e3
    out["proof_max_ms"] = max(inc + con) * 1e3
    return out


def child_stream(args: dict) -> dict:
    """The export's entries stream over the whole log to /dev/null: peak RSS and rate."""
    from audit.export import _entries

    t0 = time.perf_counter()
    count = 0
    with open(os.devnull, "wb") as sink:
        for line in _entries(args["limit"]):
            sink.write(line)
            count += 1
    return {"entries": count, "s": time.perf_counter() - t0, "peak_rss_mb": bench_audit.peak_rss_mb()}


def child_export(args: dict) -> dict:
    """A full zip bundle of the first ``limit`` entries (at most): peak RSS."""
    from audit import export

    limit = args["limit"]
    original = export._entries
    export._entries = lambda size: original(min(size, limit))
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-export-"))
    t0 = time.perf_counter()
    try:
        export.export_bundle(workdir / "bundle.zip")
        size = (workdir / "bundle.zip").stat().st_size
    finally:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return {
        "entries": limit,
        "s": time.perf_counter() - t0,
        "zip_mb": size / 1e6,
        "peak_rss_mb": bench_audit.peak_rss_mb(),
    }


def child_build(args: dict) -> dict:
    from audit.checkpoints import head

    size = head().size
    return bench_audit.build_log(args["entries"]) if size < args["entries"] else {"kept": size}


CHILDREN = {"build": child_build, "measure": child_measure, "stream": child_stream, "export": child_export}


def run_child(kind: str, db_url: str, **kwargs) -> dict:
    env = {**os.environ, "DATABASE_URL": db_url}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--child-args", json.dumps(kwargs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare(pg: str, db: str, entries: int, *, fresh: bool) -> None:
    exists = bench_audit.pg_admin(pg, f"SELECT 1 FROM pg_database WHERE datname = '{db}'")
    if fresh or not exists:
        bench_audit.pg_admin(pg, f'CREATE DATABASE "{db}"')
    env = {**os.environ, "DATABASE_URL": f"{pg}/{db}"}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], check=True, cwd=ROOT, env=env
    )
    print(run_child("build", f"{pg}/{db}", entries=entries), flush=True)
    # Fresh statistics, as autovacuum keeps them in a running deployment (a bulk-built table may not
    # have been analysed yet, and the planner would then guess the selectivity of a filter).
    import psycopg

    with psycopg.connect(f"{pg}/{db}", autocommit=True) as conn:
        conn.execute("ANALYZE audit_auditevent")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=None)
    ap.add_argument("--baseline", type=int, default=10_000)
    ap.add_argument("--export-max", type=int, default=1_000_000, help="largest full zip bundle measured")
    ap.add_argument("--proofs", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--db", default=None, help="reuse this database (kept; grown to --entries)")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"))
    ap.add_argument("--child")
    ap.add_argument("--child-args")
    args = ap.parse_args()
    if args.child:
        bench_audit.setup_django()
        print(json.dumps(CHILDREN[args.child](json.loads(args.child_args))))
        return 0

    from audit.notes import generate_signer_key

    entries = args.entries or (200_000 if args.quick else 10_000_000)
    origin = os.environ.get("AUDIT_LOG_ORIGIN") or f"bench.local/mlgov-audit/{uuid.uuid4()}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "AUDIT_LOG_ORIGIN": origin,
            "AUDIT_SIGNING_KEYS": os.environ.get("AUDIT_SIGNING_KEYS") or generate_signer_key(origin),
            "AUDIT_SIGNING_KEY_FILE": str(Path(tempfile.mkdtemp(prefix="mlgov-bench-scale-")) / "unused.key"),
            "LOG_LEVEL": "WARNING",
        }
    )
    small_db = f"mlgov_bench_{secrets.token_hex(4)}"
    big_db = args.db or f"mlgov_bench_{secrets.token_hex(4)}"
    drop = [small_db] + ([] if args.db or args.keep_db else [big_db])
    print(f"machine: {bench_audit.machine()}, load average {os.getloadavg()}", flush=True)
    try:
        prepare(args.pg, small_db, args.baseline, fresh=True)
        t0 = time.perf_counter()
        prepare(args.pg, big_db, entries, fresh=args.db is None)
        print(f"large log ready in {time.perf_counter() - t0:.0f} s", flush=True)
        small = run_child("measure", f"{args.pg}/{small_db}", proofs=args.proofs)
        big = run_child("measure", f"{args.pg}/{big_db}", proofs=args.proofs)
        export_size = min(args.export_max, big["size"])
        stream_small = run_child("stream", f"{args.pg}/{small_db}", limit=small["size"])
        stream_big = run_child("stream", f"{args.pg}/{big_db}", limit=big["size"])
        export_small = run_child("export", f"{args.pg}/{small_db}", limit=small["size"])
        export_big = run_child("export", f"{args.pg}/{big_db}", limit=export_size)
    finally:
        for db in drop:
            bench_audit.pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    print(f"\nsummary (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  baseline: the same measurement on a {small['size']:,}-entry log; large log: {big['size']:,} entries")
    print(f"  admin/API queries that COUNT or DISTINCT over audit_auditevent: {big['count_queries']} (target 0)")
    for name, ms in big["pages"].items():
        target = 10 if "proof" in name else 300
        base = small["pages"][name]
        verdict = "PASS" if ms < target else "MISS"
        print(
            f"  {name:38s} {ms:7.1f} ms median (target < {target} ms: {verdict}), "
            f"{ms / base:5.2f}x the baseline {base:.1f} ms"
        )
    print(f"  slowest of the proofs: {big['proof_max_ms']:.1f} ms")
    for label, small_run, big_run in (
        ("export entries stream (whole log)", stream_small, stream_big),
        ("export zip bundle", export_small, export_big),
    ):
        print(
            f"  {label:40s} peak RSS {big_run['peak_rss_mb']:.0f} MB for {big_run['entries']:,} entries "
            f"({big_run['s']:.0f} s), {big_run['peak_rss_mb'] / small_run['peak_rss_mb']:.2f}x the baseline "
            f"{small_run['peak_rss_mb']:.0f} MB for {small_run['entries']:,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
