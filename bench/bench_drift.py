"""Drift benchmark: compute_drift vs Evidently DataDriftPreset (separate venv, subprocess).

    .venv/bin/python bench/bench_drift.py --rows 1000000
Evidently runs only if bench/.venv-evidently exists (create it with bench/evidently_env.sh).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import current_rss_mb, peak_rss_mb, timeit

from governance.evaluations.drift import compute_drift
from governance.evaluations.inputs import parse_inline

HERE = Path(__file__).resolve().parent
EVIDENTLY_PY = HERE / ".venv-evidently" / "bin" / "python"
CARDS = (2, 4, 8, 16, 50)


# Runs inside bench/.venv-evidently (argv: npz path, reps); prints one JSON line.
EVIDENTLY_CHILD = """
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

d = np.load(sys.argv[1])
num = [k[4:] for k in d.files if k.startswith("ref_num")]
cat = [k[4:] for k in d.files if k.startswith("ref_cat")]
t0 = time.perf_counter()
ref = pd.DataFrame({c: d["ref_" + c] for c in num + cat})
cur = pd.DataFrame({c: d["cur_" + c] for c in num + cat})
to_pandas = time.perf_counter() - t0
defn = DataDefinition(numerical_columns=num, categorical_columns=cat)
times = []
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
for _ in range(reps):
    t = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=defn),
                                           Dataset.from_pandas(ref, data_definition=defn))
    snap.dict()
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "to_pandas_s": to_pandas,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def make_drift(n: int, seed: int = 0):
    """20 numeric (0-4 mean-shifted 0.05..0.25 sd, 5-7 scaled x1.2, 10-12 lognormal) + 5 int categoricals."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for j in range(20):
        a, b = rng.standard_normal(n), rng.standard_normal(n)
        if j < 5:
            b = b + 0.05 * (j + 1)
        elif j < 8:
            b = b * 1.2
        if 10 <= j <= 12:
            a, b = np.exp(a), np.exp(b)
        ref[f"num_{j}"], cur[f"num_{j}"] = a, b
    for j, k in enumerate(CARDS):
        p = rng.dirichlet(np.ones(k))
        q = p
        if j < 2:
            q = np.roll(p, 1) * 0.3 + p * 0.7
        ref[f"cat_{j}"] = rng.choice(k, size=n, p=p).astype(np.int64)
        cur[f"cat_{j}"] = rng.choice(k, size=n, p=q).astype(np.int64)
    return ref, cur


def ours(ref, cur):
    cats = [f"cat_{j}" for j in range(len(CARDS))]
    parsed = parse_inline("drift", {"reference": ref, "current": cur}, params={"categorical": cats})
    return compute_drift(parsed, params={})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--evidently-reps", type=int, default=1)
    a = ap.parse_args()
    ref, cur = make_drift(a.rows)
    print(f"drift benchmark: rows={a.rows:,} per side, 20 numeric + 5 categorical (cards {CARDS})")
    num = [k for k in ref if k.startswith("num")]
    rss0 = current_rss_mb()
    ours_s, ours_all, res = timeit(lambda: ours(ref, cur), a.reps)
    ours_peak = peak_rss_mb()

    def floor():
        for c in num:
            np.sort(ref[c])
            np.sort(cur[c])
        for c in ref:
            if c.startswith("cat"):
                np.bincount(ref[c])
                np.bincount(cur[c])

    sort_floor, _, _ = timeit(floor, 3)
    print(f"  floor  sort 40 numeric + bincount cats    median {sort_floor:8.3f} s")
    print(
        f"  ours   parse_inline + compute_drift       median {ours_s:8.3f} s   "
        f"({', '.join(f'{t:.2f}' for t in ours_all)}); {ours_s / sort_floor:.1f}x sort floor"
    )
    print(
        f"  ours   RSS before {rss0:.0f} MB, process peak {ours_peak:.0f} MB "
        f"(working memory <= {ours_peak - rss0:.0f} MB)"
    )
    print(
        f"  ours   drifted {res['metrics']['drifted_features']}/{res['metrics']['n_features']} "
        f"share={res['drift_share']:.2f} methods={sorted({r['method'] for r in res['features']})}"
    )
    if not EVIDENTLY_PY.exists():
        print("  Evidently: NOT RUN - bench/.venv-evidently does not exist (run bench/evidently_env.sh)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drift.npz"
        np.savez(path, **{f"ref_{k}": v for k, v in ref.items()}, **{f"cur_{k}": v for k, v in cur.items()})
        proc = subprocess.run(
            [str(EVIDENTLY_PY), "-c", EVIDENTLY_CHILD, str(path), str(a.evidently_reps)], capture_output=True, text=True
        )
    if proc.returncode != 0:
        print("  Evidently: FAILED -", proc.stderr.strip().splitlines()[-1:] or proc.returncode)
        return
    ev = json.loads(proc.stdout.strip().splitlines()[-1])
    ev_s = float(np.median(ev["times"]))
    print(
        f"  Evidently Report([DataDriftPreset()]).run + snapshot.dict()  median {ev_s:8.2f} s "
        f"({', '.join(f'{t:.1f}' for t in ev['times'])}; to_pandas {ev['to_pandas_s']:.2f} s not included)"
    )
    print(f"  Evidently subprocess peak RSS {ev['peak_rss_mb']:.0f} MB")
    print(f"  ratio  Evidently / ours time   {ev_s / ours_s:8.1f}x  (target >= 30x)")
    print(f"  ratio  ours / Evidently peak RSS {ours_peak / ev['peak_rss_mb']:.2f}  (target <= 0.33)")


if __name__ == "__main__":
    main()
