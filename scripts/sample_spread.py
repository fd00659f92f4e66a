"""How much do a model's samples vary with the noise seed alone? (docs/results.md, "How many steps the teacher needs")

    python scripts/sample_spread.py --eval eval.pt --model teacher.safetensors --role teacher --steps 12 [--seeds 2]

For each eval clip, samples with `--seeds` noise seeds (same conditions) and prints the RMS difference between two
seeds' latents (frames 1+, frame 0 is the reference) relative to the ground-truth latents' spread, next to each
sample's RMS error against the ground truth. A spread near zero means the model maps conditions to nearly one
video: a 1-step and a many-step sampler then agree, and step distillation has little to remove.
"""

from __future__ import annotations

import argparse
import json

import torch

from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import sample_latents
from livetalk.models.checkpoint import load_dit


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True, help="latent eval file (prep_split.py encode)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--role", default="teacher", choices=["teacher", "student"])
    ap.add_argument("--variant", default="clean")
    ap.add_argument("--steps", type=int, default=12, help="teacher Euler steps")
    ap.add_argument("--seeds", type=int, nargs=2, default=[1000, 5000], help="two noise seed offsets")
    args = ap.parse_args()
    data = LatentClips.load(f"{args.eval}:{args.variant}")
    model = load_dit(args.model, preset="tiny", dtype=torch.float32)
    runs = []
    for seed in args.seeds:
        outs = [sample_latents(model, data.batch(list(range(i, min(i + 16, len(data))))), args.role, seed + i,
                               teacher_steps=args.steps) for i in range(0, len(data), 16)]
        runs.append(torch.cat(outs).float()[:, 1:])
    gt = data.latents.float()[:, 1:]
    scale = gt.std()
    rel = lambda a, b: round(float((a - b).square().mean().sqrt() / scale), 4)
    print(json.dumps({"model": args.model, "role": args.role, "steps": args.steps, "clips": len(data),
                      "seed_spread": rel(runs[0], runs[1]), "error_vs_gt": [rel(r, gt) for r in runs],
                      "gt_clip_spread": rel(gt, gt.roll(1, 0))}))


if __name__ == "__main__":
    main()
