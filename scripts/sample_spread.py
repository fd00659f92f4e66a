"""How much do a model's samples vary with the noise seed alone, and is that spread the data's? (docs/results.md,
"How many steps the teacher needs" and "Does the teacher sample a distribution?")

    python scripts/sample_spread.py --eval eval.pt --model teacher.safetensors --role teacher --steps 1 4 48 [--cfg 3]
    python scripts/sample_spread.py --eval eval.pt --model student.safetensors --role student

For each eval clip, samples with `--seeds` noise seeds (same conditions; frames 1+, frame 0 is the reference) and
prints, relative to the ground-truth latents' spread: the RMS difference between two seeds' samples
(`seed_spread`), each sample's RMS error against the ground truth, and the energy score (`livetalk.eval.metrics
.energy`: error − spread / 2, a proper scoring rule, lowest for samples from the true conditional distribution) with
its standard error over clips. A spread near zero means the model maps conditions to nearly one video: a 1-step
and a many-step sampler then agree, and step distillation has little to remove. One JSON line per step count.
"""

from __future__ import annotations

import argparse
import json

import torch

from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import sample_latents
from livetalk.eval.metrics.energy import energy_score
from livetalk.models.checkpoint import load_dit


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True, help="latent eval file (prep_split.py encode)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--role", default="teacher", choices=["teacher", "student"])
    ap.add_argument("--variant", default="clean")
    ap.add_argument("--steps", type=int, nargs="+", default=[12], help="teacher Euler steps (one run per value)")
    ap.add_argument("--cfg", type=float, default=3.0, help="teacher guidance on text and audio (1 = none)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 5000], help="noise seed offsets (two or more)")
    ap.add_argument("--out", default=None, help="also append each line, with per-clip energy scores, to this JSONL")
    ap.add_argument("--ref-video", default="", help="still latent files for a model trained with the still-reference "
                    "cond (`still_baseline.py make` on this data; docs/distillation.md)")
    args = ap.parse_args()
    data = LatentClips.load(f"{args.eval}:{args.variant}").for_checkpoint(args.model, args.ref_video)
    model = load_dit(args.model, preset="tiny", dtype=torch.float32)
    gt = data.latents.float()[:, 1:]
    scale = float(gt.std())
    gt_clip_spread = round(float((gt - gt.roll(1, 0)).square().mean().sqrt()) / scale, 4)
    for steps in args.steps if args.role == "teacher" else [4]:
        runs = []
        for seed in args.seeds:
            outs = [sample_latents(model, data.batch(list(range(i, min(i + 16, len(data))))), args.role, seed + i,
                                   teacher_steps=steps, cfg_scale=args.cfg) for i in range(0, len(data), 16)]
            runs.append(torch.cat(outs).float()[:, 1:])
        es = {k: v / scale for k, v in energy_score(torch.stack(runs), gt).items()}
        sem = lambda v: round(float(v.std() / len(v) ** 0.5), 4)  # noqa: E731
        row = {"model": args.model, "role": args.role, "steps": steps,
               "cfg": args.cfg if args.role == "teacher" else None, "clips": len(data), "seeds": len(args.seeds),
               "seed_spread": round(float(es["spread"].mean()), 4), "error_vs_gt": round(float(es["error"].mean()), 4),
               "energy_score": round(float(es["score"].mean()), 4), "energy_score_sem": sem(es["score"]),
               "gt_clip_spread": gt_clip_spread}
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row | {"per_clip_score": [round(float(v), 5) for v in es["score"]]}) + "\n")


if __name__ == "__main__":
    main()
