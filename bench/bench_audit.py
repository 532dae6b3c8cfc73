#!/usr/bin/env python3
"""Benchmark the audit log against PostgreSQL: write overhead, batch append, verification, proofs.

    .venv/bin/python bench/bench_audit.py [--entries 1000000] [--quick] [--keep-db]

Creates a fresh database (``mlgov_bench_<random>``) on PostgreSQL (``--pg``, default
postgresql://postgres@127.0.0.1:5432), migrates it with ``manage.py migrate`` and measures, in
the same run, each figure next to its baseline:

  a. audit overhead: transactions/s of "UPDATE one governed row + audit_event_append" vs the
     same UPDATE on a plain copy of the table (no audit trigger, no event), 1 and 16 writer
     processes (each with its own connection and its own row), plus the full service call
     ``registered_model_update`` for reference;
  b. batch append: events/s through ``POST /api/v1/audit/events`` (batches of 1,000, in-process
     DRF APIClient, pipeline token) vs raw ``audit_events_append``; cProfile if the target is missed;
  c. verification at N entries: ``verify_database()`` (what ``manage.py audit_verify`` runs) vs
     reading the same rows, each in a fresh subprocess (peak RSS, RSS growth); export the bundle
     and time the offline verifier (jobs=1, jobs=2) vs reading the lines;
  d. inclusion / consistency proofs from the database: median and max over 200 random requests.

Runs with DEBUG=false (production settings; no query logging) and a generated signing key.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRITERS = (1, 16)
API_BATCH = 1000
BUILD_BATCH = 5000
CHECKPOINT_EVERY = 100_000
PROOFS = 200
NAMES = ["alice", "bob", "J\u00fcrgen M\u00fcller", "\u00c9lodie", "\u674e\u534e", "carol", "dave", "erin"]


# --------------------------------------------------------------------------------------------
# helpers


def log(message: str) -> None:
    print(message, flush=True)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: on Linux that keeps the parent's peak
    across fork + exec, so a child started by a 170 MB parent would report >= 170 MB."""
    return _status_mb("VmHWM:")


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    return _status_mb("VmRSS:")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def pg_admin(pg: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def setup_django() -> None:
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic in a bench

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    django.setup()


def event_spec(actor, seq: int, rnd: random.Random):
    from audit.services import EventSpec

    name = NAMES[seq % len(NAMES)]
    details = {
        "batch": f"b-{seq // 1000}",
        "rows": rnd.randrange(10**9),
        "scorer": name,
        "auc": f"0.{rnd.randrange(10**4):04d}",
        "artifact": f"sha256:{rnd.getrandbits(256):064x}",
    }
    return EventSpec(
        actor=actor,
        action="pipeline.batch_scored",
        target={"type": "model_version", "id": str(seq // 4), "version": f"1.{seq % 10}.0"},
        details=details,
        reason=f"Freigabe durch {name}" if seq % 5 == 0 else None,
    )


def api_event(seq: int, rnd: random.Random) -> dict:
    spec = event_spec(None, seq, rnd)
    event = {"action": spec.action, "target": spec.target, "details": spec.details}
    if spec.reason:
        event["reason"] = spec.reason
    return event


def run_child(kind: str, **kwargs) -> dict:
    """Run one measurement in a fresh interpreter (clean peak RSS); returns its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--child-args", json.dumps(kwargs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"child {kind} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# a. audit overhead


PLAIN_TABLE = "bench_plain_model"


def prepare_writers(count: int) -> tuple[list[int], int]:
    """One registered model per writer (no row contention) and a plain, unguarded copy of the table."""
    from django.db import connection

    from governance.accounts.principal import Principal
    from governance.accounts.roles import DEVELOPER
    from governance.accounts.services import user_create
    from governance.registry.services import registered_model_create

    owner = user_create(by=Principal.system("bench"), username="bench-owner", password=None, roles=[DEVELOPER])
    ids = []
    for index in range(count):
        model = registered_model_create(
            by=Principal.for_user(owner, auth="cli"),
            name=f"bench-model-{index}",
            purpose="initial",
            business_unit="bench",
            eu_ai_act_category="minimal",
            risk_tier="tier_3",
        )
        ids.append(model.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {PLAIN_TABLE} (LIKE registry_registeredmodel INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        cursor.execute(f"INSERT INTO {PLAIN_TABLE} SELECT * FROM registry_registeredmodel")
    return ids, owner.pk


def _writer(kind: str, model_id: int, owner_id: int, duration: float, ready, start, results) -> None:
    from django.db import connection, transaction

    from audit.context import Actor
    from audit.services import audit_event_append

    actor = Actor(type="user", id=str(owner_id), username="bench-owner", auth="token")
    target = {"type": "registered_model", "id": str(model_id), "name": f"bench-model-{model_id}"}
    counter = [0]
    if kind == "deferred":
        from django.conf import settings

        settings.AUDIT_SEQUENCING = "deferred"
    if kind == "service":
        from governance.accounts.models import User
        from governance.accounts.principal import Principal
        from governance.registry.models import RegisteredModel
        from governance.registry.services import registered_model_update

        principal = Principal.for_user(User.objects.get(pk=owner_id), auth="token")
        model = RegisteredModel.objects.get(pk=model_id)

    def one() -> None:
        counter[0] += 1
        purpose = f"purpose {os.getpid()} {counter[0]}"
        if kind == "plain":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {PLAIN_TABLE} SET purpose = %s, updated_at = now() WHERE id = %s", [purpose, model_id]
                )
        elif kind in ("audited", "deferred"):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE registry_registeredmodel SET purpose = %s, updated_at = now() WHERE id = %s",
                        [purpose, model_id],
                    )
                audit_event_append(
                    actor=actor,
                    action="registered_model.update",
                    target=target,
                    details={"purpose": {"before": "previous", "after": purpose}},
                )
        else:
            registered_model_update(by=principal, model=model, data={"purpose": purpose})

    for _ in range(WARMUP):  # connection, statement caches
        one()
    ready.put(os.getpid())
    start.wait()
    done = 0
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        one()
        done += 1
    results.put(done)
    connection.close()


WARMUP = 20  # transactions per writer before the clock starts


def throughput(kind: str, writers: int, ids: list[int], owner_id: int, duration: float) -> float:
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    ctx = mp.get_context("fork")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(kind, ids[i], owner_id, duration, ready, start, results))
        for i in range(writers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    sequencer = None
    if kind == "deferred":  # the product's sequencer process, as operations runs it
        from audit.models import AuditHead

        size_before = AuditHead.objects.get().size  # the warm-up events are pending: nothing sequenced them yet
        sequencer = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "audit_sequencer"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        sequencer.stdout.readline()  # "sequencing pending audit events ...": it is running
    start.set()
    total = sum(results.get(timeout=duration + 120) for _ in procs)
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"writer {kind} exited with {proc.exitcode}")
    if sequencer:
        from audit.models import AuditPendingEvent
        from audit.services import audit_pending_sequence

        backlog = AuditPendingEvent.objects.count()
        sequencer.send_signal(signal.SIGINT)
        output = sequencer.communicate(timeout=120)[0].strip().splitlines()
        audit_pending_sequence()
        appended = AuditHead.objects.get().size - size_before
        log(
            f"           sequencer: {output[-1] if output else '(no output)'}; "
            f"events still pending when the writers stopped: {backlog}; "
            f"log grew by {appended:,} for {total + WARMUP * writers:,} transactions"
        )
        connections.close_all()
    return total / duration


def pending_after_writers() -> None:
    """Sequence what the writers left pending and check that the log still verifies."""
    from audit.services import audit_pending_sequence
    from audit.verification import verify_database

    audit_pending_sequence()
    result = verify_database()
    if not result.ok:
        raise RuntimeError(f"log does not verify after the deferred phase: {result.line()}")


def bench_overhead(duration: float) -> dict:
    ids, owner_id = prepare_writers(max(WRITERS))
    out = {}
    for writers in WRITERS:
        for kind in ("plain", "audited", "deferred", "service"):
            tps = throughput(kind, writers, ids, owner_id, duration)
            out[f"{kind}_{writers}"] = tps
            log(f"  {kind:8s} {writers:2d} writer(s): {tps:10,.0f} tx/s")
            if kind == "deferred":
                pending_after_writers()
        plain = out[f"plain_{writers}"]
        log(
            f"  -> audited/plain at {writers} writer(s): inline {out[f'audited_{writers}'] / plain:.2f}x, "
            f"deferred {out[f'deferred_{writers}'] / plain:.2f}x   "
            f"(service/plain {out[f'service_{writers}'] / plain:.2f}x)"
        )
    return out


# --------------------------------------------------------------------------------------------
# b. batch append


def bench_batch(batches: int, profile: bool) -> dict:
    from django.db import transaction
    from rest_framework.test import APIClient

    from audit.context import Actor
    from audit.services import audit_events_append
    from governance.accounts.principal import Principal
    from governance.accounts.services import service_account_create

    rnd = random.Random(7)
    _, key = service_account_create(by=Principal.system("bench"), name=f"bench-pipeline-{secrets.token_hex(3)}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    # Bodies are encoded once, outside the timed section: encoding is the pipeline's cost, not ours.
    payloads = [
        json.dumps({"events": [api_event(b * API_BATCH + i, rnd) for i in range(API_BATCH)]}).encode()
        for b in range(batches)
    ]

    def post(payload: bytes) -> None:
        response = client.post("/api/v1/audit/events", payload, content_type="application/json")
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/v1/audit/events: {response.status_code} {response.content[:300]!r}")

    post(payloads[0])  # warm up
    t0 = time.perf_counter()
    for payload in payloads:
        post(payload)
    api_eps = batches * API_BATCH / (time.perf_counter() - t0)

    actor = Actor(type="service", id="bench-pipeline", username="bench-pipeline", auth="token")
    spec_batches = [[event_spec(actor, b * API_BATCH + i, rnd) for i in range(API_BATCH)] for b in range(batches)]
    t0 = time.perf_counter()
    for specs in spec_batches:
        with transaction.atomic():
            audit_events_append(specs, floats="reject")
    raw_eps = batches * API_BATCH / (time.perf_counter() - t0)
    log(f"  API  POST /api/v1/audit/events x{batches} batches of {API_BATCH}: {api_eps:10,.0f} events/s")
    log(
        f"  raw  audit_events_append       x{batches} batches of {API_BATCH}: {raw_eps:10,.0f} events/s"
        f"   (API/raw {api_eps / raw_eps:.2f}x)"
    )
    out = {"api_eps": api_eps, "raw_eps": raw_eps}
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for payload in payloads[: max(3, batches // 4)]:
            post(payload)
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        out["profile_total_s"] = stats.total_tt
        for order, count in (("cumulative", 30), ("tottime", 15)):
            stream.seek(0)
            stream.truncate()
            stats.sort_stats(order).print_stats(count)
            log(f"  cProfile of {max(3, batches // 4)} API batches ({stats.total_tt:.2f} s), top by {order}:")
            lines = stream.getvalue().splitlines()
            start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
            for line in lines[start:]:
                if line.strip():
                    log("    " + line.rstrip().replace(str(ROOT) + "/", "").replace(sys.prefix + "/lib/", "")[:160])
            out[f"profile_{order}"] = stream.getvalue()
    return out


# --------------------------------------------------------------------------------------------
# c. build, verify, export


def build_log(entries: int) -> dict:
    from django.db import transaction

    from audit.checkpoints import checkpoint_create, head
    from audit.context import Actor
    from audit.services import audit_events_append

    actor = Actor(type="service", id="bench-pipeline", username="bench-pipeline", auth="token")
    rnd = random.Random(11)
    size = head().size
    start_size = size
    t0 = time.perf_counter()
    last_report = t0
    next_checkpoint = (size // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
    while size < entries:
        count = min(BUILD_BATCH, entries - size, next_checkpoint - size)
        specs = [event_spec(actor, size + i, rnd) for i in range(count)]
        with transaction.atomic():
            audit_events_append(specs)
        size += count
        if size >= next_checkpoint:
            checkpoint_create()
            next_checkpoint += CHECKPOINT_EVERY
        now = time.perf_counter()
        if now - last_report > 10 or size == entries:
            rate = (size - start_size) / (now - t0)
            log(f"  built {size:,}/{entries:,} entries ({rate:,.0f} events/s, ETA {(entries - size) / rate:,.0f} s)")
            last_report = now
    checkpoint_create()
    elapsed = time.perf_counter() - t0
    return {"built": size - start_size, "build_s": elapsed}


def child_verify_db(args: dict) -> dict:
    from audit.keys import verifier_keys_for
    from audit.models import AuditHead
    from audit.verification import verify_database

    head = AuditHead.objects.get(pk=1)
    keys = verifier_keys_for(head.origin)
    samples = []
    seen = [0]
    step = max(5000, head.size // 10)

    def progress(count: int) -> None:
        seen[0] += count
        if seen[0] % step < count:
            samples.append((seen[0], current_rss_mb()))

    base = current_rss_mb()
    t0 = time.perf_counter()
    result = verify_database(trusted_keys=keys, progress=progress)
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"verify_database failed: {result.line()}")
    return {
        "entries": result.entries,
        "seconds": elapsed,
        "checkpoints": result.checkpoints,
        "base_rss_mb": base,
        "samples": samples,
        "end_rss_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def child_read_db(args: dict) -> dict:
    from audit.models import AuditEvent

    base = current_rss_mb()
    samples = []
    t0 = time.perf_counter()
    n = 0
    total = 0
    rows = AuditEvent.objects.order_by("seq").values_list("seq", "record", "leaf_hash").iterator(chunk_size=5000)
    for _seq, record, _leaf in rows:
        n += 1
        total += len(record)
        if n % 100_000 == 0:
            samples.append((n, current_rss_mb()))
    elapsed = time.perf_counter() - t0
    return {
        "entries": n,
        "bytes": total,
        "seconds": elapsed,
        "base_rss_mb": base,
        "samples": samples,
        "end_rss_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def child_verify_bundle(args: dict) -> dict:
    from audit.verifier import verify_log_bundle

    keys = Path(args["keys"]).read_text().split()
    t0 = time.perf_counter()
    result = verify_log_bundle(args["path"], keys, jobs=args["jobs"])
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"offline verifier failed: {result.line()}")
    return {
        "entries": result.entries,
        "seconds": elapsed,
        "peak_rss_mb": peak_rss_mb(),
        "workers_peak_rss_mb": children_peak_rss_mb(),
    }


def child_read_lines(args: dict) -> dict:
    t0 = time.perf_counter()
    n = 0
    with open(Path(args["path"]) / "entries.jsonl", "rb") as handle:
        for _line in handle:
            n += 1
    return {"entries": n, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


CHILDREN = {
    "verify_db": child_verify_db,
    "read_db": child_read_db,
    "verify_bundle": child_verify_bundle,
    "read_lines": child_read_lines,
}


def growth(result: dict) -> float:
    """RSS growth from the first sample (after the first ~10% of rows) to the end, in MB."""
    samples = result.get("samples") or []
    return result["end_rss_mb"] - (samples[0][1] if samples else result["base_rss_mb"])


def bench_verify(workdir: Path) -> dict:
    from audit.export import export_bundle
    from audit.keys import verifier_keys_for
    from audit.models import AuditHead

    out = {}
    log("  verify_database() in a fresh process ...")
    out["verify"] = verify = run_child("verify_db")
    log("  reading the same rows (values_list seq, record, leaf_hash; iterator chunk 5000) ...")
    out["read"] = read = run_child("read_db")
    v_eps, r_eps = verify["entries"] / verify["seconds"], read["entries"] / read["seconds"]
    out["verify_eps"], out["read_eps"] = v_eps, r_eps
    log(
        f"  verify_database: {verify['entries']:,} entries in {verify['seconds']:.1f} s = {v_eps:10,.0f} entries/s, "
        f"peak RSS {verify['peak_rss_mb']:.0f} MB, RSS growth after first 10% {growth(verify):+.1f} MB"
    )
    log(
        f"  read rows      : {read['entries']:,} entries in {read['seconds']:.1f} s = {r_eps:10,.0f} entries/s, "
        f"peak RSS {read['peak_rss_mb']:.0f} MB, RSS growth after first 100k {growth(read):+.1f} MB"
    )
    log(f"  -> verify is {read['seconds'] and verify['seconds'] / read['seconds']:.2f}x the read time")
    log(
        "  RSS samples during verify_database (entries: MB): "
        + ", ".join(f"{n // 1000}k: {mb:.0f}" for n, mb in verify["samples"])
    )

    bundle = workdir / "bundle"
    t0 = time.perf_counter()
    summary = export_bundle(bundle)
    out["export_s"] = time.perf_counter() - t0
    out["bundle_mb"] = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / 1e6
    log(
        f"  export_bundle: {summary['size']:,} entries, {summary['checkpoints']} checkpoints, "
        f"{out['bundle_mb']:.0f} MB in {out['export_s']:.1f} s"
    )
    keys_file = workdir / "pinned-keys.txt"
    keys_file.write_text("\n".join(verifier_keys_for(AuditHead.objects.get(pk=1).origin)) + "\n")
    out["read_lines"] = lines = run_child("read_lines", path=str(bundle))
    log(
        f"  read lines     : {lines['entries']:,} in {lines['seconds']:.2f} s = "
        f"{lines['entries'] / lines['seconds']:12,.0f} lines/s"
    )
    for jobs in (1, 2):
        res = run_child("verify_bundle", path=str(bundle), keys=str(keys_file), jobs=jobs)
        out[f"offline_{jobs}"] = res
        eps = res["entries"] / res["seconds"]
        log(
            f"  offline verifier jobs={jobs}: {res['entries']:,} in {res['seconds']:.1f} s = {eps:10,.0f} entries/s "
            f"({res['seconds'] / lines['seconds']:.0f}x reading the lines), peak RSS {res['peak_rss_mb']:.0f} MB"
            + (f" (+ workers: ru_maxrss {res['workers_peak_rss_mb']:.0f} MB, an upper bound)" if jobs > 1 else "")
        )
    return out


# --------------------------------------------------------------------------------------------
# d. proofs


def bench_proofs() -> dict:
    import base64

    from audit.checkpoints import consistency, head, inclusion
    from audit.verifier import verify_consistency, verify_inclusion

    size = head().size
    rnd = random.Random(3)
    out = {}
    inc_times, con_times = [], []
    inclusion(0, size)  # warm up
    for _ in range(PROOFS):
        tree = rnd.randint(1, size)
        seq = rnd.randrange(tree)
        t0 = time.perf_counter()
        proof = inclusion(seq, tree)
        inc_times.append(time.perf_counter() - t0)
        if not verify_inclusion(
            seq,
            tree,
            base64.b64decode(proof["leaf_hash"]),
            [base64.b64decode(h) for h in proof["proof"]],
            base64.b64decode(proof["root"]),
        ):
            raise RuntimeError(f"inclusion proof for {seq} in {tree} does not verify")
    for _ in range(PROOFS):
        second = rnd.randint(1, size)
        first = rnd.randint(1, second)
        t0 = time.perf_counter()
        proof = consistency(first, second)
        con_times.append(time.perf_counter() - t0)
        hashes = [base64.b64decode(h) for h in proof["proof"]]
        if not verify_consistency(
            first, second, base64.b64decode(proof["first_root"]), base64.b64decode(proof["second_root"]), hashes
        ):
            raise RuntimeError(f"consistency proof {first}->{second} does not verify")
    for name, times in (("inclusion", inc_times), ("consistency", con_times)):
        out[name] = {"median_ms": statistics.median(times) * 1e3, "max_ms": max(times) * 1e3}
        log(
            f"  {name:11s} over {size:,} entries, {PROOFS} random requests (each checked): "
            f"median {out[name]['median_ms']:.2f} ms, max {out[name]['max_ms']:.2f} ms"
        )
    return out


# --------------------------------------------------------------------------------------------
# main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=None, help="log size for verification and proofs (1,000,000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20k entries, 2 s per throughput phase")
    ap.add_argument("--duration", type=float, default=None, help="seconds per throughput phase (8; quick 2)")
    ap.add_argument("--batches", type=int, default=None, help="API batches of 1,000 to time (20; quick 5)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database")
    ap.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without database name",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-args", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.child not in ("read_lines", "verify_bundle"):
            setup_django()
        print(json.dumps(CHILDREN[args.child](json.loads(args.child_args))))
        return 0

    entries = args.entries or (20_000 if args.quick else 1_000_000)
    duration = args.duration or (2.0 if args.quick else 8.0)
    batches = args.batches or (5 if args.quick else 20)
    db_name = f"mlgov_bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-audit-"))
    origin = f"bench.local/mlgov-audit/{uuid.uuid4()}"

    from audit.notes import generate_signer_key

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": f"{args.pg}/{db_name}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "false",
            "AUDIT_LOG_ORIGIN": origin,
            "AUDIT_SIGNING_KEYS": generate_signer_key(origin),
            "AUDIT_SIGNING_KEY_FILE": str(workdir / "unused-signing.key"),
            "LOG_LEVEL": "WARNING",
        }
    )
    info = machine()
    pg_version = pg_admin(args.pg, "SHOW server_version")[0][0]
    pg_settings = {
        name: pg_admin(args.pg, f"SHOW {name}")[0][0]
        for name in ("synchronous_commit", "fsync", "shared_buffers", "wal_sync_method", "commit_delay")
    }
    log(
        f"== mlgov audit benchmark: {entries:,} entries, {duration:g} s per throughput phase, "
        f"{batches} API batches of {API_BATCH}{' (quick)' if args.quick else ''}"
    )
    log(
        f"   machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"PostgreSQL {pg_version} ({', '.join(f'{k}={v}' for k, v in pg_settings.items())})"
    )
    log(f"   database {db_name}, DEBUG=false, work dir {workdir}")

    pg_admin(args.pg, f'CREATE DATABASE "{db_name}"')
    results: dict = {"machine": info, "pg_version": pg_version, "pg_settings": pg_settings, "entries": entries}
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        log(f"   migrated in {time.perf_counter() - t0:.1f} s")
        setup_django()

        log("\n== a. audit overhead: UPDATE one row (+ audit event) per transaction, writer processes")
        log(
            f"   plain   = the same UPDATE on {PLAIN_TABLE}, a copy of registry_registeredmodel without the "
            "deferred audit trigger (a governed table refuses an unaudited commit)"
        )
        log(
            "   audited = UPDATE registry_registeredmodel + audit_event_append, one transaction, "
            "AUDIT_SEQUENCING=inline (head lock in the transaction)"
        )
        log(
            "   deferred = the same with AUDIT_SEQUENCING=deferred (a pending row in the transaction) while "
            "`manage.py audit_sequencer` runs"
        )
        log("   service = registered_model_update(purpose) through the service (role checks, full_clean, lock, audit)")
        results["overhead"] = bench_overhead(duration)

        log(f"\n== b. batch append: {API_BATCH}-event batches")
        results["batch"] = bench_batch(batches, profile=False)
        if results["batch"]["api_eps"] < 20_000:
            results["batch"].update(bench_batch_profile(batches))

        log(f"\n== c. verification at {entries:,} entries")
        results["build"] = build_log(entries)
        results["verify"] = bench_verify(workdir)

        log(f"\n== d. proofs at {entries:,} entries")
        results["proofs"] = bench_proofs()
    finally:
        from django.db import connections

        try:
            connections.close_all()
        except Exception:  # noqa: BLE001 - django may not be set up yet
            pass
        if args.keep_db:
            log(
                f"\n   kept database {db_name} (DATABASE_URL={args.pg}/{db_name}); signing key in AUDIT_SIGNING_KEYS "
                "is not kept, checkpoints cannot be re-verified with a new one"
            )
        else:
            pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)

    summary(results)
    out = os.environ.get("BENCH_AUDIT_JSON")
    if out:
        Path(out).write_text(json.dumps(results, indent=2, default=str))
    return 0


def bench_batch_profile(batches: int) -> dict:
    log("  target missed: profiling the API path")
    res = bench_batch(max(2, batches // 4), profile=True)
    return {k: v for k, v in res.items() if k.startswith("profile")}


def summary(r: dict) -> None:
    o, b, v, p = r["overhead"], r["batch"], r["verify"], r["proofs"]
    ratio16 = o["deferred_16"] / o["plain_16"]
    verify_ratio = v["verify"]["seconds"] / v["read"]["seconds"]
    flat = abs(growth(v["verify"])) < 20
    rows = [
        (
            "a. audited/plain, 16 writers, deferred",
            ">= 0.5x",
            f"{o['deferred_16']:,.0f} / {o['plain_16']:,.0f} = {ratio16:.2f}x",
            ratio16 >= 0.5,
        ),
        (
            "a. audited/plain, 16 writers, inline",
            "(info)",
            f"{o['audited_16']:,.0f} / {o['plain_16']:,.0f} = {o['audited_16'] / o['plain_16']:.2f}x",
            None,
        ),
        (
            "a. audited/plain, 1 writer, inline/deferred",
            "(info)",
            f"{o['audited_1'] / o['plain_1']:.2f}x / {o['deferred_1'] / o['plain_1']:.2f}x",
            None,
        ),
        (
            "b. batch API events/s (1,000/batch)",
            ">= 20,000",
            f"{b['api_eps']:,.0f} (raw {b['raw_eps']:,.0f})",
            b["api_eps"] >= 20_000,
        ),
        ("c. verify_database entries/s", ">= 100,000", f"{v['verify_eps']:,.0f}", v["verify_eps"] >= 100_000),
        (
            "c. verify time / read time",
            "<= 2x",
            f"{verify_ratio:.2f}x (read {v['read_eps']:,.0f}/s)",
            verify_ratio <= 2,
        ),
        (
            "c. verify memory flat",
            "growth < 20 MB",
            f"{growth(v['verify']):+.1f} MB, peak {v['verify']['peak_rss_mb']:.0f} MB",
            flat,
        ),
        (
            "c. offline verifier jobs=1 / jobs=2",
            "(info)",
            f"{v['offline_1']['entries'] / v['offline_1']['seconds']:,.0f} / "
            f"{v['offline_2']['entries'] / v['offline_2']['seconds']:,.0f} entries/s",
            None,
        ),
        (
            "d. inclusion proof median / max",
            "<= 10 ms",
            f"{p['inclusion']['median_ms']:.2f} / {p['inclusion']['max_ms']:.2f} ms",
            p["inclusion"]["max_ms"] <= 10,
        ),
        (
            "d. consistency proof median / max",
            "<= 10 ms",
            f"{p['consistency']['median_ms']:.2f} / {p['consistency']['max_ms']:.2f} ms",
            p["consistency"]["max_ms"] <= 10,
        ),
    ]
    log(
        f"\n== summary ({r['entries']:,} entries; {r['machine']['nproc']} CPUs, {r['machine']['ram_gb']} GB, "
        f"PostgreSQL {r['pg_version']})"
    )
    log(f"{'measure':40s} {'target':>16s}  {'result':44s} verdict")
    for name, target, value, ok in rows:
        verdict = "-" if ok is None else ("PASS" if ok else "MISS")
        log(f"{name:40s} {target:>16s}  {value:44s} {verdict}")


if __name__ == "__main__":
    sys.exit(main())
