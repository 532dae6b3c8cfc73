#!/usr/bin/env python3
"""Benchmark the workspace pages on PostgreSQL at inventory scale (issue 12).

    nice -n 10 .venv/bin/python bench/bench_dashboard.py [--models 500] [--versions-per-model 10]
        [--events 1000000] [--reps 7] [--quick] [--keep-db] [--reuse-db NAME]

Creates a fresh database (``mlgov_bench_dash_<random>``) on PostgreSQL (``--pg``, default
postgresql://postgres@127.0.0.1:5432), migrates it and fills it in bulk:

  - 500 models, 5,000 versions (per model: 1 production, 1 staging, 2 development, 6 retired),
    about 16,000 evaluations (fairness, performance, drift computed; some reported), about 9,000
    promotion requests (300 open, with gate checklists), their approvals and stage transitions,
    50 open review flags; rows written with COPY, each table in a transaction that appends its
    audit event (the governed-data guard accepts nothing else);
  - 1,000,000 audit events through ``audit_events_append`` (batches of 5,000, a valid chain) about
    those versions, with a signed checkpoint every 100,000.

Then it times each page in-process through Django's test client (DEBUG=false, signed in, the
median of ``--reps`` loads after a warm-up): the dashboard as a risk officer, an auditor and a
developer, the promotion queue (all tabs), a request page, a version hub, a model page, the
comparison and trends of a model, the audit page, the version list searched. The baseline, timed
in the same run, is the admin's own password-change page: session, user, admin chrome and a
template, no domain query. Target (issue 12): every page under 300 ms; the ratio to the baseline
is printed beside each figure so a loaded machine can be told from a slow query.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 300.0
EVENT_BATCH = 5000
CHECKPOINT_EVERY = 100_000
OPEN_REQUESTS = 300
OPEN_FLAGS = 50


def log(message: str) -> None:
    print(message, flush=True)


def pg_admin(pg: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def setup_django() -> None:
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    django.setup()


def sha(i: int, salt: str) -> str:
    import hashlib

    return hashlib.sha256(f"{salt}-{i}".encode()).hexdigest()


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples; dict/list values as JSON) into ``table`` inside the current transaction."""
    from django.apps import apps
    from django.db import connection

    # Columns added since this script was written get their model default (a new NOT NULL column
    # must not break the benchmark).
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    extra = [
        f
        for f in model._meta.concrete_fields
        if f.column not in columns and not f.null and f.has_default() and not f.primary_key
    ]
    if extra:
        columns = [*columns, *(f.column for f in extra)]
        defaults = tuple(f.get_default() for f in extra)
        rows = (tuple(row) + defaults for row in rows)
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
                count += 1
    return count


def audited_bulk(label: str, fn) -> int:
    """Run ``fn`` (COPY statements) in one transaction with the audit event the guard requires."""
    from django.db import transaction

    from audit.context import Actor
    from audit.services import EventSpec, audit_events_append

    actor = Actor.system("bench-dashboard")
    with transaction.atomic():
        count = fn()
        audit_events_append(
            [EventSpec(actor, "external.bench_seeded", {"type": "bench", "id": label}, {"rows": count})]
        )
    return count


def next_ids(table: str, count: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [count])
        return [row[0] for row in cursor.fetchall()]


