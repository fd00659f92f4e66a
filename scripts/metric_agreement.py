"""Do latent error and re-primed pixel PSNR agree on long streams? (docs/results.md, session 31)

    python scripts/metric_agreement.py --truth RUN/long_windowed.pt NAME=LATENTS.pt:RPB.json [NAME=... ...]

For each arm, LATENTS.pt is its long streams (`{"latents": [N, 32, 16, h, w], "ids"}`, e.g. `tiny_distill.py
--only generate-long`'s, `still_baseline.py make`'s or an eval file) and RPB.json the per-stream re-primed pixel
scores of the same streams (`scripts/reprime_check.py --out`). Per stretch (latent frames 1–8 / 9–16 / 17–24 /
25–31, decoded to pixel frames 0–32 / 33–64 / 65–96 / 97–124): each stream's mean squared latent error to
`--truth` and its pixel PSNR, pooled over the arms; prints the Spearman correlation of the two per stretch, the arm
means in both views, and in how many stretches the two views rank the arms the same way.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from scipy.stats import spearmanr

LATENT_STRETCHES = [(1, 9), (9, 17), (17, 25), (25, 32)]
PIXEL_COLUMNS = ["psnr 0-32", "psnr 33-64", "psnr 65-96", "psnr 97-124"]


def load_truth(path: str) -> tuple[torch.Tensor, list[str]]:
    """A long-stream latent file or a prepared eval file (its shared latents) → `[N, F, 16, h, w]`, ids."""
    data = torch.load(path, map_location="cpu", weights_only=False)
    return data["latents"].float(), list(data["ids"])


def arm_points(spec: str, truth: torch.Tensor, ids: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """`NAME=LATENTS.pt:RPB.json` → name, latent MSE `[N, 4]` and pixel PSNR `[N, 4]` in the truth's stream order."""
    name, _, rest = spec.partition("=")
    lat_path, _, rpb_path = rest.rpartition(":")
    if not name or not lat_path or not rpb_path:
        raise SystemExit(f"bad arm {spec!r}: expected NAME=LATENTS.pt:RPB.json")
    x, x_ids = load_truth(lat_path)
    if x.shape != truth.shape or x_ids != ids:
        raise SystemExit(f"{lat_path}: {tuple(x.shape)} streams {x_ids[:2]}…, truth {tuple(truth.shape)} {ids[:2]}…")
    rpb = json.load(open(rpb_path))
    cols = [rpb["columns"].index(c) for c in PIXEL_COLUMNS]
    key = "reprimed"
    missing = [i for i in ids if i not in rpb["streams"]]
    if missing:
        raise SystemExit(f"{rpb_path} lacks streams {missing[:3]}")
    mse = np.stack([((x[:, a:b] - truth[:, a:b]) ** 2).mean(dim=(1, 2, 3, 4)).numpy()
                    for a, b in LATENT_STRETCHES], 1)
    psnr = np.array([[rpb["streams"][i][key][c] for c in cols] for i in ids])
    return name, mse, psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True, help="latent file of the ground truth to measure latent error against")
    ap.add_argument("arms", nargs="+", help="NAME=LATENTS.pt:RPB.json")
    args = ap.parse_args()
    truth, ids = load_truth(args.truth)
    arms = [arm_points(s, truth, ids) for s in args.arms]
    print(f"{len(ids)} streams x {len(arms)} arms; latent MSE to {args.truth} vs re-primed pixel PSNR")
    print("| arm | " + " | ".join(f"MSE {a}-{b - 1} / PSNR {p[5:]}" for (a, b), p in
                                   zip(LATENT_STRETCHES, PIXEL_COLUMNS)) + " |")
    print("|---|" + "---|" * len(PIXEL_COLUMNS))
    for name, mse, psnr in arms:
        print(f"| {name} | " + " | ".join(f"{m:.3f} / {p:.2f}" for m, p in zip(mse.mean(0), psnr.mean(0))) + " |")
    agree = 0
    for k, col in enumerate(PIXEL_COLUMNS):
        m = np.concatenate([a[1][:, k] for a in arms])
        p = np.concatenate([a[2][:, k] for a in arms])
        rho = spearmanr(m, p).statistic
        by_mse = [a[0] for a in sorted(arms, key=lambda a: a[1][:, k].mean())]  # best (lowest error) first
        by_psnr = [a[0] for a in sorted(arms, key=lambda a: -a[2][:, k].mean())]  # best (highest PSNR) first
        same = by_mse == by_psnr
        agree += same
        print(f"{col}: Spearman(latent MSE, PSNR) = {rho:+.2f} over {len(m)} streams; ranks by latent "
              f"{' > '.join(by_mse)}; by pixels {' > '.join(by_psnr)}{'' if same else '  (differ)'}")
    print(f"the two views rank the arms alike in {agree} of {len(PIXEL_COLUMNS)} stretches")


if __name__ == "__main__":
    main()
