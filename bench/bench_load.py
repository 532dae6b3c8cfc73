"""The service under load (issue 15 item 6): gunicorn on PostgreSQL with a real Celery worker on Redis.

Creates its own database ``mlgov_load_<pid>`` (dropped at the end), migrates it, seeds the demo people,
model and promotion requests (``seed_demo``'s first steps) and a pipeline token, then for each gunicorn
worker count starts ``gunicorn governance.wsgi:application`` (as ``make serve``) on a free loopback port
and a Celery worker on a queue unique to the run, and drives a mix from this (separate) process with C
client threads (standard library ``http.client``, one keep-alive connection each) for D seconds:

    version registrations (POST /api/v1/versions/), small inline evaluations (POST /api/v1/evaluations/:
    100 rows computed in the request, 300 rows queued to the Celery worker), audit event batches of 50
    (POST /api/v1/audit/events), promotion reads (list and detail) and list pages (versions, models,
    evaluations).

Per endpoint it prints requests, throughput, p50/p99 latency, 4xx and 5xx counts; then, after the queued
evaluations finish, it checks that the audit log grew by exactly what the service acknowledged (per
action: ``model_version.create`` = versions registered, ``evaluation.create`` = evaluations accepted,
``evaluation.start``/``evaluation.complete`` = evaluations queued (202), ``external.load.*`` = events in
the accepted batches) with no gap in seq, and that
``manage.py audit_verify`` passes. The baseline is the first worker count of the same run (1 worker):
the scaling ratio of every figure is printed against it.

    nice -n 10 .venv/bin/python bench/bench_load.py [--clients 50] [--duration 300] [--workers 1,3]
        [--quick]  (10 clients x 20 s, workers 1,3)

Exit status 1 on any 5xx, a lost or extra audit event, a failed evaluation or a failing audit_verify.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
VENV_BIN = Path(PY).parent

SEED = r"""
import json, sys
import django
django.setup()
from django.core.management.base import BaseCommand
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.services import api_token_issue
from governance.api.management.commands.seed_demo import seed_model, seed_people, seed_workflow
from governance.common.demo import MODEL_NAME, PIPELINE_ACCOUNT
from governance.registry.models import ModelVersion
from governance.workflow.models import PromotionRequest

by = Principal.for_command("bench_load")
command = BaseCommand()
for step in (seed_people, seed_model, seed_workflow):
    step(command, by)
_, pipeline = api_token_issue(by=by, user=User.objects.get(username=PIPELINE_ACCOUNT), name="load")
_, reader = api_token_issue(by=by, user=User.objects.get(username="rita.risk"), name="load")
print(json.dumps({
    "pipeline": pipeline, "reader": reader, "model": MODEL_NAME,
    "version_id": ModelVersion.objects.filter(model__name=MODEL_NAME).order_by("pk").values_list("pk", flat=True)[0],
    "promotions": list(PromotionRequest.objects.values_list("pk", flat=True)[:20]),
}))
"""

# Audit head size, and the events since a seq counted per action (with the seq range, for gaps).
COUNT = r"""
import json, sys, time
import django
django.setup()
from django.db.models import Count, Max, Min
from audit import selectors
from governance.evaluations.models import Evaluation

start, wait_ids = int(sys.argv[1]), json.loads(sys.argv[2])
deadline = time.monotonic() + float(sys.argv[3])
pending = Evaluation.objects.filter(pk__in=wait_ids).exclude(status__in=("done", "failed"))
while pending.exists() and time.monotonic() < deadline:
    time.sleep(0.5)
statuses = {}
for status in Evaluation.objects.filter(pk__in=wait_ids).values_list("status", flat=True):
    statuses[status] = statuses.get(status, 0) + 1
