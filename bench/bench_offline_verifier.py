#!/usr/bin/env python3
"""Benchmark the offline verifier and server-side proof generation.

    .venv/bin/python bench/bench_offline_verifier.py [--entries 1000000] [--checkpoint-every 100000]

Generates a realistic audit export bundle (canonical mlgov.audit/v1 records, ~20% with
non-ASCII text, signed checkpoints), then measures in the same run:
  (a) merely reading the lines of entries.jsonl,
  (b) full verification with audit/verifier.py (re-canonicalisation, schema, chain, Merkle
      roots at every checkpoint, signatures), in-process for speed and in a fresh
      subprocess (the CLI) for peak RSS,
  (c) inclusion / consistency proof generation over an in-memory node store of the same log.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from audit import merkle, notes, verifier  # noqa: E402

ORIGIN = "bench.example/mlgov-audit/5d1c0c8e-0d5e-4f0a-9c61-3b3c1f0f9a11"
ACTIONS = [
    "model_version.register",
    "model_version.promote",
    "dataset.register",
    "approval.grant",
    "evaluation.record",
    "model_card.update",
]
NAMES = ["alice", "bob", "J\u00fcrgen M\u00fcller", "\u00c9lodie", "\u674e\u534e", "carol", "dave", "erin"]


def record(seq: int, prev: bytes, rnd: random.Random) -> dict:
    name = NAMES[seq % len(NAMES)]
    rec = {
        "v": "mlgov.audit/v1",
        "log": ORIGIN,
        "seq": seq,
        "prev": base64.b64encode(prev).decode(),
        "ts": f"2026-{1 + seq % 12:02d}-{1 + seq % 28:02d}T{seq % 24:02d}:{seq % 60:02d}:{(seq // 60) % 60:02d}."
        f"{seq % 1000000:06d}Z",
        "actor": {"type": "user", "id": str(1 + seq % 5000), "username": name, "auth": "session"},
        "ctx": {"request_id": f"{rnd.getrandbits(128):032x}", "origin": "http", "ip": f"10.0.{seq % 256}.{seq % 7}"},
        "action": ACTIONS[seq % len(ACTIONS)],
        "object": {"type": "model_version", "id": str(seq // 4), "version": f"1.{seq % 10}.0"},
        "data": {
            "artifact": f"sha256:{rnd.getrandbits(256):064x}",
            "metrics": {"auc": f"0.{rnd.randrange(10**4):04d}", "f1": f"0.{rnd.randrange(10**4):04d}"},
            "stage": ["staging", "production"][seq % 2],
            "rows": rnd.randrange(10**9),
        },
    }
    if seq % 5 == 0:
        rec["reason"] = f"Freigabe durch {name} nach Pr\u00fcfung"
    return rec


class LevelStore:
    """In-memory complete-subtree store: one bytearray of hashes per level."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = []

    def put(self, level: int, index: int, h: bytes) -> None:
        while len(self.levels) <= level:
            self.levels.append(bytearray())
        arr = self.levels[level]
        assert len(arr) == index * 32
        arr += h

    def fetch(self, nodes):
        lv = self.levels
        return {(level, i): bytes(lv[level][i * 32 : (i + 1) * 32]) for level, i in nodes}


