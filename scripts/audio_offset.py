"""How much of the DiT's audio input is a constant offset, and does the mouth signal lie along it?

    python scripts/audio_offset.py --data world.pt --world world_train

On the AudioPack inputs (each latent frame's 4 × D window, flattened as the model sees it) of a latent file:
- the offset's size against the spread (|mean| / rms of the centred windows);
- the principal components of the centred windows, with their share of the variance and their cosine with the
  offset direction;
- a ridge read-out of the mouth opening (ground-truth tracks of the world folder, averaged over the 4 pixel
  frames of each latent frame k ≥ 1): R² on the last 20 % of windows from all features, from the offset
  direction alone, and with the offset direction removed.
AudioPack is Linear → LayerNorm, and LayerNorm cancels a change of the length of a dominant constant vector, so
a signal along the offset reaches the DiT weakened (docs/results.md, "The audio features' offset hides loudness").
"""

from __future__ import annotations

import argparse
import json

import torch

from livetalk.eval.latent_probes import STATE_KEYS, window_targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="latent file (prepare_latents / prep_split.py)")
    ap.add_argument("--world", required=True, help="world folder with the clips' tracks")
    ap.add_argument("--ridge", type=float, default=0.1)
    args = ap.parse_args()
    d = torch.load(args.data, weights_only=False)
    audio = d["audio"].float()  # [N, F, 4, D]
    n_lat = audio.shape[1]
    states, _ = window_targets(d["ids"], args.world, 4 * n_lat - 3)
    mouth = torch.from_numpy(states[:, :, list(STATE_KEYS).index("mouth_open")])
    y = torch.stack([mouth[:, 4 * k - 3:4 * k + 1].mean(1) for k in range(1, n_lat)], 1).flatten()
    x = audio[:, 1:].flatten(0, 1).flatten(1)  # [N·(F−1), 4·D]
    train = torch.arange(len(x)) < int(0.8 * len(x))
    mean = x[train].mean(0)
    u = mean / mean.norm()
    xc = x - mean

    def r2(feats: torch.Tensor) -> float:
        a = torch.cat([feats, torch.ones(len(feats), 1)], 1)
        w = torch.linalg.solve(a[train].T @ a[train] + args.ridge * torch.eye(a.shape[1]), a[train].T @ y[train])
        pred = a[~train] @ w
        return float(1 - ((pred - y[~train]) ** 2).mean() / y[~train].var())

    _, s, v = torch.pca_lowrank(xc, q=5, center=False)
    total = xc.pow(2).sum()
    along = xc @ u
    out = {
        "offset_over_spread": float(mean.norm() / xc.norm(dim=1).pow(2).mean().sqrt()),
        "variance_along_offset": float(along.pow(2).sum() / total),
        "components": [{"variance": float(s[i] ** 2 / total), "cos_with_offset": float(v[:, i] @ u)}
                       for i in range(5)],
        "mouth_r2": {"all": r2(x), "offset_direction_only": r2(along[:, None]),
                     "offset_direction_removed": r2(xc - along[:, None] * u[None])},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
