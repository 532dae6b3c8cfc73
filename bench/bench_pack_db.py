"""Benchmark a documentation pack generated from the database, end to end.

Builds, in a fresh SQLite database (or PostgreSQL with --database-url), a model version with
10,000 audit events about it and 200 evaluations, then times ``pack_generate``: the as-of
snapshot from the database, the PDF, the inclusion proofs for every cited event and the signed
bundle. A small pack (a handful of events) is generated in the same run as the baseline. Each
generation runs in a fresh child process so its peak RSS is its own.

    .venv/bin/python bench/bench_pack_db.py [--events 10000] [--evaluations 200] [--regime eu-ai-act]
Targets: < 10 s and < 300 MB peak RSS for the large pack.
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

ROOT = Path(__file__).resolve().parent.parent

SETUP = r"""
import json, sys, django
django.setup()
from django.db import transaction
from django.utils import timezone
from audit.context import Actor
from audit.services import EventSpec, audit_events_append, audit_event_append
from audit.checkpoints import checkpoint_create
from governance.evaluations.models import Evaluation
from tests.factories.accounts import person
from tests.factories.registry import model_version, registered_model

events, evaluations = int(sys.argv[1]), int(sys.argv[2])
actor = Actor.system("bench")
owner = person("developer")
out = {}
for label, n_events, n_evals in (("small", 5, 3), ("large", events, evaluations)):
    version = model_version(model=registered_model(owner=owner))
    for i in range(n_evals):
        now = timezone.now()
        with transaction.atomic():
            ev = Evaluation.objects.create(
                model_version=version, kind=("performance", "fairness", "drift")[i % 3], dataset=f"window-{i:04d}",
                source="computed", status="done", metrics={"auc": 0.8 + i / 10000, "max_psi": 0.05},
                checks=[{"metric": "auc", "comparator": ">=", "threshold": 0.7, "value": 0.8 + i / 10000,
                         "passed": True}],
                result={}, input_sha256="%064x" % i, input_rows=1000, created_by=owner, created_at=now,
                finished_at=now)
            audit_event_append(actor=actor, action="evaluation.create", target={"type": "evaluation", "id": ev.pk})
    target = {"type": "model_version", "id": str(version.pk)}
    done = 0
    while done < n_events:
        n = min(5000, n_events - done)
        audit_events_append([EventSpec(actor, "model_version.served", target, {"batch": done + j}) for j in range(n)])
        done += n
    checkpoint_create()
    out[label] = version.pk
print(json.dumps(out))
"""

GENERATE = r"""
import json, resource, sys, time, django
django.setup()
from governance.accounts.principal import Principal
from governance.registry.models import ModelVersion
from governance.reports.services import pack_generate, pack_request
from tests.factories.accounts import person

version = ModelVersion.objects.get(pk=int(sys.argv[1]))
auditor = person("auditor", username=f"bench-auditor-{version.pk}")
bench = Principal.system("bench")


def generate():
    # Without a broker the request runs the generation task eagerly, at commit.
    pack = pack_request(by=Principal.for_user(auditor, auth="cli"), version=version, regime=sys.argv[2])
    return pack_generate(pack.pk, by=bench)


start = time.perf_counter()
if len(sys.argv) > 3:  # --profile: print where the time goes to stderr
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    pack = profiler.runcall(generate)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
else:
    pack = generate()
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "status": pack.status, "peak_rss_mb": peak, "pdf_bytes": pack.pdf.size,
                  "bundle_bytes": pack.bundle.size}))
"""


def child(code: str, args: list[str], env: dict, *, show_stderr: bool = False) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stderr[-3000:]}")
    if show_stderr:
        print(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--regime", default="eu-ai-act", choices=["eu-ai-act", "sr11-7"])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="1,000 events and 20 evaluations")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the large generation")
    args = parser.parse_args()
    if args.quick:
        args.events, args.evaluations = 1000, 20
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
            "VAR_DIR": f"{tmp}/var",
            "MEDIA_ROOT": f"{tmp}/media",
            "LOG_LEVEL": "WARNING",
        }
        print(f"migrating a fresh database ({'PostgreSQL' if args.database_url else 'SQLite'}) ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        print(f"building the record: {args.events} audit events and {args.evaluations} evaluations ...", flush=True)
        started = time.perf_counter()
        versions = child(SETUP, [str(args.events), str(args.evaluations)], env)
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        small = child(GENERATE, [str(versions["small"]), args.regime], env)
        large = child(
            GENERATE,
            [str(versions["large"]), args.regime] + (["profile"] if args.profile else []),
            env,
            show_stderr=args.profile,
        )
    print(f"\n{'pack':<8}{'wall (s)':>10}{'peak RSS (MB)':>15}{'PDF (KB)':>10}{'bundle (KB)':>13}")
    for label, r in (("small", small), ("large", large)):
        print(
            f"{label:<8}{r['wall_s']:>10.2f}{r['peak_rss_mb']:>15.0f}{r['pdf_bytes'] / 1024:>10.0f}"
            f"{r['bundle_bytes'] / 1024:>13.0f}"
        )
    ratio = large["wall_s"] / small["wall_s"]
    print(f"\nlarge / small wall time: {ratio:.1f}x")
    ok_time, ok_mem = large["wall_s"] < 10, large["peak_rss_mb"] < 300
    print(
        f"target < 10 s: {'PASS' if ok_time else 'MISS'} ({large['wall_s']:.2f} s); "
        f"target < 300 MB: {'PASS' if ok_mem else 'MISS'} ({large['peak_rss_mb']:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