def generate(path: str, n: int, every: int, signer) -> tuple[LevelStore, list[int]]:
    os.makedirs(os.path.join(path, "checkpoints"))
    rnd = random.Random(1)
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    cr = merkle.CompactRange()
    store = LevelStore()
    prev = bytes(32)
    sizes = []
    with open(os.path.join(path, "entries.jsonl"), "wb", buffering=1 << 20) as f:
        for seq in range(n):
            rec = record(seq, prev, rnd)
            raw = verifier.canonical_json(rec) if seq % 1000 == 0 else dumps(rec).encode()
            f.write(raw + b"\n")
            leaf = hashlib.sha256(b"\x00" + raw).digest()
            store.put(0, seq, leaf)
            for level, index, h in cr.append(leaf):
                store.put(level, index, h)
            prev = leaf
            if (seq + 1) % every == 0 or seq + 1 == n:
                sizes.append(seq + 1)
                with open(os.path.join(path, "checkpoints", f"{seq + 1:020d}.txt"), "w") as c:
                    c.write(notes.sign_note(notes.checkpoint_body(ORIGIN, seq + 1, cr.root()), signer))
    with open(os.path.join(path, "keys.txt"), "w") as f:
        f.write(signer.verifier_key() + "\n")
    return store, sizes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--checkpoint-every", type=int, default=100_000)
    ap.add_argument("--proofs", type=int, default=2000, help="proofs of each kind to time")
    ap.add_argument("--keep", help="keep the generated bundle at this path")
    args = ap.parse_args()
    n = args.entries
    tmp = tempfile.mkdtemp(prefix="mlgov-bench-")
    path = args.keep or os.path.join(tmp, "bundle")
    signer = notes.Signer.from_key_string(notes.generate_signer_key(ORIGIN))
    try:
        t0 = time.perf_counter()
        store, sizes = generate(path, n, args.checkpoint_every, signer)
        t_gen = time.perf_counter() - t0
        entries_path = os.path.join(path, "entries.jsonl")
        size_mb = os.path.getsize(entries_path) / 1e6
        print(f"generated {n:,} entries ({size_mb:.1f} MB, {len(sizes)} checkpoints) in {t_gen:.1f} s")

        # (a) merely reading the lines
        t0 = time.perf_counter()
        count = 0
        with open(entries_path, "rb", buffering=1 << 20) as f:
            for _line in f:
                count += 1
        t_read = time.perf_counter() - t0
        assert count == n

        # (b) full verification, in-process: sequential, then with worker processes
        t0, c0 = time.perf_counter(), time.process_time()
        res = verifier.verify_log_bundle(path, [signer.verifier_key()])
        t_seq, cpu_seq = time.perf_counter() - t0, time.process_time() - c0
        assert res.ok, res.line()
        jobs = os.cpu_count() or 1
        t0 = time.perf_counter()
        res_par = verifier.verify_log_bundle(path, [signer.verifier_key()], jobs=jobs)
        t_par = time.perf_counter() - t0
        assert res_par.ok and res_par.root == res.root, res_par.line()
        t_verify = min(t_seq, t_par)

        # (b') the CLI in a fresh process (jobs=1) for peak RSS: VmHWM of the exec'd process
        #      (ru_maxrss of a child would include the pre-exec fork of this big process)
        keyfile = os.path.join(tmp, "key.pub")
        with open(keyfile, "w") as f:
            f.write(signer.verifier_key() + "\n")
        wrapper = (
            "import runpy, sys\n"
            "sys.argv = sys.argv[1:]\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]\n"
            "print('VmHWM_KB', hwm, file=sys.stderr)\n"
        )
        cli = [sys.executable, "-c", wrapper, os.path.join(ROOT, "audit", "verifier.py")]

        def run_cli(bundle):
            t = time.perf_counter()
            p = subprocess.run(
                cli + [bundle, "--key", keyfile, "--jobs", "1"], check=True, capture_output=True, text=True
            )
            hwm = int(p.stderr.split("VmHWM_KB")[1].split()[0]) / 1024
            return p.stdout.strip(), hwm, time.perf_counter() - t

        small = os.path.join(tmp, "small")
        generate(small, 1000, 100, signer)
        _, rss_small, _ = run_cli(small)
        out, rss_big, t_cli = run_cli(path)
        assert out.startswith("PASS: "), out

        print(f"(a) read lines only : {n / t_read:>12,.0f} entries/s  ({t_read:.2f} s)")
        print(
            f"(b) full verify     : {n / t_seq:>12,.0f} entries/s  ({t_seq:.2f} s) sequential (jobs=1); "
            f"{n / cpu_seq:,.0f} entries per CPU-second"
        )
        print(f"    full verify     : {n / t_par:>12,.0f} entries/s  ({t_par:.2f} s) with jobs={jobs}")
        print(f"    ratio verify/read time (best): {t_verify / t_read:.1f}x; load average {os.getloadavg()}")
        print(f"    CLI (jobs=1): {out[:60]}... in {t_cli:.2f} s")
        print(
            f"    peak RSS of verifier CLI: {rss_big:.1f} MiB at {n:,} entries vs {rss_small:.1f} MiB at 1,000 entries"
        )
        print(
            f"    peak RSS of this benchmark process: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB (includes the node store)"
        )

        # (c) proof generation with an in-memory fetch
        rnd = random.Random(2)
        calls = []

        def fetch(nodes):
            calls.append(len(nodes))
            return store.fetch(nodes)

        root = merkle.root_at(n, fetch)
        assert root == res.root
        incl, cons = [], []
        for _ in range(args.proofs):
            i = rnd.randrange(n)
            t0 = time.perf_counter()
            p = merkle.inclusion_proof(i, n, fetch)
            incl.append(time.perf_counter() - t0)
            assert verifier.verify_inclusion(i, n, bytes(store.levels[0][i * 32 : i * 32 + 32]), p, root)
        for _ in range(args.proofs):
            m = rnd.randrange(1, n)
            t0 = time.perf_counter()
            p = merkle.consistency_proof(m, n, fetch)
            cons.append(time.perf_counter() - t0)
            assert verifier.verify_consistency(m, n, merkle.root_at(m, store.fetch), root, p)
        print(
            f"(c) inclusion proof at {n:,}: median {statistics.median(incl) * 1e3:.3f} ms, "
            f"max {max(incl) * 1e3:.3f} ms; consistency proof: median {statistics.median(cons) * 1e3:.3f} ms, "
            f"max {max(cons) * 1e3:.3f} ms; nodes per fetch <= {max(calls)} (one fetch per proof)"
        )
        ok_speed = n / t_verify >= 100_000
        print(
            f"targets: >=100k entries/s: {'MET' if ok_speed else 'NOT MET'}; "
            f"within 2x of reading: {'MET' if t_verify <= 2 * t_read else 'NOT MET'}; "
            f"proofs <= 10 ms: {'MET' if max(max(incl), max(cons)) <= 0.010 else 'NOT MET'}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