def build_inventory(models: int, per_model: int, rnd: random.Random) -> dict:
    """Users through the services; models, versions, evaluations, requests, approvals, transitions and
    flags through COPY. Returns ids the page timings need."""
    import datetime as dt

    from django.utils import timezone

    from governance.accounts.principal import Principal
    from governance.accounts.services import user_create
    from governance.workflow.models import Policy

    admin = Principal.system("bench")
    people = {}
    for name, roles in (
        ("risk", ["risk_officer"]),
        ("validator", ["validator"]),
        ("auditor", ["auditor"]),
        ("developer", ["developer"]),
    ):
        people[name] = user_create(
            by=admin, username=f"bench-{name}", password="bench-password-123", roles=roles, is_staff=True
        )
    developers = [
        user_create(by=admin, username=f"bench-dev-{i:02d}", password=None, roles=["developer"], is_staff=True)
        for i in range(20)
    ] + [people["developer"]]
    pipeline = user_create(
        by=admin, username="bench-pipeline", password=None, roles=["pipeline"], is_service_account=True
    )
    now = timezone.now()
    tiers = ["tier_1", "tier_2", "tier_3"]
    categories = ["high", "limited", "minimal"]
    policies = {(p.scope, p.target_stage): p for p in Policy.objects.filter(is_current=True, is_rollback=False)}

    model_ids = next_ids("registry_registeredmodel", models)
    model_rows = []
    for i, pk in enumerate(model_ids):
        owner = developers[i % len(developers)]
        model_rows.append(
            (
                pk,
                f"model-{i:04d}",
                f"Credit model {i}",
                "Scores applications for the bench.",
                f"unit-{i % 12}",
                categories[i % 3],
                "none",
                tiers[i % 3],
                "active",
                now - dt.timedelta(days=400),
                now - dt.timedelta(days=400),
                owner.pk,
                owner.pk,
                ["sr11-7"] if i % 3 else ["sr11-7", "eu-ai-act"],
            )
        )
    audited_bulk(
        "models",
        lambda: copy_rows(
            "registry_registeredmodel",
            "id name title purpose business_unit eu_ai_act_category annex_iii_area risk_tier status created_at "
            "updated_at created_by_id owner_id governing_regimes".split(),
            model_rows,
        ),
    )

    # versions: index 0-5 retired, 6 production, 7 staging, 8-9 development
    stage_of = ["retired"] * max(per_model - 4, 0) + ["production", "staging", "development", "development"]
    stage_of = stage_of[-per_model:]
    version_ids = next_ids("registry_modelversion", models * per_model)
    versions = []  # (pk, model_pk, model_index, version index, stage, registered_at)
    version_rows = []
    for m, model_pk in enumerate(model_ids):
        for j in range(per_model):
            pk = version_ids[m * per_model + j]
            registered = now - dt.timedelta(days=(per_model - j) * 30 + rnd.random())
            stage = stage_of[j]
            versions.append((pk, model_pk, m, j, stage, registered))
            version_rows.append(
                (
                    pk,
                    f"1.{j}.0",
                    "",
                    f"s3://models/model-{m:04d}/1.{j}.0/model.pkl",
                    sha(pk, "artifact"),
                    f"s3://data/model-{m:04d}/train.parquet",
                    sha(pk, "data"),
                    sha(pk, "commit")[:40],
                    "sklearn 1.5",
                    {"max_depth": 3 + j % 4, "learning_rate": 0.05 + j / 100},
                    stage,
                    registered,
                    registered,
                    developers[m % len(developers)].pk,
                    model_pk,
                )
            )
    audited_bulk(
        "versions",
        lambda: copy_rows(
            "registry_modelversion",
            "id version description artifact_uri artifact_sha256 training_data_ref training_data_sha256 code_commit "
            "framework parameters stage stage_changed_at registered_at registered_by_id model_id".split(),
            version_rows,
        ),
    )

    # evaluations: fairness, performance, drift (computed) per version; a reported one on every 5th
    evaluations = []  # (pk, version pk, kind, source, finished)
    evaluation_rows = []
    kinds = ["fairness", "performance", "drift"]
    plan = [(v, kind, "computed") for v in versions for kind in kinds] + [
        (v, "reported", "reported") for v in versions if v[0] % 5 == 0
    ]
    evaluation_ids = next_ids("evaluations_evaluation", len(plan))
    for pk, ((vpk, _model_pk, m, _j, stage, registered), kind, source) in zip(evaluation_ids, plan, strict=True):
        finished = registered + dt.timedelta(days=1 + rnd.random() * 20)
        if stage == "production":  # production evidence within the last ~100 days (some stale)
            finished = now - dt.timedelta(days=rnd.random() * 100)
        if kind == "fairness":
            metrics = {
                "demographic_parity_difference": round(rnd.uniform(0.0, 0.14), 4),
                "disparate_impact_ratio": round(rnd.uniform(0.75, 1.0), 4),
                "equalized_odds_difference": round(rnd.uniform(0.0, 0.15), 4),
            }
        elif kind == "performance":
            metrics = {"auc": round(rnd.uniform(0.66, 0.9), 4), "accuracy": round(rnd.uniform(0.7, 0.9), 4)}
        elif kind == "drift":
            metrics = {"max_psi": round(rnd.uniform(0.0, 0.3), 4), "drifted_features": rnd.randrange(3)}
        else:
            metrics = {"auc": round(rnd.uniform(0.66, 0.9), 4), "demographic_parity_difference": 0.05}
        warnings = (
            [
                {
                    "code": "small_group",
                    "group": {"age": "75+"},
                    "rows": 12,
                    "message": "group age=75+ has 12 rows (< 30)",
                }
            ]
            if pk % 17 == 0
            else []
        )
        evaluations.append((pk, vpk, kind, source, finished, metrics))
        evaluation_rows.append(
            (
                pk,
                kind,
                f"holdout-{m % 7}",
                source,
                "done",
                "",
                [],
                {},
                {"numpy": "2.1"},
                sha(pk, "input") if source == "computed" else "",
                10_000 if source == "computed" else None,
                "",
                metrics,
                {},
                [],
                warnings,
                finished - dt.timedelta(minutes=5),
                finished - dt.timedelta(minutes=4),
                finished,
                pipeline.pk,
                vpk,
            )
        )
    audited_bulk(
        "evaluations",
        lambda: copy_rows(
            "evaluations_evaluation",
            "id kind dataset source status failure_reason thresholds params library_versions input_sha256 input_rows "
            "input_file metrics result checks warnings created_at started_at finished_at created_by_id "
            "model_version_id".split(),
            evaluation_rows,
        ),
    )
    by_version: dict[int, list] = {}
    for e in evaluations:
        by_version.setdefault(e[1], []).append(e)

    def checklist(policy, vpk, at) -> tuple[list[dict], bool]:
        rows = []
        for check in policy.checks:
            found = next((e for e in by_version.get(vpk, []) if check["metric"] in e[5]), None)
            value = found[5][check["metric"]] if found else None
            ok = found is not None and (
                float(value) <= float(check["threshold"])
                if check["comparator"].startswith("<")
                else float(value) >= float(check["threshold"])
            )
            rows.append(
                {
                    "kind": check["kind"],
                    "metric": check["metric"],
                    "comparator": check["comparator"],
                    "threshold": check["threshold"],
                    "value": str(value) if value is not None else None,
                    "evaluation_id": found[0] if found else None,
                    "dataset": "holdout" if found else None,
                    "source": found[3] if found else None,
                    "evaluated_at": found[4].isoformat() if found else None,
                    "outcome": ("pass" if ok else "fail") if found else "missing",
                }
            )
        return rows, all(r["outcome"] == "pass" for r in rows)

    # requests: decided ones for every move a version made; open ones for some dev/staging versions
    request_plan = []  # (version, from, to, status, created)
    for v in versions:
        vpk, model_pk, m, j, stage, registered = v
        if stage in ("staging", "production", "retired"):
            request_plan.append((v, "development", "staging", "promoted", registered + dt.timedelta(days=2)))
        if stage in ("production", "retired"):
            request_plan.append((v, "staging", "production", "promoted", registered + dt.timedelta(days=5)))
    open_candidates = [v for v in versions if v[4] in ("development", "staging")]
    rnd.shuffle(open_candidates)
    seen_targets = set()
    for v in open_candidates:
        if len(request_plan) and sum(1 for r in request_plan if r[3] == "pending") >= OPEN_REQUESTS:
            break
        target = "staging" if v[4] == "development" else "production"
        if (v[0], target) in seen_targets:
            continue
        seen_targets.add((v[0], target))
        request_plan.append((v, v[4], target, "pending", now - dt.timedelta(days=rnd.random() * 25)))
    request_ids = next_ids("workflow_promotionrequest", len(request_plan))
    request_rows, approval_rows, transition_rows = [], [], []
    signers = [people["risk"], people["validator"]]
    for pk, (v, from_stage, to_stage, status, created) in zip(request_ids, request_plan, strict=True):
        vpk, model_pk, m, j, stage, registered = v
        policy = policies[(tiers[m % 3], to_stage)]
        rows, passed = checklist(policy, vpk, created)
        requester = developers[m % len(developers)]
        decided = created + dt.timedelta(hours=20) if status == "promoted" else None
        request_rows.append(
            (
                pk,
                from_stage,
                to_stage,
                status,
                f"Promote model-{m:04d} 1.{j}.0 to {to_stage}.",
                created,
                decided,
                False,
                rows,
                passed,
                created,
                "",
                vpk,
                policy.pk,
                requester.pk,
                None,
            )
        )
        if status == "promoted":
            for k, signer in enumerate(signers[: policy.approvals_required]):
                approval_rows.append(
                    (
                        "risk_officer" if signer is people["risk"] else "validator",
                        "approve",
                        "Evidence reviewed.",
                        "" if passed else "Accepted with a monitoring plan.",
                        [] if passed else [f"{r['kind']}:{r['metric']}" for r in rows if r["outcome"] != "pass"],
                        "approved the promotion",
                        created + dt.timedelta(hours=10 + k),
                        True,
                        rows,
                        None,
                        "",
                        signer.pk,
                        pk,
                        {"method": "password"},
                    )
                )
            transition_rows.append(
                (from_stage, to_stage, decided, [], [], False, f"promotion request #{pk}", model_pk, vpk, pk)
            )
    for v in versions:
        if v[4] == "retired":
            transition_rows.append(
                ("production", "retired", v[5] + dt.timedelta(days=30), [], [], False, "superseded", v[1], v[0], None)
            )

    def write_workflow() -> int:
        n = copy_rows(
            "workflow_promotionrequest",
            "id from_stage target_stage status reason created_at decided_at is_rollback gate_results gates_passed "
            "gates_evaluated_at status_reason model_version_id policy_id requested_by_id superseded_by_id".split(),
            request_rows,
        )
        n += copy_rows(
            "workflow_approval",
            "role decision justification override_justification overridden_checks signature_meaning signed_at "
            "reauthenticated gate_snapshot invalidated_at invalidated_reason approver_id request_id "
            "reauthentication".split(),
            approval_rows,
        )
        n += copy_rows(
            "workflow_stagetransition",
            "from_stage to_stage at approvers evaluation_ids is_rollback reason model_id model_version_id "
            "request_id".split(),
            transition_rows,
        )
        in_production = {v[0]: v for v in versions if v[4] == "production"}
        production = [e for e in evaluations if e[2] == "fairness" and e[1] in in_production]
        flags = []
        for e in production[:OPEN_FLAGS]:
            m = in_production[e[1]][2]
            flags.append(
                (
                    [
                        {
                            "kind": "fairness",
                            "metric": "demographic_parity_difference",
                            "value": "0.13",
                            "comparator": "<=",
                            "threshold": "0.1",
                        }
                    ],
                    now - dt.timedelta(days=rnd.random() * 20),
                    None,
                    "",
                    e[0],
                    e[1],
                    policies[(tiers[m % 3], "production")].pk,
                    None,
                )
            )
        n += copy_rows(
            "workflow_reviewflag",
            "breaches created_at resolved_at resolution evaluation_id model_version_id policy_id "
            "resolved_by_id".split(),
            flags,
        )
        return n

    audited_bulk("workflow", write_workflow)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    production_version = next(v for v in versions if v[4] == "production")
    open_request = next(pk for pk, r in zip(request_ids, request_plan, strict=True) if r[3] == "pending")
    return {
        "users": {name: user.pk for name, user in people.items()},
        "version_ids": version_ids,
        "model_id": model_ids[len(model_ids) // 2],
        "production_version": production_version[0],
        "open_request": open_request,
        "counts": {
            "models": len(model_ids),
            "versions": len(version_ids),
            "evaluations": len(evaluation_rows),
            "requests": len(request_rows),
            "open_requests": sum(1 for r in request_plan if r[3] == "pending"),
            "approvals": len(approval_rows),
            "transitions": len(transition_rows),
        },
    }


def build_log(events: int, version_ids: list[int]) -> float:
    """``events`` audit events about the versions, through the real append (a valid chain)."""
    from django.db import transaction

    from audit.checkpoints import checkpoint_create
    from audit.context import Actor
    from audit.selectors import head
    from audit.services import EventSpec, audit_events_append

    actor = Actor(type="service", id="bench-pipeline", username="bench-pipeline", auth="token")
    rnd = random.Random(7)
    size = head().size
    target_size = size + events
    t0 = last = time.perf_counter()
    next_checkpoint = (size // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
    while size < target_size:
        count = min(EVENT_BATCH, target_size - size, next_checkpoint - size)
        specs = []
        for i in range(count):
            vid = version_ids[rnd.randrange(len(version_ids))]
            specs.append(
                EventSpec(
                    actor,
                    "external.batch_scored",
                    {"type": "model_version", "id": str(vid)},
                    {
                        "batch": f"b-{(size + i) // 1000}",
                        "rows": rnd.randrange(10**6),
                        "auc": f"0.{rnd.randrange(10**4):04d}",
                    },
                )
            )
        with transaction.atomic():
            audit_events_append(specs)
        size += count
        if size >= next_checkpoint:
            checkpoint_create()
            next_checkpoint += CHECKPOINT_EVERY
        if time.perf_counter() - last > 15:
            rate = (size - (target_size - events)) / (time.perf_counter() - t0)
            log(f"  audit log: {size:,} events ({rate:,.0f}/s)")
            last = time.perf_counter()
    checkpoint_create()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - t0


class QueryTimer:
    """A database execute wrapper that records each query's duration (ms)."""

    def __init__(self, sink: list[float]):
        self.sink = sink

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sink.append((time.perf_counter() - t0) * 1000)


def time_pages(ids: dict, reps: int) -> list[dict]:
    from django.db import connection
    from django.test import Client

    from governance.accounts.models import User

    model, version, request = ids["model_id"], ids["production_version"], ids["open_request"]
    pages = [
        ("baseline: admin password-change page", "risk", "/admin/password_change/"),
        ("dashboard (risk officer)", "risk", "/admin/"),
        ("dashboard (auditor)", "auditor", "/admin/"),
        ("dashboard (developer)", "developer", "/admin/"),
        ("queue: awaiting my signature", "risk", "/admin/workflow/promotionrequest/"),
        ("queue: all open", "risk", "/admin/workflow/promotionrequest/?tab=open"),
        ("queue: decided", "risk", "/admin/workflow/promotionrequest/?tab=decided"),
        ("queue searched", "risk", "/admin/workflow/promotionrequest/?tab=open&q=model-01"),
        ("request page", "risk", f"/admin/workflow/promotionrequest/{request}/change/"),
        ("version hub", "risk", f"/admin/registry/modelversion/{version}/change/"),
        ("model page", "risk", f"/admin/registry/registeredmodel/{model}/change/"),
        ("version list searched", "risk", "/admin/registry/modelversion/?q=model-02"),
        ("model list", "risk", "/admin/registry/registeredmodel/"),
        ("compare versions", "risk", f"/admin/workspace/models/{model}/compare/"),
        ("trends", "risk", f"/admin/workspace/models/{model}/trends/"),
        ("audit page", "auditor", "/admin/workspace/audit/"),
    ]
    clients = {}
    for role, user_id in ids["users"].items():
        client = Client()
        client.force_login(User.objects.get(pk=user_id))
        clients[role] = client
    out = []
    for label, role, url in pages:
        client = clients[role]
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
        queries: list[float] = []
        with connection.execute_wrapper(QueryTimer(queries)):
            client.get(url)
        times, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out.append(
            {
                "page": label,
                "url": url,
                "median_ms": statistics.median(times),
                "cpu_ms": statistics.median(cpu),  # this process's CPU: Python, templates, drivers (not PostgreSQL)
                "max_ms": max(times),
                "queries": len(queries),
                "query_ms": sum(queries),
                "slowest_query_ms": max(queries, default=0.0),
            }
        )
        log(f"  {label:40s} {out[-1]['median_ms']:8.1f} ms  ({len(queries)} queries, {sum(queries):.1f} ms in SQL)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=500)
    ap.add_argument("--versions-per-model", type=int, default=10)
    ap.add_argument("--events", type=int, default=None, help="audit events (1,000,000; quick 20,000)")
    ap.add_argument("--reps", type=int, default=7, help="timed loads per page (median reported)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 50 models, 20,000 events, 3 reps")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database")
    ap.add_argument("--reuse-db", help="time the pages of a database kept by an earlier --keep-db run")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without database name",
    )
    args = ap.parse_args()
    if args.quick:
        args.models, args.reps = min(args.models, 50), min(args.reps, 3)
    events = args.events if args.events is not None else (20_000 if args.quick else 1_000_000)
    db_name = args.reuse_db or f"mlgov_bench_dash_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-dash-"))
    from audit.notes import generate_signer_key

    origin_file = workdir / "origin"
    origin = f"bench.local/mlgov-audit/{uuid.uuid4()}"
    env = {
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DATABASE_URL": f"{args.pg}/{db_name}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver,localhost",
        "LOG_LEVEL": "WARNING",
        "AUDIT_SIGNING_KEY_FILE": str(workdir / "unused-signing.key"),
        "STATIC_ROOT": str(workdir / "static"),  # collected below: DEBUG=false serves the hashed manifest
    }
    if args.reuse_db:
        origin = pg_admin_db(args.pg, db_name, "SELECT origin FROM audit_audithead WHERE id = 1")[0][0]
    env["AUDIT_LOG_ORIGIN"] = origin
    env["AUDIT_SIGNING_KEYS"] = generate_signer_key(origin)
    origin_file.write_text(origin)
    os.environ.update(env)
    log(
        f"== mlgov workspace pages: {args.models} models x {args.versions_per_model} versions, {events:,} audit "
        f"events, database {db_name}{' (reused)' if args.reuse_db else ''}"
    )
    results: dict = {"database": db_name}
    try:
        if not args.reuse_db:
            pg_admin(args.pg, f'CREATE DATABASE "{db_name}"')
        subprocess.run(  # a reused database gets the migrations added since it was built
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        setup_django()
        if not args.reuse_db:
            t0 = time.perf_counter()
            ids = build_inventory(args.models, args.versions_per_model, random.Random(3))
            results["inventory_s"] = time.perf_counter() - t0
            log(f"  inventory in {results['inventory_s']:.1f} s: {ids['counts']}")
            results["log_s"] = build_log(events, ids["version_ids"])
            log(f"  audit log of {events:,} events in {results['log_s']:.1f} s")
            (workdir / "ids.json").write_text(json.dumps(ids))
            pg_admin_db(args.pg, db_name, f"COMMENT ON DATABASE \"{db_name}\" IS '{json.dumps(ids_small(ids))}'")
        else:
            comment = pg_admin(
                args.pg, f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db_name}'"
            )[0][0]
            ids = json.loads(comment)
            from governance.registry.models import ModelVersion

            ids["version_ids"] = list(ModelVersion.objects.values_list("pk", flat=True))
        results["counts"] = ids.get("counts")
        log(f"== page timings (median of {args.reps} loads, in-process client, DEBUG=false)")
        pages = time_pages(ids, args.reps)
        results["pages"] = pages
        baseline = pages[0]["median_ms"]
        log(
            f"\n{'page':42s} {'median':>9s} {'x base':>7s} {'cpu ms':>7s} {'sql ms':>7s} {'queries':>7s}  "
            f"target < {TARGET_MS:.0f} ms"
        )
        missed = []
        for row in pages:
            ratio = row["median_ms"] / baseline if baseline else float("nan")
            verdict = "" if row is pages[0] else ("met" if row["median_ms"] < TARGET_MS else "MISSED")
            if verdict == "MISSED":
                missed.append(row["page"])
            log(
                f"{row['page']:42s} {row['median_ms']:8.1f}  {ratio:6.1f}x {row['cpu_ms']:7.1f} {row['query_ms']:7.1f} "
                f"{row['queries']:7d}  {verdict}"
            )
        results["missed"] = missed
        log(f"\nload average during the run: {os.getloadavg()[0]:.1f} (machine has {os.cpu_count()} CPUs)")
        log("target: every workspace page under 300 ms: " + ("MET" if not missed else f"MISSED: {', '.join(missed)}"))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db and not args.reuse_db:
            pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        else:
            log(f"kept database {db_name} (time it again with --reuse-db {db_name}; drop it when done)")


def ids_small(ids: dict) -> dict:
    return {k: v for k, v in ids.items() if k != "version_ids"}


def pg_admin_db(pg: str, db: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"{pg}/{db}", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


if __name__ == "__main__":
    sys.exit(main())
