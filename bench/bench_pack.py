"""Benchmark the PDF pack renderer on a large pack.

Renders a pack with 10,000 audit events and 200 evaluations (EU AI Act outline by default, the
longer one) and a small pack (40 events, 6 evaluations) in the same run, each in a fresh child
process so peak RSS is measured per render. Prints wall time, peak RSS, page count and the
large/small time ratio. Targets: large pack < 10 s and < 300 MB peak RSS.

    .venv/bin/python bench/bench_pack.py [--regime eu-ai-act|sr11-7] [--events N] [--evaluations N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _factory():
    path = ROOT / "tests" / "reports_core" / "reports_pack_factory.py"
    spec = importlib.util.spec_from_file_location("reports_pack_factory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _render(regime: str, events: int, evaluations: int, queue) -> None:
    from governance.reports.outlines import load_outline
    from governance.reports.render import render_pack_pdf

    pack = _factory().make_pack(regime, n_evaluations=evaluations, n_audit=events)
    outline = load_outline(regime)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pack.pdf")
        start = time.perf_counter()
        render_pack_pdf(pack, outline, out)
        wall = time.perf_counter() - start
        size = os.path.getsize(out)
        from pypdf import PdfReader

        pages = len(PdfReader(out).pages)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    queue.put({"wall_s": wall, "peak_rss_mb": peak_mb, "pages": pages, "bytes": size})


def run(regime: str, events: int, evaluations: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_render, args=(regime, events, evaluations, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="eu-ai-act", choices=["eu-ai-act", "sr11-7"])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--evaluations", type=int, default=200)
    args = parser.parse_args()

    small = run(args.regime, 40, 6)
    large = run(args.regime, args.events, args.evaluations)
    ratio = large["wall_s"] / small["wall_s"] if small["wall_s"] else float("nan")
    print(f"regime: {args.regime}")
    print(
        f"small pack  (40 events, 6 evaluations): {small['wall_s']:.2f} s, "
        f"peak RSS {small['peak_rss_mb']:.0f} MB, {small['pages']} pages"
    )
    print(
        f"large pack  ({args.events} events, {args.evaluations} evaluations): {large['wall_s']:.2f} s, "
        f"peak RSS {large['peak_rss_mb']:.0f} MB, {large['pages']} pages, {large['bytes'] / 1e6:.1f} MB PDF"
    )
    print(f"ratio large/small wall time: {ratio:.1f}x")
    ok = large["wall_s"] < 10 and large["peak_rss_mb"] < 300
    print(f"targets (< 10 s, < 300 MB): {'MET' if ok else 'NOT MET'}")
    print(json.dumps({"small": small, "large": large, "ratio": ratio}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
