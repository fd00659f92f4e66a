"""The whole tiny-scale distillation ablation in one run (CPU or CUDA): teacher → ODE init → DMD, for the
plain Self-Forcing recipe and LiveTalk's recipe, then evaluation latents for every model.

    python scripts/tiny_distill.py --data runs/data/world.pt --eval runs/data/eval.pt --out runs/tiny \
        --device cuda [--scale 1.0]

Stages (configs: recipes in livetalk/distill/config.py; step counts × --scale):
  teacher            clean conditions, bidirectional flow matching with condition dropout
  ode-converged      curated conditions, trained until the convergence criterion (LiveTalk)
  ode-short          raw conditions, a quarter of the steps (plain baseline)
  dmd-self-forcing   raw conditions, ode-short init, 1× learning rates, CFG 4 (guidance 3)
  dmd-livetalk       curated conditions, ode-converged init, 2× learning rates, CFG 6 (guidance 5)
Outputs under --out: each stage's folder (checkpoints, log.jsonl) and gen_<model>.pt (latents of the
eval clips, fp16) plus timing.json (NFE and seconds per clip).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import stream_latents
from livetalk.distill.teacher import sample_teacher, teacher_nfe
from livetalk.distill.trainer import train
from livetalk.models.checkpoint import load_dit


def stage(name, recipe, out, device, **kw):
    """Train one stage with the recipe's defaults plus `kw`; returns its main exported checkpoint."""
    sets = [f"{k}={v}" for k, v in kw.items()] + [f"out_dir={out / name}", f"device={device}"]
    cfg = load_train_config(None, sets, recipe=recipe)
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    print(json.dumps({"stage": name, "seconds": round(time.perf_counter() - t0, 1), **result["logs"]}), flush=True)
    return result["exported"][0]


@torch.no_grad()
def generate(models: dict, eval_spec: str, out: Path, device: str, teacher_steps: int, cfg_scale: float):
    timing = {}
    for name, (path, role, variant) in models.items():
        data = LatentClips.load(f"{eval_spec}:{variant}")
        model = load_dit(path, preset="tiny", device=device, dtype=torch.float32)
        outs = []
        t0 = time.perf_counter()
        for i in range(0, len(data), 16):
            batch = data.batch(list(range(i, min(i + 16, len(data))))).to(device)
            if role == "teacher":
                g = torch.Generator().manual_seed(1000 + i)
                x0, _ = sample_teacher(model, batch, steps=teacher_steps, text_scale=cfg_scale, audio_scale=cfg_scale,
                                       generator=g)
            else:
                x0 = stream_latents(model, batch, seed=1000 + i)
            outs.append(x0.half().cpu())
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        secs = (time.perf_counter() - t0) / len(data)
        f = data.latents.shape[1]
        nfe = teacher_nfe(teacher_steps, cfg_scale, cfg_scale) if role == "teacher" else 4 * -(-f // 3)
        timing[name] = {"nfe_per_clip": nfe, "seconds_per_clip_batched": secs, "role": role}
        torch.save({"latents": torch.cat(outs), "ids": data.ids}, out / f"gen_{name}.pt")
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
    print(json.dumps({"generated": timing}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--out", default="runs/tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every stage's step count")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s = lambda n: max(2, int(n * args.scale))
    common = dict(preset=args.preset, log_every=50)
    teacher = stage("teacher", "teacher", out, args.device, data=f"{args.data}:clean", eval_data=f"{args.eval}:clean",
                    steps=s(1200), batch_size=32, lr=3e-4, eval_every=s(300), save_every=s(600), **common)
    ode_c = stage("ode-converged", "ode", out, args.device, data=f"{args.data}:curated", eval_data=f"{args.eval}:curated",
                  teacher=teacher, teacher_steps=32, teacher_text_scale=3.0, teacher_audio_scale=3.0,
                  ode_pairs=out / "ode_pairs_curated.pt", steps=s(600), batch_size=32, lr=2e-4, eval_every=s(75),
                  save_every=s(300), **common)
    ode_s = stage("ode-short", "ode", out, args.device, data=f"{args.data}:raw", eval_data=f"{args.eval}:clean",
                  teacher=teacher, teacher_steps=32, teacher_text_scale=3.0, teacher_audio_scale=3.0,
                  ode_pairs=out / "ode_pairs_raw.pt", steps=s(150), batch_size=32, lr=2e-4, eval_every=s(75),
                  save_every=s(150), **common)
    dmd_kw = dict(teacher=teacher, steps=s(160), batch_size=16, save_every=s(80), ema_start=s(40), ema_decay=0.9,
                  **common)
    sf = stage("dmd-self-forcing", "dmd-self-forcing", out, args.device, data=f"{args.data}:raw", init=ode_s,
               lr=5e-5, critic_lr=1e-5, **dmd_kw)
    lt = stage("dmd-livetalk", "dmd-livetalk", out, args.device, data=f"{args.data}:curated", init=ode_c,
               lr=1e-4, critic_lr=2e-5, **dmd_kw)
    generate({"teacher": (teacher, "teacher", "clean"), "ode-converged": (ode_c, "student", "curated"),
              "ode-short": (ode_s, "student", "clean"), "dmd-self-forcing": (sf, "student", "clean"),
              "dmd-livetalk": (lt, "student", "curated")}, args.eval, out, args.device, teacher_steps=48, cfg_scale=3.0)


if __name__ == "__main__":
    main()
