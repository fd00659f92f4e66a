"""`livetalk data …` sub-commands."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="synthetic talking-head world")
    sub = data.add_subparsers(dest="data_command", required=True)
    p = sub.add_parser("synth", help="write a synthetic dataset folder (manifest.jsonl + clips/)")
    p.add_argument("--n", type=int, required=True, help="number of clips")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="first clip seed (clip i uses seed+i)")
    p.add_argument("--duration", type=float, default=4.0, help="clip length in seconds (16 fps)")
    p.add_argument("--size", type=int, default=64, help="frame size in pixels (square)")
    p.add_argument("--motion", default=None, help="force one motion label for all clips")
    p.add_argument("--listen-prob", type=float, default=0.25, help="chance of a long listening gap")
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    from .clip import ClipConfig
    from .motion import MOTIONS
    from .synth import synth_dataset

    if args.motion is not None and args.motion not in MOTIONS:
        raise SystemExit(f"--motion must be one of {', '.join(MOTIONS)}")
    cfg = ClipConfig(duration_s=args.duration, size=args.size, motion=args.motion, listen_prob=args.listen_prob)
    st = synth_dataset(args.out, args.n, cfg, args.seed, args.workers)
    print(f"wrote {st.clips} clips ({st.frames} frames) to {args.out} in {st.wall_s:.2f}s: "
          f"{st.clips_per_s:.2f} clips/s, {st.frames_per_s:.0f} frames/s, {st.realtime_factor:.1f}x real time")
    return 0
