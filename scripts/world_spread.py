"""The world's own conditional spread in latent space: the floor for `scripts/sample_spread.py`'s numbers.

    python scripts/world_spread.py --eval eval.pt --start-seed 900000 --n 40 --duration 8 [--resamples 2]

The held-out windows of `eval.pt` are clips `start-seed … start-seed + n − 1` of `livetalk data synth` (first
window of 33 frames = 9 latent frames). For each, the world renders the same conditions (person, speech, mouth,
motion label, prompt) with the head and expression tracks redrawn (`make_clip(..., motion_seed=k)`): other samples
of the video given exactly what the models are given. Their latents (shipped tiny VAE, frames 1+) give, relative to
the eval file's ground-truth spread like `sample_spread.py`:
  seed_spread   RMS distance between two redrawn samples (what a model that samples the world's conditional
                distribution would show between two noise seeds)
  error_vs_gt   a redrawn sample's RMS distance to the eval file's ground truth
  energy_score  of the redrawn samples against the ground truth: the score of a perfect sampler on these clips
  render_vs_mp4 the original clip's latents from its raw render against the eval file's (decoded from the mp4):
                the part of the above that is video compression, not motion
"""

from __future__ import annotations

import argparse
import json

import torch

from livetalk.data.clip import ClipConfig, make_clip
from livetalk.distill.data import LatentClips
from livetalk.eval.metrics.energy import energy_score, rms
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_tiny import load_tiny_vae


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--start-seed", type=int, default=900000)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--resamples", type=int, default=2)
    ap.add_argument("--out", default=None, help="append the line, with per-clip energy scores, to this JSONL")
    args = ap.parse_args()
    data = LatentClips.load(f"{args.eval}:clean")
    f = data.latents.shape[1]
    n_pix = 4 * f - 3
    vae = load_tiny_vae()
    cfg = ClipConfig(duration_s=args.duration)
    ids = [i.split("#")[0] for i in data.ids]
    gt, orig, alts = [], [], []
    for k in range(args.n):
        seed = args.start_seed + k
        if f"{seed:06d}" not in ids:
            raise SystemExit(f"clip {seed:06d} is not in {args.eval}")
        gt.append(data.latents[ids.index(f"{seed:06d}")].float()[1:])
        enc = lambda clip: vae.encode(frames_to_video(clip.frames[:n_pix]))[0, 1:]  # noqa: E731
        orig.append(enc(make_clip(seed, cfg)))
        alts.append(torch.stack([enc(make_clip(seed, cfg, motion_seed=m)) for m in range(1, args.resamples + 1)]))
    gt, orig, alts = torch.stack(gt), torch.stack(orig), torch.stack(alts, dim=1)  # alts [R, N, ...]
    scale = float(gt.std())
    es = {k: v / scale for k, v in energy_score(alts, gt).items()}
    row = {"what": "world, head and expression redrawn", "clips": args.n, "samples": args.resamples,
           "seed_spread": round(float(es["spread"].mean()), 4), "error_vs_gt": round(float(es["error"].mean()), 4),
           "energy_score": round(float(es["score"].mean()), 4),
           "energy_score_sem": round(float(es["score"].std() / len(es["score"]) ** 0.5), 4),
           "render_vs_mp4": round(float(rms(orig - gt).mean() / scale), 4)}
    print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row | {"role": "world", "steps": 0, "cfg": None, "model": "world",
                                       "per_clip_score": [round(float(v), 5) for v in es["score"]]}) + "\n")


if __name__ == "__main__":
    main()
