"""The whole tiny-scale distillation ablation in one run (CPU or CUDA): teacher → ODE init → DMD, for the
plain Self-Forcing recipe and LiveTalk's recipe, then evaluation latents for every model.

    python scripts/tiny_distill.py --data runs/data/world.pt --eval runs/data/eval.pt --out runs/tiny \
        --device cuda [--scale 1.0]

Stages (configs: recipes in livetalk/distill/config.py; step counts × --scale):
  teacher            clean conditions, bidirectional flow matching with condition dropout
  ode-converged      curated conditions, 4× the steps of ode-short; the convergence criterion is logged (LiveTalk)
  ode-short          raw conditions, a quarter of the steps (plain baseline)
  dmd-self-forcing   raw conditions, ode-short init, 1× learning rates, CFG 4 (guidance 3)
  dmd-livetalk       curated conditions, ode-converged init, 2× learning rates, CFG 6 (guidance 5)
Outputs under --out: each stage's folder (checkpoints, log.jsonl) and gen_<model>.pt (latents of the
eval clips, fp16, with NFE and seconds per clip); long_<model>.pt likewise for the long streams.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import sample_latents, student_nfe
from livetalk.distill.teacher import teacher_nfe
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
def generate(models: dict, eval_spec: str, out: Path, device: str, teacher_steps: int, cfg_scale: float,
             prefix: str = "gen_", context_noise: float = 0.0, suffix: str = "", cache: dict | None = None,
             noise_seed: int = 1000, ref_video: str = "", audio_cfg_scale: float | None = None):
    """Latents of every eval clip for every model, with its NFE and seconds per clip → out/<prefix><model>.pt."""
    timing = {}
    if len({v for _, _, v in models.values()}) > 1:  # docs/results.md, session 31
        print("note: these models see different conditions (" + ", ".join(f"{k}: {v}" for k, (_, _, v) in
              models.items()) + "); the clean variant's reference is the undegraded image, which no curated or raw "
              "model gets: compare models across variants only with --eval-variant", flush=True)
    for name, (path, role, variant) in models.items():
        data = LatentClips.load(f"{eval_spec}:{variant}")
        try:  # the cond the model was trained with (the still reference of session 33 or the published one)
            data = data.for_checkpoint(path, ref_video)
        except ValueError as e:
            raise SystemExit(f"{name}: {e}") from None
        model = load_dit(path, device=device, dtype=torch.float32)  # preset from the file (tiny, tiny-deep)
        outs = []
        t0 = time.perf_counter()
        for i in range(0, len(data), 16):
            batch = data.batch(list(range(i, min(i + 16, len(data))))).to(device)
            x0 = sample_latents(model, batch, role, noise_seed + i, teacher_steps=teacher_steps, cfg_scale=cfg_scale,
                                context_noise=context_noise, cache=cache, audio_cfg_scale=audio_cfg_scale)
            outs.append(x0.half().cpu())
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        secs = (time.perf_counter() - t0) / len(data)
        f = data.latents.shape[1]
        audio = cfg_scale if audio_cfg_scale is None else audio_cfg_scale
        nfe = teacher_nfe(teacher_steps, cfg_scale, audio) if role == "teacher" else student_nfe(f)
        timing[name] = {"nfe_per_clip": nfe, "seconds_per_clip_batched": secs, "role": role, "variant": variant}
        torch.save({"latents": torch.cat(outs), "ids": data.ids, "timing": timing[name]},
                   out / f"{prefix}{name}{suffix}.pt")
    print(json.dumps({"generated": timing}), flush=True)


EXPORTS = {"teacher": "teacher/teacher.safetensors", "ode-converged": "ode-converged/student_ode.safetensors",
           "ode-short": "ode-short/student_ode.safetensors", "dmd-self-forcing": "dmd-self-forcing/student.safetensors",
           "dmd-livetalk": "dmd-livetalk/student.safetensors"}
ORDER = ["teacher", "ode-converged", "ode-short", "dmd-self-forcing", "dmd-livetalk", "generate", "generate-long"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--out", default="runs/tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every stage's step count")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--only", nargs="*", default=None, choices=ORDER,
                    help="run only these stages (the others' checkpoints must exist under --out); separate processes "
                         "can then run independent stages side by side (ode-converged ‖ ode-short, then the two DMDs)")
    ap.add_argument("--teacher-init", default="", help="continue the teacher from this checkpoint")
    ap.add_argument("--teacher-lr", type=float, default=3e-4)
    ap.add_argument("--teacher-batch", type=int, default=32)
    ap.add_argument("--teacher-steps", type=int, default=1200, help="before --scale")
    ap.add_argument("--mouth-weight", type=float, default=0.0,
                    help="teacher and ODE stages: extra loss weight on the latent mouth box (TrainConfig.mouth_box)")
    ap.add_argument("--audio-lr-scale", type=float, default=1.0,
                    help="teacher and ODE stages: learning-rate multiplier for the audio modules")
    ap.add_argument("--audio-standardise", action="store_true",
                    help="teacher stage: train on standardised audio features, export for raw ones "
                         "(TrainConfig.audio_standardise)")
    ap.add_argument("--ode-batch", type=int, default=32)
    ap.add_argument("--ode-pairs-clips", type=int, default=0, help="teacher trajectories for this many clips (0 = all)")
    ap.add_argument("--ode-teacher-steps", type=int, default=32)
    ap.add_argument("--ode-cfg", type=float, default=3.0,
                    help="teacher guidance (text and audio) of the ODE pairs; 1 = none (docs/results.md, session 16)")
    ap.add_argument("--dmd-batch", type=int, default=16)
    ap.add_argument("--dmd-steps", type=int, default=160)
    ap.add_argument("--models", nargs="*", default=None,
                    help="generate / generate-long: only these models (generate-long: the teacher only if named)")
    ap.add_argument("--teacher-eval-steps", type=int, default=48,
                    help="generate: the teacher's Euler steps (2 network evaluations each at CFG > 1: guided_velocity)")
    ap.add_argument("--teacher-eval-cfg", type=float, default=3.0,
                    help="generate: the teacher's guidance on text and audio (1 = none, 1 network evaluation per step)")
    ap.add_argument("--teacher-eval-audio-cfg", type=float, default=None,
                    help="generate: the teacher's audio scale apart from the text one (--teacher-eval-cfg); e.g. "
                         "--teacher-eval-cfg 1 --teacher-eval-audio-cfg 3 guides the audio alone, as LS-AO's ODE pairs")
    ap.add_argument("--eval-variant", default="", choices=["", "clean", "raw", "curated"],
                    help="generate: give every model these conditions (default: each its own recipe's, so the "
                         "teacher gets the clean reference and the curated students a repaired one: session 31 found "
                         "that worth the whole teacher-student gap on windows; set it to compare across roles)")
    ap.add_argument("--eval-long", default="", help="latent file of long eval clips: the students stream them "
                    "(KV cache with sinks and a rolling window; the teacher, if named in --models, samples them whole) → "
                    "out/long_<model>.pt")
    ap.add_argument("--context-noise", type=float, default=0.0,
                    help="generate / generate-long: the students' cache passes re-noise each block to this timestep "
                    "(0 = clean, as published)")
    ap.add_argument("--cache", type=int, nargs=3, default=None, metavar=("SINKS", "WINDOW", "ROPE_MAX"),
                    help="generate / generate-long: the students' streaming cache, in latent frames: sink frames, "
                    "frames held (sinks included; -1 = full history) and the position past which the rolling part "
                    "is re-based (0 = the model's table, i.e. absolute positions). Default: the published 9 15 0")
    ap.add_argument("--suffix", default="", help="generate / generate-long: appended to the output file names")
    ap.add_argument("--ref-video", default="",
                    help="generate / generate-long: still-reference latent files (comma-separated, `still_baseline.py "
                    "make` on the eval files with the same variant; a long clip's file serves its first window too, "
                    "the encoder being causal) for models trained with `ref_video`")
    ap.add_argument("--noise-seed", type=int, default=1000,
                    help="generate / generate-long: batch i's noise seed is this + i (another value draws a second "
                    "sample of the same conditions, e.g. for `still_baseline.py error-split NAME=A,B`)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = set(args.only or ORDER)
    s = lambda n: max(2, int(n * args.scale))
    common = dict(preset=args.preset, log_every=50)
    path = {k: out / v for k, v in EXPORTS.items()}
    if "teacher" in run:
        stage("teacher", "teacher", out, args.device, data=f"{args.data}:clean", eval_data=f"{args.eval}:clean",
              init=args.teacher_init, steps=s(args.teacher_steps), batch_size=args.teacher_batch, lr=args.teacher_lr,
              mouth_weight=args.mouth_weight, audio_lr_scale=args.audio_lr_scale,
              audio_standardise=args.audio_standardise, eval_every=s(300), save_every=s(100), **common)
    ode_kw = dict(teacher=path["teacher"], teacher_steps=args.ode_teacher_steps, teacher_text_scale=args.ode_cfg,
                  teacher_audio_scale=args.ode_cfg, ode_pairs_clips=args.ode_pairs_clips, batch_size=args.ode_batch,
                  lr=2e-4, mouth_weight=args.mouth_weight, audio_lr_scale=args.audio_lr_scale,
                  eval_every=s(75), **common)
    if "ode-converged" in run:
        stage("ode-converged", "ode", out, args.device, data=f"{args.data}:curated", eval_data=f"{args.eval}:curated",
              ode_pairs=out / "ode_pairs_curated.pt", steps=s(600), save_every=s(75), **ode_kw)
    if "ode-short" in run:
        stage("ode-short", "ode", out, args.device, data=f"{args.data}:raw", eval_data=f"{args.eval}:clean",
              ode_pairs=out / "ode_pairs_raw.pt", steps=s(150), save_every=s(75), **ode_kw)
    dmd_kw = dict(teacher=path["teacher"], steps=s(args.dmd_steps), batch_size=args.dmd_batch,
                  save_every=max(2, s(args.dmd_steps) // 4), ema_start=s(args.dmd_steps) // 4, ema_decay=0.9, **common)
    if "dmd-self-forcing" in run:
        stage("dmd-self-forcing", "dmd-self-forcing", out, args.device, data=f"{args.data}:raw",
              init=path["ode-short"], lr=5e-5, critic_lr=1e-5, **dmd_kw)
    if "dmd-livetalk" in run:
        stage("dmd-livetalk", "dmd-livetalk", out, args.device, data=f"{args.data}:curated",
              init=path["ode-converged"], lr=1e-4, critic_lr=2e-5, **dmd_kw)
    models = {"teacher": (path["teacher"], "teacher", "clean"),
              "ode-converged": (path["ode-converged"], "student", "curated"),
              "ode-short": (path["ode-short"], "student", "clean"),
              "dmd-self-forcing": (path["dmd-self-forcing"], "student", "clean"),
              "dmd-livetalk": (path["dmd-livetalk"], "student", "curated")}
    if args.eval_variant:
        models = {k: (path_, role, args.eval_variant) for k, (path_, role, _) in models.items()}
    pick = lambda names: {k: models[k] for k in names if args.models is None or k in args.models}
    cache = None
    if args.cache:
        cache = {"sink_size": args.cache[0], "local_attn_size": args.cache[1], "rope_max_frames": args.cache[2] or None}
    if "generate" in run:
        generate(pick(models), args.eval, out, args.device, teacher_steps=args.teacher_eval_steps,
                 cfg_scale=args.teacher_eval_cfg, context_noise=args.context_noise, suffix=args.suffix, cache=cache,
                 noise_seed=args.noise_seed, ref_video=args.ref_video, audio_cfg_scale=args.teacher_eval_audio_cfg)
    if "generate-long" in run and args.eval_long:
        # the students stream; the bidirectional teacher samples each long clip whole (positions past its training
        # windows), and only when named in --models (`pick` keeps only the named ones)
        generate(pick([k for k in models if k != "teacher" or args.models]), args.eval_long, out, args.device,
                 teacher_steps=args.teacher_eval_steps, cfg_scale=args.teacher_eval_cfg, prefix="long_",
                 context_noise=args.context_noise, suffix=args.suffix, cache=cache, noise_seed=args.noise_seed,
                 ref_video=args.ref_video, audio_cfg_scale=args.teacher_eval_audio_cfg)


if __name__ == "__main__":
    main()
