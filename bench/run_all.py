#!/usr/bin/env python3
"""Run the benchmark scripts in turn (what ``make bench`` runs).

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

NAME selects a subset: ``audit``, ``offline_verifier``, ``fairness``, ``drift``, ``pack``,
``dashboard``, ``log_scale``, ``load``, ``outofcore``, ``bad_row``, ... (the keys of SCRIPTS,
or the script file name). Each script runs as a subprocess with this
interpreter and its output is
streamed as it comes. ``--quick`` is passed through to the scripts that accept it (scripts without it get small
sizes through their own options, see QUICK_FALLBACK). A script that
does not exist yet is skipped with a message. Exits non-zero if a script failed to run (a
non-zero exit code); a missed target is reported by the script itself and is not a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPTS = {
    "audit": "bench_audit.py",
    "offline_verifier": "bench_offline_verifier.py",
    "fairness": "bench_fairness.py",
    "drift": "bench_drift.py",
    "evaluations_api": "bench_evaluations_api.py",
    "performance": "bench_performance.py",
    "outofcore": "bench_outofcore.py",
    "bad_row": "bench_bad_row.py",
    "fanout": "bench_fanout.py",
    "verify_incremental": "bench_verify_incremental.py",
    "log_scale": "bench_log_scale.py",
    "pack": "bench_pack.py",
    "pack_db": "bench_pack_db.py",
    "dashboard": "bench_dashboard.py",
    "load": "bench_load.py",
}

# For scripts without --quick: smaller sizes through options they do have (used only if the script
# still mentions every option).
QUICK_FALLBACK = {
    "offline_verifier": ["--entries", "20000", "--proofs", "200"],
    "fairness": ["--rows", "100000", "--reps", "1"],
    "drift": ["--rows", "100000", "--reps", "1"],
    "pack": ["--events", "1000", "--evaluations", "20"],
    "load": ["--clients", "10", "--duration", "30"],
    "bad_row": ["--rows", "2000000", "--bad-row", "1500001"],
}


def resolve(name: str) -> str:
    key = name.removeprefix("bench_").removesuffix(".py")
    if key in SCRIPTS:
        return key
    matches = [k for k in SCRIPTS if k.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    raise SystemExit(f"unknown benchmark {name!r}; choose from: {', '.join(SCRIPTS)}")


def quick_args(key: str, script: Path) -> list[str] | None:
    text = script.read_text(errors="replace")
    if "--quick" in text:
        return ["--quick"]
    fallback = QUICK_FALLBACK.get(key, [])
    if fallback and all(arg in text for arg in fallback if arg.startswith("--")):
        return fallback
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"subset to run: {', '.join(SCRIPTS)}")
    ap.add_argument("--quick", action="store_true", help="pass --quick to the scripts (smoke run)")
    args = ap.parse_args()
    selected = [resolve(name) for name in args.names] or list(SCRIPTS)

    outcomes: list[tuple[str, str, float]] = []
    for key in selected:
        script = BENCH / SCRIPTS[key]
        if not script.exists():
            print(f"\n### {SCRIPTS[key]}: not present yet, skipped", flush=True)
            outcomes.append((key, "skipped (missing)", 0.0))
            continue
        cmd = [sys.executable, str(script)]
        if args.quick:
            extra = quick_args(key, script)
            if extra is None:
                print(f"\n### {SCRIPTS[key]} has no --quick option: running it with its defaults", flush=True)
            else:
                cmd += extra
        print(f"\n### {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        try:
            code = subprocess.run(cmd, cwd=ROOT).returncode  # inherits stdout/stderr: streamed live
        except KeyboardInterrupt:
            print(f"\n### {SCRIPTS[key]}: interrupted", flush=True)
            outcomes.append((key, "interrupted", time.perf_counter() - t0))
            break
        outcomes.append((key, "ok" if code == 0 else f"FAILED (exit {code})", time.perf_counter() - t0))

    print("\n### benchmark summary (targets: see each script's own summary)")
    for key, status, seconds in outcomes:
        print(f"  {SCRIPTS[key]:28s} {status:22s} {seconds:8.1f} s")
    failed = [key for key, status, _ in outcomes if not status.startswith(("ok", "skipped"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
