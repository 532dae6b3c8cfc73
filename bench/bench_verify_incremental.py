"""Incremental verification of the audit log (issue 15.4) against the full pass, same run, PostgreSQL.

.venv/bin/python bench/bench_verify_incremental.py                 # 1,000,000 entries + 10,000 new
.venv/bin/python bench/bench_verify_incremental.py --quick         # 100,000 entries + 10,000 new
options: --entries N --new N --pg postgresql://user@host:port --keep-db
         --db NAME  reuse (and grow to --entries) a kept database, e.g. one bench_log_scale.py built
                    (pass its AUDIT_LOG_ORIGIN and AUDIT_SIGNING_KEYS in the environment)

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

import bench_audit

ROOT = Path(__file__).resolve().parents[1]


def backend_cpu() -> float:
    """CPU seconds used so far by this process's PostgreSQL backend (local server, Linux /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mark_verified(size: int) -> None:
    """Record a passing full run at ``size`` without running it (a kept, already verified bench log)."""
    from django.utils import timezone

    from audit.models import AuditVerification

    now = timezone.now()
    AuditVerification.objects.create(
        started_at=now, finished_at=now, ok=True, size=size, trigger="bench-kept", message="kept bench log"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=None)
    ap.add_argument("--new", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--db", default=None, help="reuse this database (kept)")
    ap.add_argument("--full", action="store_true", help="always time the full pass")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"))
    args = ap.parse_args()
    entries = args.entries or (100_000 if args.quick else 1_000_000)
    db_name = args.db or f"mlgov_bench_{secrets.token_hex(4)}"
    origin = os.environ.get("AUDIT_LOG_ORIGIN") or f"bench.local/mlgov-audit/{uuid.uuid4()}"
    from audit.notes import generate_signer_key

    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-verify-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": f"{args.pg}/{db_name}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AUDIT_LOG_ORIGIN": origin,
            "AUDIT_SIGNING_KEYS": os.environ.get("AUDIT_SIGNING_KEYS") or generate_signer_key(origin),
            "AUDIT_SIGNING_KEY_FILE": str(workdir / "unused-signing.key"),
            "LOG_LEVEL": "WARNING",
        }
    )
    if args.db is None:
        bench_audit.pg_admin(args.pg, f'CREATE DATABASE "{db_name}"')
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        bench_audit.setup_django()
        from audit.checkpoints import checkpoint_create, head
        from audit.verification import record_verification

        if head().size < entries:
            built = bench_audit.build_log(entries)
            print(f"built {built['built']:,} entries in {built['build_s']:.0f} s", flush=True)
        size = head().size
        t_full = None
        if args.full or args.db is None or size <= 2_000_000:
            t0 = time.perf_counter()
            full = record_verification(trigger="bench")
            t_full = time.perf_counter() - t0
            assert full.ok, full.message
        else:  # the incremental run starts from the last verified checkpoint: mark the kept log's as verified
            mark_verified(size)
        bench_audit.build_log(size + args.new)
        checkpoint_create()
        load = os.getloadavg()
        t0, cpu0, backend0 = time.perf_counter(), time.process_time(), backend_cpu()
        inc = record_verification(trigger="bench", mode="incremental")
        t_inc = time.perf_counter() - t0
        cpu = time.process_time() - cpu0 + backend_cpu() - backend0
        assert inc.ok, inc.message
        if t_full is not None:
            print(f"full verification of {size:,} entries (baseline): {t_full:.2f} s")
        print(
            f"incremental after {args.new:,} new entries: {t_inc:.2f} s wall, {cpu:.2f} s CPU (process + PostgreSQL "
            f"backend), load average {load[0]:.1f} on {os.cpu_count()} cores"
            + (f" ({t_inc / t_full:.3f}x the full pass)" if t_full else "")
        )
        print(f"  recorded: {inc.trigger}: {inc.message}")
        print("\nsummary")
        print(
            f"  incremental verification of {args.new:,} new entries on a {size:,}-entry log: {t_inc:.2f} s wall, "
            f"{cpu:.2f} s CPU at load {load[0]:.1f} (target < 2 s on 10M entries: "
            f"{'PASS' if t_inc < 2 else 'MISS'} on wall, {'PASS' if cpu < 2 else 'MISS'} on CPU)"
            + (f", full pass {t_full:.1f} s" if t_full else "")
        )
    finally:
        if not args.keep_db and args.db is None:
            from django.db import connections

            connections.close_all()
            bench_audit.pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db_name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
