"""The service under load (issue 15.6): gunicorn on PostgreSQL with a real Celery worker on Redis.

.venv/bin/python bench/load_test.py                               # 50 clients for 300 s, 3 gunicorn workers
.venv/bin/python bench/load_test.py --clients 10 --duration 30    # a short run on a shared machine
options: --workers N (gunicorn) --pg postgresql://user@host:port --keep-db

Loopback only. Creates a fresh database (``mlgov_load_<random>``, dropped at the end), an empty Redis
database (the first of 1-15 with no keys, flushed at the end) as the broker, starts a Celery worker
and ``gunicorn governance.wsgi`` (``make serve``'s command) on a socket this script bound to a free
loopback port, then runs --clients client threads (keep-alive HTTP/1.1 connections, token auth) for
--duration seconds with this mix of calls:

  POST /api/v1/versions/              a version registration                     15 %
  POST /api/v1/evaluations/           a small inline evaluation, computed inline  8 %
  POST /api/v1/evaluations/           an inline evaluation queued to the worker   4 %
  POST /api/v1/audit/events           a batch of 20 pipeline events              13 %
  GET  /api/v1/promotions/{id}/       a promotion read                           20 %
  GET  /api/v1/models/, /versions/    list pages                                 40 %

It reports throughput, p50/p99 latency and status counts per endpoint, the 5xx count (target 0),
and checks that no audit event was lost: after the queued evaluations finish, the log has grown by
exactly the events of the accepted calls (each call's events are counted once, before the run, by
making the same call alone), and a full verification passes. The issue's figure is 50 clients for
5 minutes and its scaling from 1 to 3 gunicorn workers: run the script with --workers 1 and 3.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_audit

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SYNC_MAX_ROWS = 200  # inline evaluations above this many rows go to the worker
MIX = [
    ("register version", 15),
    ("evaluation inline", 8),
    ("evaluation queued", 4),
    ("audit event batch", 13),
    ("promotion read", 20),
    ("list models", 15),
    ("list versions", 25),
]
WRITES = ("register version", "evaluation inline", "evaluation queued", "audit event batch")
# Events the service derives from the calls rather than records for each: the open promotion's gate
# checklist is refreshed after evaluations, coalesced (several evaluations, one refresh).
DERIVED_ACTIONS = ("promotion_request.gates_refresh",)
ACCEPTED = {"register version": 201, "evaluation inline": 201, "evaluation queued": 202, "audit event batch": 201}


def sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


class Calls:
    """The requests of the mix, as (method, path, body) for one client."""

    def __init__(self, model: str, version_id: int, promotion_id: int, rnd: random.Random):
        self.model, self.version_id, self.promotion_id, self.rnd = model, version_id, promotion_id, rnd

    def make(self, kind: str) -> tuple[str, str, dict | None]:
        rnd = self.rnd
        if kind == "register version":
            name = f"{uuid.uuid4().hex[:12]}"
            return (
                "POST",
                "/api/v1/versions/",
                {
                    "model": self.model,
                    "version": f"1.0.0+{name}",
                    "artifact_uri": f"s3://models/load/{name}.pkl",
                    "artifact_sha256": sha(name),
                    "training_data_ref": "s3://data/load/train.parquet",
                    "training_data_sha256": sha("train"),
                    "code_commit": sha(name)[:12],
                    "framework": "xgboost 2.1",
                    "parameters": {"max_depth": 6},
                },
            )
        if kind in ("evaluation inline", "evaluation queued"):
            rows = 100 if kind == "evaluation inline" else SYNC_MAX_ROWS + 300
            y_true = [rnd.randrange(2) for _ in range(rows)]
            return (
                "POST",
                "/api/v1/evaluations/",
                {
                    "model_version": self.version_id,
                    "kind": "fairness",
                    "dataset": f"load-{kind.split()[1]}",
                    "data": {
                        "y_true": y_true,
                        "y_pred": [y if rnd.random() < 0.8 else 1 - y for y in y_true],
                        "sensitive_features": {"segment": [rnd.choice("ab") for _ in range(rows)]},
                    },
                    "params": {"min_group_size": 10},
                    "thresholds": [{"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8}],
                },
            )
        if kind == "audit event batch":
            batch = uuid.uuid4().hex[:10]
            events = [
                {
                    "action": "pipeline.batch_scored",
                    "target": {"type": "batch", "id": f"{batch}-{i}"},
                    "details": {"rows": i},
                }
                for i in range(20)
            ]
            return "POST", "/api/v1/audit/events", {"events": events}
        if kind == "promotion read":
            return "GET", f"/api/v1/promotions/{self.promotion_id}/", None
        if kind == "list models":
            return "GET", "/api/v1/models/?page_size=20&page=1", None
        return "GET", f"/api/v1/versions/?model={self.model}&page_size=20&page=1", None


def request(conn_box: list, port: int, token: str, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}", "Host": "127.0.0.1"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    for attempt in range(2):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn_box[0].request(method, path, body=payload, headers=headers)
            response = conn_box[0].getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn_box[0].close()
            conn_box[0] = None  # gunicorn closed an idle keep-alive connection: reconnect once
            if attempt or method != "GET":
                raise
    raise RuntimeError("unreachable")


def free_redis_db() -> int:
    import redis

    for number in random.sample(range(1, 16), 15):
        client = redis.Redis(host="127.0.0.1", port=6379, db=number)
        if client.dbsize() == 0:
            client.set(f"mlgov-load-test-{os.getpid()}", "claimed", ex=24 * 3600)
            return number
    raise RuntimeError("no empty Redis database among 1-15")


def wait_for_http(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/audit/keys", headers={"Host": "127.0.0.1"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


def wait_for_worker(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if "ready." in log.read_text():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready in {timeout} s:\n{log.read_text()[-3000:]}")


def actions_since(seq: int) -> dict[str, int]:
    from django.db.models import Count

    from audit.selectors import events

    rows = events().filter(seq__gte=seq).values_list("action").annotate(n=Count("seq")).order_by("action")
    return dict(rows)


def log_size() -> int:
    from audit.checkpoints import head

    return head().size


def evaluations_pending() -> int:
    from governance.evaluations.models import Evaluation

    return Evaluation.objects.filter(status__in=("queued", "running")).count()


def settle(timeout: float = 300) -> None:
    """Wait until the worker has finished every queued evaluation."""
    deadline = time.monotonic() + timeout
    while evaluations_pending() and time.monotonic() < deadline:
        time.sleep(0.5)
    if evaluations_pending():
        raise RuntimeError(f"{evaluations_pending()} evaluation(s) still queued or running after {timeout} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds")
    ap.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"))
    args = ap.parse_args()

    from audit.notes import generate_signer_key

    db_name = f"mlgov_load_{secrets.token_hex(4)}"
    origin = f"bench.local/mlgov-audit/{uuid.uuid4()}"
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-load-"))
    redis_db = free_redis_db()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DATABASE_URL": f"{args.pg}/{db_name}",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_LOG_ORIGIN": origin,
        "AUDIT_SIGNING_KEYS": generate_signer_key(origin),
        "AUDIT_SIGNING_KEY_FILE": str(workdir / "unused-signing.key"),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "EVALUATION_SYNC_MAX_ROWS": str(SYNC_MAX_ROWS),
        "MEDIA_ROOT": str(workdir / "media"),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    procs: list[subprocess.Popen] = []
    bench_audit.pg_admin(args.pg, f'CREATE DATABASE "{db_name}"')
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], check=True, cwd=ROOT, env=env
        )
        bench_audit.setup_django()
        from governance.accounts.services import service_account_create
        from tests.factories.accounts import ADMIN, person
        from tests.factories.registry import model_version, registered_model

        _, token = service_account_create(by=ADMIN, name="load-pipeline")
        model = registered_model(owner=person("developer"))
        version = model_version(model=model, user=model.owner)

        worker_log, web_log = workdir / "worker.log", workdir / "gunicorn.log"
        with open(worker_log, "w") as out:
            procs.append(
                subprocess.Popen(
                    [str(VENV_BIN / "celery"), "-A", "governance", "worker", "--pool=solo", "--loglevel=INFO",
                     "-n", f"load-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with open(web_log, "w") as out:
            procs.append(
                subprocess.Popen(
                    [str(VENV_BIN / "gunicorn"), "governance.wsgi:application", "--bind", f"fd://{sock.fileno()}",
                     "--workers", str(args.workers), "--timeout", "120", "--keep-alive", "30"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),),
                )
            )  # fmt: skip
        wait_for_worker(procs[0], worker_log)
        wait_for_http(port, procs[1], web_log)

        # a promotion to read, and each write's events counted alone
        box: list = [None]
        status, body = request(
            box, port, token, "POST", "/api/v1/promotions/",
            {"model_version": version.pk, "target_stage": "staging", "reason": "Load test."},
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"promotion request: {status} {body[:300]!r}")
        promotion_id = json.loads(body)["id"]
        calls = Calls(model.name, version.pk, promotion_id, random.Random(0))
        per_call: dict[str, dict[str, int]] = {}
        for kind in WRITES:
            before = log_size()
            status, body = request(box, port, token, *calls.make(kind))
            if status != ACCEPTED[kind]:
                raise RuntimeError(f"{kind}: {status} {body[:300]!r}")
            settle()
            per_call[kind] = {action: n for action, n in actions_since(before).items() if action not in DERIVED_ACTIONS}
        print(f"events per accepted call: {per_call}", flush=True)

        results: dict[str, list[tuple[int, float]]] = defaultdict(list)
        lock = threading.Lock()
        start_size = log_size()
        deadline = time.monotonic() + args.duration
        kinds, weights = zip(*MIX, strict=True)

        def client(number: int) -> None:
            rnd = random.Random(number)
            mine = Calls(model.name, version.pk, promotion_id, rnd)
            conn: list = [None]
            local: dict[str, list[tuple[int, float]]] = defaultdict(list)
            while time.monotonic() < deadline:
                kind = rnd.choices(kinds, weights)[0]
                call = mine.make(kind)
                t0 = time.perf_counter()
                try:
                    status, _ = request(conn, port, token, *call)
                except (OSError, http.client.HTTPException):
                    status = 599  # connection failure: counted as an error
                local[kind].append((status, time.perf_counter() - t0))
            with lock:
                for kind, rows in local.items():
                    results[kind].extend(rows)

        print(
            f"{args.clients} clients for {args.duration:.0f} s against gunicorn with {args.workers} worker(s) "
            f"(load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
            flush=True,
        )
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        load_after = os.getloadavg()[0]
        settle()

        from audit.verification import record_verification

        expected: dict[str, int] = defaultdict(int)
        for kind in WRITES:
            accepted = sum(1 for status, _ in results[kind] if status == ACCEPTED[kind])
            for action, n in per_call[kind].items():
                expected[action] += n * accepted
        grown = log_size() - start_size
        by_action = actions_since(start_size)
        own = {action: n for action, n in by_action.items() if action not in DERIVED_ACTIONS}
        verification = record_verification(trigger="load-test")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            bench_audit.pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    total = sum(len(rows) for rows in results.values())
    errors_5xx = sum(1 for rows in results.values() for status, _ in rows if status >= 500)
    print(f"\nsummary ({args.clients} clients, {elapsed:.0f} s, gunicorn workers {args.workers}, "
          f"load average {load_after:.1f} on {os.cpu_count()} cores at the end)")  # fmt: skip
    print(f"  throughput: {total / elapsed:.1f} requests/s ({total:,} requests)")
    for kind, _ in MIX:
        rows = results.get(kind, [])
        if not rows:
            print(f"  {kind:20s} no requests")
            continue
        times = sorted(t for _, t in rows)
        statuses: dict[int, int] = defaultdict(int)
        for status, _ in rows:
            statuses[status] += 1
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"  {kind:20s} {len(rows) / elapsed:6.2f}/s  p50 {statistics.median(times) * 1e3:7.0f} ms  "
            f"p99 {p99 * 1e3:7.0f} ms  statuses {dict(sorted(statuses.items()))}"
        )
    print(f"  5xx responses: {errors_5xx} (target 0)")
    derived = grown - sum(own.values())
    print(
        f"  audit log grew by {grown:,} entries: {sum(own.values()):,} recorded by the calls, expected "
        f"{sum(expected.values()):,} from the accepted calls: {'OK, none lost' if own == expected else 'MISMATCH'}; "
        f"{derived} derived ({', '.join(DERIVED_ACTIONS)})"
    )
    if own != expected:
        print(f"    by action: found {own}, expected {dict(expected)}")
    print(f"  verification after the run: {'PASS' if verification.ok else 'FAIL'} ({verification.message[:120]})")
    return 0 if errors_5xx == 0 and own == expected and verification.ok else 1


if __name__ == "__main__":
    sys.exit(main())
