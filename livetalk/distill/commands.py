"""CLI: `livetalk train teacher|ode|dmd --config FILE [--set key=value ...]`."""

from __future__ import annotations

import json


def _train(args) -> int:
    from . import parallel
    from .config import load_train_config
    from .trainer import train

    cfg = load_train_config(args.config, args.set, stage=args.stage)
    result = train(cfg, progress=not args.no_progress)
    if parallel.is_main():
        print(json.dumps({k: v for k, v in result.items() if k != "logs"} | {"final": result["logs"]}, default=str))
    distributed = parallel.world_size() > 1
    parallel.shutdown()
    if distributed:
        parallel.exit_process(0)  # a rank must not finalize the interpreter while gloo threads may hold tensors
    return 0


def _prepare(args) -> int:
    from .prepare import prepare_latents

    summary = prepare_latents(args.data, args.out, latent_frames=args.latent_frames, variants=tuple(args.variants),
                              degrade=args.degrade, max_clips=args.max_clips, vae_path=args.vae,
                              windows_per_clip=args.windows_per_clip)
    print(json.dumps(summary))
    return 0


def _sample(args) -> int:
    from .sample_eval import generate_clips

    timing = generate_clips(args.checkpoint, args.data, args.out, role=args.role, num_frames=args.frames,
                            max_clips=args.max_clips, curated_prompts=args.curated_prompts,
                            teacher_steps=args.teacher_steps, text_scale=args.cfg, audio_scale=args.cfg)
    print(json.dumps(timing))
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample-eval", help="generate a dataset's clips with a teacher or student for `livetalk eval`")
    p.add_argument("checkpoint")
    p.add_argument("--role", choices=["student", "teacher"], default="student")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--curated-prompts", action="store_true")
    p.add_argument("--teacher-steps", type=int, default=32)
    p.add_argument("--cfg", type=float, default=3.0, help="teacher text and audio guidance scales")
    p.set_defaults(func=_sample)

    p = sub.add_parser("prepare-latents", help="dataset folder → latent training file (tiny VAE, log-mel, MiniLM)")
    p.add_argument("--data", required=True, help="dataset folder with manifest.jsonl")
    p.add_argument("--out", required=True)
    p.add_argument("--latent-frames", type=int, default=9)
    p.add_argument("--variants", nargs="+", default=["clean", "raw", "curated"],
                   help="clean: as rendered; raw: some references degraded; curated: raw repaired + motion prompts")
    p.add_argument("--degrade", type=float, default=0.3, help="fraction of raw references degraded")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--windows-per-clip", type=int, default=None)
    p.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: shipped)")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("train", help="distillation stages: teacher, ode, dmd (torchrun for several processes)")
    p.add_argument("stage", choices=["teacher", "ode", "dmd"])
    p.add_argument("--config", default=None, help="YAML: {recipe: NAME, key: value, ...}")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config fields")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)
