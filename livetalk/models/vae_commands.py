"""CLI sub-commands of the VAE area: `vae-train` (tiny VAE / fast decoder) and `bench-vae`."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("vae-train", help="train the tiny VAE or distil its fast streaming decoder (CPU)")
    p.add_argument("--what", choices=("vae", "fast-decoder", "long-decoder"), default="vae",
                   help="long-decoder: fine-tune the decoder of --init (default: shipped) for long streams by rolling "
                        "truncated BPTT over --frames-frame clips of the world folder --data, encoded window by "
                        "window; the encoder stays frozen")
    p.add_argument("--data", default="toy",
                   help="'toy' (built-in procedural heads), a folder with manifest.jsonl, or a mixture 'DIR*3+toy'")
    p.add_argument("--heldout-data", default=None, help="held-out clips source (default: a separate draw from --data)")
    p.add_argument("--image-steps", type=int, default=2,
                   help="vae: single-frame steps per video step (batch --image-batch)")
    p.add_argument("--image-batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=32, help="vae: random crop size for the first part of training")
    p.add_argument("--out", default=None, help="output .safetensors (default: the shipped path under weights/)")
    p.add_argument("--minutes", type=float, default=None, help="time budget (default 20 for vae, 15 for fast-decoder)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="step cap (default 100000; long-decoder: 600, the length of its cosine schedule)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None, help="continue from this checkpoint (of the same kind)")
    p.add_argument("--frames", type=int, default=None, help="pixel frames per training clip (4k + 1)")
    p.add_argument("--clips", type=int, default=None, help="fast-decoder: number of teacher clips")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--vae", default=None, help="fast-decoder: teacher VAE checkpoint (default: shipped)")
    p.add_argument("--gt-weight", type=float, default=None,
                   help="fast-decoder: weight of the ground-truth loss next to the teacher-decode loss (default 0.1)")
    p.add_argument("--reference", action="store_true",
                   help="fast-decoder: condition every frame on the stream's latent frame 0 (the reference image "
                        "latent); an unconditioned --init starts from its own weights with the new inputs zero")
    p.add_argument("--teacher-warmup", default=None,
                   help="fast-decoder: decode the teacher pixels re-primed with this many warm-up latents (as demo "
                        "does) instead of continuously")
    p.add_argument("--pairs", default=None, help="fast-decoder: cache file for the teacher pairs (reused if it matches)")
    p.add_argument("--decoder-only", action="store_true",
                   help="vae: fine-tune only the decoder of --init (encoder and latent normalisation frozen)")
    p.add_argument("--device", default="cpu", help="vae: training device (cpu, cuda)")
    p.add_argument("--mouth-weight", type=float, default=0.0,
                   help="vae: extra reconstruction weight on the mouth region (VAETrainConfig.mouth_box)")
    p.add_argument("--crop-mouth", action="store_true",
                   help="vae: centre the --crop crops on the mouth box (with a little jitter)")
    p.add_argument("--full-size-from", type=float, default=None,
                   help="vae: fraction of the time budget after which training uses whole frames (default 0.75)")
    p.add_argument("--mouth-delta-weight", type=float, default=0.0,
                   help="vae: weight of the mouth-delta loss (--data must be a synthetic world folder: each window is "
                        "rendered spoken and mouth-closed, and the VAE must reproduce their difference)")
    p.add_argument("--pair-bank", type=int, default=0, metavar="WORKERS",
                   help="vae with --mouth-delta-weight: render every clip's pair once up front in WORKERS processes "
                        "(the same windows; for a GPU, where rendering on demand starves training)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)

    b = subparsers.add_parser("bench-vae", help="frames/s and PSNR of the VAE decoder and the fast decoder")
    b.add_argument("--scale", choices=("tiny", "full"), default="tiny",
                   help="tiny: shipped checkpoints; full: Wan2.1-width VAE + fast decoder with random weights")
    b.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: shipped)")
    b.add_argument("--fast", default=None, help="fast decoder checkpoint (default: shipped)")
    b.add_argument("--data", default="toy")
    b.add_argument("--size", type=int, default=64, help="pixel height = width")
    b.add_argument("--latent-frames", type=int, default=21)
    b.add_argument("--block", type=int, default=3, help="latent frames per streamed block")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--clips", type=int, default=8, help="held-out clips for PSNR")
    b.add_argument("--clip-frames", type=int, default=33, help="pixel frames per held-out clip (4k + 1)")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--device", default="cpu")
    b.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    b.add_argument("--json", default=None, help="also write the result to this file")
    b.set_defaults(func=_bench)


def _train(args: argparse.Namespace) -> int:
    if args.what == "vae":
        from livetalk.models.vae_train import VAETrainConfig, train_vae

        cfg = VAETrainConfig(data=args.data, heldout_data=args.heldout_data, init=args.init,
                             minutes=args.minutes or 20.0, max_steps=args.max_steps or VAETrainConfig.max_steps,
                             batch=args.batch, image_steps=args.image_steps, image_batch=args.image_batch,
                             crop=args.crop, threads=args.threads, seed=args.seed, decoder_only=args.decoder_only,
                             mouth_weight=args.mouth_weight, mouth_delta_weight=args.mouth_delta_weight,
                             crop_mouth=args.crop_mouth, device=args.device, pair_bank_workers=args.pair_bank)
        if args.full_size_from is not None:
            cfg.full_size_from = args.full_size_from
        _apply_common(cfg, args)
        train_vae(cfg, log=lambda s: print(s, flush=True))
    elif args.what == "long-decoder":
        from livetalk.models.vae_long_decoder import LongDecoderConfig, train_long_decoder

        if not args.out:
            raise SystemExit("--what long-decoder needs --out (it never overwrites the shipped VAE by default)")
        cfg = LongDecoderConfig(data=args.data, out=args.out, init=args.init, minutes=args.minutes or 30.0,
                                max_steps=args.max_steps or LongDecoderConfig.max_steps, batch=args.batch,
                                threads=args.threads, seed=args.seed)
        if args.clips:
            cfg.clips = args.clips
        _apply_common(cfg, args)
        train_long_decoder(cfg, log=lambda s: print(s, flush=True))
    else:
        from livetalk.models.vae_fast_train import FastDecoderTrainConfig, train_fast_decoder

        cfg = FastDecoderTrainConfig(data=args.data, heldout_data=args.heldout_data, vae=args.vae,
                                     minutes=args.minutes or 15.0,
                                     max_steps=args.max_steps or FastDecoderTrainConfig.max_steps, batch=args.batch,
                                     threads=args.threads, seed=args.seed)
        cfg.init = args.init
        if args.clips:
            cfg.clips = args.clips
        if args.gt_weight is not None:
            cfg.gt_weight = args.gt_weight
        cfg.reference, cfg.pairs = args.reference, args.pairs
        if args.teacher_warmup is not None:
            from livetalk.runtime.commands import decoder_warmup_arg

            cfg.teacher_warmup = decoder_warmup_arg(args.teacher_warmup)
        _apply_common(cfg, args)
        train_fast_decoder(cfg, log=lambda s: print(s, flush=True))
    return 0


def _apply_common(cfg, args: argparse.Namespace) -> None:
    for name in ("out", "frames", "lr"):
        if getattr(args, name, None):
            setattr(cfg, name, getattr(args, name))


def _bench(args: argparse.Namespace) -> int:
    import torch

    from livetalk.models.vae_bench import bench

    res = bench(scale=args.scale, vae_path=args.vae, fast_path=args.fast, data=args.data, size=args.size,
                latent_frames=args.latent_frames, block=args.block, repeats=args.repeats, clips=args.clips,
                clip_frames=args.clip_frames,
                threads=args.threads, device=args.device, dtype=getattr(torch, args.dtype))
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0
