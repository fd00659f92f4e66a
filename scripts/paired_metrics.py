"""Paired differences of per-clip metrics between models decoded by `scripts/tiny_eval.py` (same clips).

    python scripts/paired_metrics.py --videos RUN/videos_gen --reference world_eval --cache RUN/clips.json \
        --pairs dmd-livetalk:dmd-self-forcing dmd-livetalk:ode-converged

Each model's videos are scored once with `livetalk.eval.evaluate_dirs` (per-clip metrics kept in --cache, reused on
later calls); then for every pair A:B the mean of A − B per metric over the shared clips with its standard error
(`livetalk.eval.paired`). Prints JSON, then a markdown table (diff ± s.e.).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from livetalk.eval.evaluate import evaluate_dirs
from livetalk.eval.paired import PAIRED_METRICS, paired_differences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", required=True, help="folder with one sub-folder of mp4s per model")
    ap.add_argument("--reference", required=True, help="ground-truth world folder")
    ap.add_argument("--pairs", nargs="+", required=True, help="A:B (model folder names): reports A − B")
    ap.add_argument("--cache", default="", help="JSON of per-clip metrics per model, read and extended")
    ap.add_argument("--refresh", nargs="*", default=[],
                    help="models to score again even if --cache holds them (their videos were remade)")
    args = ap.parse_args()
    pairs = [p.split(":") for p in args.pairs]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit("--pairs takes A:B")
    cache = Path(args.cache) if args.cache else None
    clips = json.loads(cache.read_text()) if cache and cache.exists() else {}
    for name in sorted({n for p in pairs for n in p}):
        if name not in clips or name in args.refresh:
            clips[name] = evaluate_dirs(Path(args.videos) / name, args.reference)["clips"]
            if cache:
                cache.write_text(json.dumps(clips))
    result = {f"{a} − {b}": paired_differences(clips[a], clips[b]) for a, b in pairs}
    print(json.dumps(result, indent=2))
    cols = [m for m in PAIRED_METRICS if any(m in r for r in result.values())]
    print("| A − B | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for k, r in result.items():
        print(f"| {k} | " + " | ".join(f"{r[m]['diff']:+.3g} ± {r[m]['sem']:.2g}" if m in r else "–" for m in cols)
              + " |")


if __name__ == "__main__":
    main()
