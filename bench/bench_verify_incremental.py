"""Incremental verification of the audit log (issue 15.4) against the full pass, same run, PostgreSQL.

.venv/bin/python bench/bench_verify_incremental.py                 # 1,000,000 entries + 10,000 new
.venv/bin/python bench/bench_verify_incremental.py --quick         # 100,000 entries + 10,000 new
options: --entries N --new N --pg postgresql://user@host:port --keep-db

Creates a fresh database (``mlgov_bench_<random>``, dropped at the end), builds the log with
checkpoints every 100,000 entries (``bench_audit.build_log``), runs a full verification (the
baseline), appends --new entries and signs a checkpoint, then times ``audit_verify --incremental``'s
function (``record_verification(mode="incremental")``). Target (issue 15.4): after 10,000 new
entries on a 10,000,000-entry log the incremental run takes under 2 s; its cost depends on the new
entries, not on the log, so the ratio to the full pass shrinks as the log grows.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_audit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=None)
    ap.add_argument("--new", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"))
    args = ap.parse_args()
    entries = args.entries or (100_000 if args.quick else 1_000_000)
    db_name = f"mlgov_bench_{secrets.token_hex(4)}"
    origin = f"bench.local/mlgov-audit/{uuid.uuid4()}"
    from audit.notes import generate_signer_key

    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-verify-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": f"{args.pg}/{db_name}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AUDIT_LOG_ORIGIN": origin,
            "AUDIT_SIGNING_KEYS": generate_signer_key(origin),
            "AUDIT_SIGNING_KEY_FILE": str(workdir / "unused-signing.key"),
            "LOG_LEVEL": "WARNING",
        }
    )
    bench_audit.pg_admin(args.pg, f'CREATE DATABASE "{db_name}"')
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        bench_audit.setup_django()
        from audit.checkpoints import checkpoint_create
        from audit.verification import record_verification

        built = bench_audit.build_log(entries)
        print(f"built {built['built']:,} entries in {built['build_s']:.0f} s", flush=True)
        t0 = time.perf_counter()
        full = record_verification(trigger="bench")
        t_full = time.perf_counter() - t0
        assert full.ok, full.message
        bench_audit.build_log(full.size + args.new)
        checkpoint_create()
        t0 = time.perf_counter()
        inc = record_verification(trigger="bench", mode="incremental")
        t_inc = time.perf_counter() - t0
        assert inc.ok, inc.message
        print(f"full verification of {full.size:,} entries (baseline): {t_full:.2f} s")
        print(f"incremental after {args.new:,} new entries: {t_inc:.2f} s ({t_inc / t_full:.3f}x the full pass)")
        print(f"  recorded: {inc.trigger}: {inc.message}")
        print("\nsummary")
        print(
            f"  incremental verification of {args.new:,} new entries on a {full.size:,}-entry log: {t_inc:.2f} s "
            f"(target < 2 s on 10M entries: {'PASS' if t_inc < 2 else 'MISS'} at this size), full pass {t_full:.1f} s"
        )
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            bench_audit.pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db_name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
