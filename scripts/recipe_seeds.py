"""Recipes trained with several seeds, compared with a standard error that includes the seed-to-seed spread.

    python scripts/recipe_seeds.py --clips RUN/clips.json \
        --group plain dmd-self-forcing-2400:p_SstdSF2400.json@42 dmd-sf-s43-2400:p_dmd-sf-s43-2400.json@43 \
        --group livetalk dmd-livetalk-2400-clean:p_SstdDMD2400.json@42 dmd-lt-s43-2400:p_dmd-lt-s43-2400.json@43 \
        --fixed teacher teacher:p_Sstd7000.json --pairs livetalk:plain livetalk:teacher

Each run is MODEL[:SYNC][@SEED]: MODEL a model's per-clip metrics in --clips (written by `scripts/paired_metrics.py
--cache`), SYNC the output of `scripts/sample_sync.py` for the same checkpoint (its per-window pooled gain becomes the
metric `audio_following`), SEED its training seed (when every run has one, recipes are also compared seed by seed).
A `--fixed` group is one checkpoint compared as itself (no seed term). Method and model: `livetalk.eval.seeds`.
Prints JSON, then markdown tables: group means (each run's in brackets), per pair diff ± evaluation s.e. (± total
s.e. with the seed spread), and, with seeds, the same matched by seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from livetalk.eval.paired import PAIRED_METRICS
from livetalk.eval.seeds import RecipeRuns, compare_recipes

METRICS = ("audio_following", "psnr", "identity_sim", "flicker", "psnr_drop", "ssim")


def _load_runs(specs: list[str], clips: dict) -> tuple[dict[str, list[dict[str, float]]], list[int]]:
    """`MODEL[:SYNC][@SEED]` specs → `{metric: [per-run {unit: value}]}` over the metrics every run has, and the
    seeds (empty unless every run names one)."""
    per_metric: dict[str, list[dict[str, float]]] = {}
    seeds = []
    for spec in specs:
        spec, _, seed = spec.partition("@")
        if seed:
            seeds.append(int(seed))
        model, _, sync = spec.partition(":")
        if model not in clips:
            raise SystemExit(f"{model!r} has no per-clip metrics in --clips (run scripts/paired_metrics.py first)")
        row = {m: {c: v[m] for c, v in clips[model].items() if m in v} for m in PAIRED_METRICS}
        if sync:
            gains = json.loads(Path(sync).read_text())["pooled gain per window"]
            row["audio_following"] = {f"w{i}": float(g) for i, g in enumerate(gains)}
        for m, values in row.items():
            per_metric.setdefault(m, []).append(values)
    return {m: runs for m, runs in per_metric.items() if len(runs) == len(specs)}, (
        seeds if len(seeds) == len(specs) else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", required=True, help="per-clip metrics per model (paired_metrics.py --cache)")
    ap.add_argument("--group", nargs="+", action="append", default=[], metavar="NAME RUN",
                    help="a recipe: NAME then its runs, each MODEL[:SYNC][@SEED]")
    ap.add_argument("--fixed", nargs=2, action="append", default=[], metavar=("NAME", "RUN"),
                    help="one checkpoint compared as itself (e.g. the teacher)")
    ap.add_argument("--pairs", nargs="+", required=True, help="A:B group names: reports A − B")
    ap.add_argument("--metrics", nargs="+", default=list(METRICS))
    args = ap.parse_args()
    clips = json.loads(Path(args.clips).read_text())
    loaded = {g[0]: (*_load_runs(g[1:], clips), False) for g in args.group}
    loaded.update({name: (*_load_runs([run], clips), True) for name, run in args.fixed})
    pairs = [tuple(p.split(":")) for p in args.pairs]
    if any(len(p) != 2 or p[0] not in loaded or p[1] not in loaded for p in pairs):
        raise SystemExit(f"--pairs takes A:B over the groups {sorted(loaded)}")
    result = {}
    for m in args.metrics:
        groups = {name: RecipeRuns(runs[m], fixed=fixed, seeds=seeds) for name, (runs, seeds, fixed) in loaded.items()
                  if m in runs}
        wanted = [p for p in pairs if p[0] in groups and p[1] in groups]
        if wanted:
            result[m] = compare_recipes(groups, wanted)
    print(json.dumps(result, indent=2))
    cols = list(result)
    print("\n| group | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for name in loaded:
        cells = []
        for m in cols:
            g = result[m]["groups"].get(name)
            cells.append("–" if g is None else f"{g['mean']:.4g}" + (
                " (" + ", ".join(f"{r:.4g}" for r in g["runs"]) + ")" if len(g["runs"]) > 1 else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| σ_seed (dof) | " + " | ".join(
        "–" if result[m]["sigma_seed"] is None else f"{result[m]['sigma_seed']:.2g} ({result[m]['sigma_seed_dof']})"
        for m in cols) + " |")
    print("\n| A − B | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for a, b in pairs:
        cells = []
        for m in cols:
            r = result[m]["pairs"].get(f"{a} − {b}")
            total = "" if r is None or r["sem_total"] is None else f" (± {r['sem_total']:.2g})"
            cells.append("–" if r is None else f"{r['diff']:+.3g} ± {r['sem_eval']:.2g}{total}")
        print(f"| {a} − {b} | " + " | ".join(cells) + " |")

    if any("matched" in r for r in result.values()):
        print("\nMatched by seed (σ_int, its dof): " + ", ".join(
            f"{m} {result[m]['sigma_interaction']:.2g} ({result[m]['sigma_interaction_dof']})"
            for m in cols if "matched" in result[m]))
        print("\n| A − B, seed by seed | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
        for a, b in pairs:
            cells = []
            for m in cols:
                r = result[m].get("matched", {}).get(f"{a} − {b}")
                cells.append("–" if r is None else
                             f"{r['diff']:+.3g} ± {r['sem_eval']:.2g} (± {r['sem_total']:.2g})")
            if any(c != "–" for c in cells):
                print(f"| {a} − {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
