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
                              windows_per_clip=args.windows_per_clip, encode=args.encode)
    print(json.dumps(summary))
    return 0


def _sample(args) -> int:
    from .sample_eval import generate_clips

    timing = generate_clips(args.checkpoint, args.data, args.out, role=args.role, num_frames=args.frames,
                            max_clips=args.max_clips, curated_prompts=args.curated_prompts,
                            teacher_steps=args.teacher_steps, text_scale=args.cfg, audio_scale=args.cfg)
    print(json.dumps(timing))
    return 0


def _bench_memory(args) -> int:
    from .memory import rollout_memory
    from .stages import DTYPES

    dtype = DTYPES[args.dtype]
    rows = []
    for ckpt in (False, True):
        r = rollout_memory(args.preset, latent_size=args.latent_size, latent_frames=args.frames, batch=args.batch,
                           exit_index=args.exit_index, grad_checkpointing=ckpt, dtype=dtype,
                           sink_size=args.sink_size, local_attn_size=args.local_attn_size, fake=not args.real)
        rows.append(r.row())
        print(json.dumps(rows[-1]), flush=True)
    off, on = rows
    print(f"{args.preset} {args.dtype} latent {args.latent_size}x{args.latent_size} x {args.frames} frames, batch "
          f"{args.batch}: held for backward {off['held_after_forward_gib']} -> {on['held_after_forward_gib']} GiB, "
          f"peak {off['peak_gib']} -> {on['peak_gib']} GiB with grad_checkpointing (weights {on['weights_gib']} GiB "
          "not counted)" + (f"; forward + backward {off['seconds']:.2f} -> {on['seconds']:.2f} s" if args.real else ""))
    return 0


def _bench_cost(args) -> int:
    import torch

    from ..models.checkpoint import load_dit
    from .bench_cost import Setting, time_setting
    from .data import LatentClips

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        settings = [Setting.parse_teacher(s) for s in args.teacher_settings] if args.teacher else []
    except ValueError as e:
        raise SystemExit(str(e)) from None
    runs = ([(args.student, Setting("student"))] if args.student else []) + [(args.teacher, s) for s in settings]
    if not runs:
        raise SystemExit("give --student and/or --teacher")
    rows = []
    data = LatentClips.load(args.data)
    for path, setting in runs:
        try:  # the cond the checkpoint was trained with (still-reference latents or the published one)
            data = data.for_checkpoint(path, args.ref_video)
        except ValueError as e:
            raise SystemExit(f"{path}: {e}") from None
        model = load_dit(path, device=args.device, dtype=torch.float32)
        row = {"checkpoint": str(path), **time_setting(model, data, setting, clips=args.clips, batch=args.batch,
                                                       device=args.device), "threads": torch.get_num_threads()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| setting | NFE per clip | seconds per clip |")
    print("|---|---|---|")
    for r in rows:
        extra = f" (+{r['refresh']} cache passes)" if r["refresh"] else ""
        print(f"| {r['setting']} | {r['nfe']}{extra} | {r['seconds_per_clip']:.3f} |")
    return 0


def register(sub) -> None:
    from ..cli import bench_group

    p = bench_group(sub).add_parser(
        "rollout-memory", help="bytes one DMD generator rollout + backward needs, with and without "
        "grad_checkpointing (fake tensors: sizes the 1.3B model on a laptop)")
    p.add_argument("--preset", default="livetalk-1.3b")
    p.add_argument("--latent-size", type=int, default=64, help="latent H = W (512x512 pixels: 64)")
    p.add_argument("--frames", type=int, default=21, help="latent frames per training clip (published: 21)")
    p.add_argument("--batch", type=int, default=1, help="clips per GPU")
    p.add_argument("--exit-index", type=int, default=3, help="denoising step with gradients (0-3)")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--sink-size", type=int, default=0, help="0 with full history (published training)")
    p.add_argument("--local-attn-size", type=int, default=-1, help="-1: full history (published training)")
    p.add_argument("--real", action="store_true", help="real tensors on the CPU (random weights; also times "
                   "forward + backward) instead of fake ones")
    p.set_defaults(func=_bench_memory)

    p = bench_group(sub).add_parser(
        "clip-cost", help="seconds and network evaluations per clip: the student against teacher step / CFG "
        "settings, latent generation on the same conditions (docs/benchmarks.md)")
    p.add_argument("--data", required=True, help="latent file written by prepare-latents, PATH or PATH:VARIANT")
    p.add_argument("--ref-video", default="", help="still-reference latents (scripts/still_baseline.py make) for "
                   "checkpoints trained with them")
    p.add_argument("--student", default="", help="student checkpoint (4 steps per 3-latent-frame block)")
    p.add_argument("--teacher", default="", help="teacher checkpoint")
    p.add_argument("--teacher-settings", nargs="+", default=["48:3", "1:1"],
                   help="STEPS:CFG or STEPS:TEXT:AUDIO (full CFG scales; 1 = unguided)")
    p.add_argument("--clips", type=int, default=32, help="timed clips (the first of the file)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.set_defaults(func=_bench_cost)

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
    p.add_argument("--encode", choices=["window", "clip"], default="window",
                   help="window: encode every window on its own (the shipped files); clip: encode each clip once and "
                        "cut the windows from its latents (with the tiny VAE, later windows are off-distribution: "
                        "docs/results.md, session 31)")
    p.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: shipped)")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("train", help="distillation stages: teacher, ode, dmd (torchrun for several processes)")
    p.add_argument("stage", choices=["teacher", "ode", "dmd"])
    p.add_argument("--config", default=None, help="YAML: {recipe: NAME, key: value, ...}")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config fields")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)
