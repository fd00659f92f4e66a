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
    g = sub.add_parser("grid", help="write a PNG grid of identity reference frames (to look at the world)")
    g.add_argument("--out", required=True, help="output .png path")
    g.add_argument("--n", type=int, default=48, help="number of identities (seeds seed … seed+n−1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--size", type=int, default=64, help="frame size in pixels")
    g.add_argument("--cols", type=int, default=8)
    g.set_defaults(func=_grid)


def _synth(args: argparse.Namespace) -> int:
    from .clip import ClipConfig
    from .motion import MOTIONS
    from .synth import synth_dataset

    if args.motion is not None and args.motion not in MOTIONS:
        raise SystemExit(f"--motion must be one of {', '.join(MOTIONS)}")
    try:
        cfg = ClipConfig(duration_s=args.duration, size=args.size, motion=args.motion, listen_prob=args.listen_prob)
        cfg.n_frames()
        if args.n < 1 or args.seed < 0:
            raise ValueError("--n must be >= 1 and --seed >= 0")
    except ValueError as err:
        raise SystemExit(f"livetalk data synth: {err}") from err
    st = synth_dataset(args.out, args.n, cfg, args.seed, args.workers)
    print(f"wrote {st.clips} clips ({st.frames} frames) to {args.out} in {st.wall_s:.2f}s: "
          f"{st.clips_per_s:.2f} clips/s, {st.frames_per_s:.0f} frames/s, {st.realtime_factor:.1f}x real time")
    return 0


def _grid(args: argparse.Namespace) -> int:
    import numpy as np

    from .identity import sample_identity
    from .media import write_png
    from .render import render_reference

    if args.n < 1 or args.cols < 1:
        raise SystemExit("--n and --cols must be >= 1")
    tiles = [render_reference(sample_identity(args.seed + i), args.size) for i in range(args.n)]
    rows = -(-args.n // args.cols)
    tiles += [np.zeros_like(tiles[0])] * (rows * args.cols - args.n)
    grid = np.stack(tiles).reshape(rows, args.cols, args.size, args.size, 3)
    write_png(args.out, grid.transpose(0, 2, 1, 3, 4).reshape(rows * args.size, args.cols * args.size, 3))
    print(f"wrote {args.out}")
    return 0