head = selectors.head()
rows = selectors.events().filter(seq__gte=start)
span = rows.aggregate(n=Count("seq"), lo=Min("seq"), hi=Max("seq"))
by_action = dict(rows.order_by().values("action").annotate(n=Count("seq")).values_list("action", "n"))
print(json.dumps({"size": head.size, "span": span, "by_action": by_action, "evaluations": statuses}))
"""

ENDPOINTS = (
    "POST versions",
    "POST evaluations (inline)",
    "POST evaluations (queued)",
    "POST audit/events",
    "GET promotions list",
    "GET promotion detail",
    "GET versions list",
    "GET models list",
    "GET evaluations list",
)
WEIGHTS = (10, 6, 4, 10, 15, 15, 15, 10, 15)
BATCH = 50


def run(cmd, env, **kw):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, **kw)


def django_json(code: str, env: dict, *args: str) -> dict:
    out = subprocess.run([PY, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"helper failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def psql(sql: str, admin_url: str) -> None:
    run([PY, "-c", _PSQL, admin_url, sql], env=os.environ.copy())


_PSQL = r"""
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sys.argv[2])
"""


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.accepted: dict[str, int] = defaultdict(int)  # acknowledged audited changes, per audit action
        self.queued_ids: list[int] = []
        self.five_xx: list[tuple[str, int, str]] = []

    def codes_non2xx(self) -> list[int]:
        return [n for codes in self.codes.values() for c, n in codes.items() if not 200 <= c < 300 and c < 500]


def client_loop(index: int, port: int, seed: dict, stop_at: float, stats: Stats, run_tag: str) -> None:
    rng = random.Random(index)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    # As behind the TLS-terminating proxy of docs/operations.md (DEBUG off redirects plain http).
    proxy = {"X-Forwarded-Proto": "https"}
    pipe = {**proxy, "Authorization": f"Token {seed['pipeline']}", "Content-Type": "application/json"}
    read = {**proxy, "Authorization": f"Token {seed['reader']}"}
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        name = rng.choices(ENDPOINTS, WEIGHTS)[0]
        method, headers, body, audited = "GET", read, None, None
        if name == "POST versions":
            version = f"load-{run_tag}-{index}-{n}"
            method, headers, path = "POST", pipe, "/api/v1/versions/"
            body = {
                "model": seed["model"],
                "version": version,
                "artifact_uri": f"s3://load/{version}.pkl",
                "artifact_sha256": hashlib.sha256(version.encode()).hexdigest(),
            }
            audited = ("model_version.create", 1)
        elif name.startswith("POST evaluations"):
            rows = 100 if "inline" in name else 300
            y = [rng.randint(0, 1) for _ in range(rows)]
            score = [round(min(1.0, 0.35 * v + rng.random() * 0.65), 4) for v in y]
            method, headers, path = "POST", pipe, "/api/v1/evaluations/"
            body = {
                "model_version": seed["version_id"],
                "kind": "performance",
                "dataset": f"load-{run_tag}-{index}-{n}",
                "data": {"y_true": y, "y_score": score},
                "params": {"n_boot": 20},
            }
        elif name == "POST audit/events":
            method, headers, path = "POST", pipe, "/api/v1/audit/events"
            body = {
                "events": [
                    {
                        "action": "load.batch_scored",
                        "target": {"type": "batch", "id": f"{run_tag}-{index}-{n}-{i}"},
                        "details": {"rows": i, "score_mean": "0.4127"},
                    }
                    for i in range(BATCH)
                ]
            }
        elif name == "GET promotions list":
            path = "/api/v1/promotions/"
        elif name == "GET promotion detail":
            path = f"/api/v1/promotions/{rng.choice(seed['promotions'] or [0])}/"
        elif name == "GET versions list":
            path = "/api/v1/versions/"
        elif name == "GET models list":
            path = "/api/v1/models/"
        else:
            path = "/api/v1/evaluations/"
        payload = json.dumps(body).encode() if body is not None else None
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            code = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            code, data = 599, repr(exc).encode()
        elapsed = time.perf_counter() - t0
        with stats.lock:
            stats.latency[name].append(elapsed)
            stats.codes[name][code] += 1
            if code >= 500:
                stats.five_xx.append((name, code, data[:500].decode(errors="replace")))
            elif code in (200, 201, 202) and method == "POST":
                answer = json.loads(data)
                if audited:
                    stats.accepted[audited[0]] += audited[1]
                elif name == "POST audit/events":
                    stats.accepted["external.load.batch_scored"] += int(answer["count"])
                else:  # computed in the request: one evaluation.create; queued: then start and complete
                    stats.accepted["evaluation.create"] += 1
                    if code == 202:
                        stats.accepted["evaluation.start"] += 1
                        stats.accepted["evaluation.complete"] += 1
                    stats.queued_ids.append(int(answer["id"]))
    conn.close()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def wait_http(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer in {timeout} s:\n{log.read_text()[-4000:]}")


def wait_worker(env: dict, queue: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Celery worker exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if "ready." in log.read_text():
            return
        time.sleep(0.5)
    raise SystemExit(f"the Celery worker was not ready in {timeout} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(workers: int, args, env: dict, seed: dict, tmp: Path) -> dict:
    run_tag = f"w{workers}-{os.getpid()}"
    start_seq = django_json(COUNT, env, "0", "[]", "0")["size"]
    sock = free_socket()
    port = sock.getsockname()[1]
    web_log, worker_log = tmp / f"gunicorn-{workers}.log", tmp / f"worker-{workers}.log"
    web = worker = None
    try:
        with open(worker_log, "w") as out:
            worker = subprocess.Popen(
                [PY, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--loglevel=INFO",
                 "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"{env['CELERY_TASK_DEFAULT_QUEUE']}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        with open(web_log, "w") as out:
            web = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "governance.wsgi:application", "--bind", f"fd://{sock.fileno()}",
                 "--workers", str(workers), "--timeout", "120", "--access-logfile", "-"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),),
            )  # fmt: skip
        wait_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"], worker, worker_log)
        wait_http(port, web, web_log)
        stats = Stats()
        print(
            f"\n== {workers} gunicorn worker(s): {args.clients} clients x {args.duration} s on port {port}", flush=True
        )
        began = time.monotonic()
        stop_at = began + args.duration
        threads = [
            threading.Thread(target=client_loop, args=(i, port, seed, stop_at, stats, run_tag), daemon=True)
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began
        load = os.getloadavg()
        print(f"   drove {sum(len(v) for v in stats.latency.values()):,} requests in {wall:.1f} s; "
              f"waiting for {len(stats.queued_ids)} evaluations ...", flush=True)  # fmt: skip
        after = django_json(COUNT, env, str(start_seq), json.dumps(stats.queued_ids), "300")
    finally:
        stop(web)
        stop(worker)
        sock.close()
    if stats.five_xx:
        print(f"   gunicorn log (last 6000 chars):\n{web_log.read_text()[-6000:]}")
    return {"workers": workers, "stats": stats, "wall": wall, "start_seq": start_seq, "after": after, "load": load}


def report(result: dict, baseline: dict | None) -> list[str]:
    stats, wall = result["stats"], result["wall"]
    problems: list[str] = []
    print(f"\n-- {result['workers']} worker(s), {wall:.1f} s, load average {result['load'][0]:.2f}")
    header = (
        f"   {'endpoint':28s} {'requests':>8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'non-2xx':>8s} {'5xx':>5s}"
    )
    print(header + ("   vs 1 worker: req/s  p50  p99" if baseline else ""))

    def line(label: str, lat: list[float], base_lat: list[float] | None, four: int, five: int) -> None:
        rate = len(lat) / wall
        ratio = ""
        if base_lat:
            base_rate = len(base_lat) / baseline["wall"]
            ratio = (
                f"   {rate / base_rate:17.2f}x {pct(lat, 0.5) / pct(base_lat, 0.5):4.2f}x"
                f" {pct(lat, 0.99) / pct(base_lat, 0.99):4.2f}x"
            )
        figures = f"{len(lat):8d} {rate:8.1f} {pct(lat, 0.5) * 1e3:8.0f} {pct(lat, 0.99) * 1e3:8.0f}"
        print(f"   {label:28s} {figures} {four:8d} {five:5d}{ratio}")

    for name in ENDPOINTS:
        lat = stats.latency.get(name, [])
        codes = stats.codes.get(name, {})
        four = sum(n for c, n in codes.items() if not 200 <= c < 300 and c < 500)
        five = sum(n for c, n in codes.items() if c >= 500)
        line(name, lat, baseline["stats"].latency.get(name) if baseline else None, four, five)
        if five:
            problems.append(f"{five} 5xx on {name}")
        if four:
            problems.append(f"{four} unexpected non-2xx on {name}: {dict(codes)}")
    everything = [v for values in stats.latency.values() for v in values]
    base_all = [v for values in baseline["stats"].latency.values() for v in values] if baseline else None
    line("all", everything, base_all, sum(stats.codes_non2xx()), len(stats.five_xx))
    for name, code, body in stats.five_xx[:5]:
        print(f"   5xx {name} -> {code}: {body}")
    after = result["after"]
    by_action = after["by_action"]
    span = after["span"]
    print(f"   audit log: {result['start_seq']:,} -> {after['size']:,} entries; acknowledged changes vs logged events:")
    for action, expected in sorted(stats.accepted.items()):
        got = by_action.get(action, 0)
        verdict = "ok" if got == expected else "MISMATCH"
        print(f"     {action:34s} acknowledged {expected:7d}  logged {got:7d}  {verdict}")
        if got != expected:
            problems.append(f"{action}: acknowledged {expected}, logged {got}")
    others = {a: n for a, n in by_action.items() if a not in stats.accepted}
    if others:
        print(f"     other events (side effects, not counted): {others}")
    grown = after["size"] - result["start_seq"]
    if span["n"] != grown or (grown and (span["lo"] != result["start_seq"] or span["hi"] != after["size"] - 1)):
        problems.append(f"seq gap: head grew by {grown}, {span['n']} rows in [{span['lo']}, {span['hi']}]")
    evaluations = after["evaluations"]
    print(f"   evaluations accepted: {len(stats.queued_ids)}, final statuses {evaluations}")
    if set(evaluations) - {"done"}:
        problems.append(f"evaluations not done: {evaluations}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per gunicorn worker count")
    parser.add_argument("--workers", default="1,3", help="gunicorn worker counts, the first is the baseline")
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server (a random DB 1-15 is used)")
    parser.add_argument("--quick", action="store_true", help="10 clients x 20 s (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.duration = 10, 20.0
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    db = f"mlgov_load_{os.getpid()}"
    base = args.admin_url.rsplit("/", 1)[0]
    queue = f"mlgov-load-{os.getpid()}-{random.randint(0, 1 << 30)}"
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"{base}/{db}",
            "VAR_DIR": str(tmp / "var"),
            "MEDIA_ROOT": str(tmp / "media"),
            "AUDIT_SIGNING_KEY_FILE": str(tmp / "var" / "audit-signing.key"),
            "CELERY_BROKER_URL": f"{args.redis}/{random.randint(1, 15)}",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "EVALUATION_SYNC_MAX_ROWS": "200",  # 100-row evaluations inline, 300-row ones on the worker
            "LOG_LEVEL": "WARNING",
            "DEBUG": "true",
        }
        # A signing key made the production way (docs/operations.md), so the service runs with DEBUG off.
        origin = f"localhost/mlgov-audit/load-{os.getpid()}"
        (tmp / "var").mkdir()
        key = subprocess.run([PY, "-m", "audit.notes", origin], cwd=ROOT, env=env, capture_output=True, check=True)
        (tmp / "var" / "audit-signing.key").write_bytes(key.stdout)
        env["AUDIT_LOG_ORIGIN"] = origin
        psql(f'CREATE DATABASE "{db}"', args.admin_url)
        try:
            print(f"database {db}: migrating and seeding ...", flush=True)
            run([PY, "manage.py", "migrate", "-v0"], env)
            seed = django_json(SEED, env)
            # Serve as in production: DEBUG off.
            env.update({"DEBUG": "false", "SECRET_KEY": "load-test-" + os.urandom(16).hex()})
            results = []
            for count in counts:
                results.append(one_run(count, args, env, seed, tmp))
            for result in results:
                problems += report(result, results[0] if result is not results[0] else None)
            print("\naudit_verify ...", flush=True)
            verify = subprocess.run([PY, "manage.py", "audit_verify", "--no-progress"], cwd=ROOT, env=env,
                                    capture_output=True, text=True)  # fmt: skip
            print((verify.stdout + verify.stderr).strip()[-2000:])
            if verify.returncode != 0:
                problems.append(f"audit_verify failed (exit {verify.returncode})")
        finally:
            psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', args.admin_url)
    print(f"\nload average now: {os.getloadavg()}")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("PASS: zero 5xx, the audit log grew by exactly the acknowledged changes and verifies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
