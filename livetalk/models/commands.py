"""CLI: `livetalk checkpoint-info PATH`, `livetalk presets`, `livetalk average-checkpoints --out OUT IN...`,
`livetalk grow-depth IN --out OUT --factor 2 [--preset tiny-deep]`."""

from __future__ import annotations

import json


def _checkpoint_info(args) -> int:
    from .checkpoint import checkpoint_info

    info = checkpoint_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key in ("path", "preset", "tensors", "parameters", "dtypes", "key_hash"):
            print(f"{key:11s} {info[key]}")
        if info.get("error"):
            print(info["error"])
    return 0 if info["preset"] else 1


def _presets(args) -> int:
    from .checkpoint import expected_shapes, preset_hashes
    from .config import PRESETS

    for name, cfg in PRESETS.items():
        shapes = expected_shapes(cfg)
        params = sum(_numel(s) for s in shapes.values())
        print(f"{name:16s} tensors={len(shapes):5d} params={params:>14,d} hash={preset_hashes()[name]}")
    return 0


def _average(args) -> int:
    import torch

    from .checkpoint import average_checkpoints

    meta = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"average-checkpoints: --meta wants KEY=VALUE, got {item!r}")
        meta[key] = value
    out = average_checkpoints(args.paths, args.out, args.weights, dtype=getattr(torch, args.dtype),
                              extra_metadata=meta)
    print(f"averaged {len(args.paths)} checkpoints -> {out} ({args.dtype})")
    return 0


def _grow(args) -> int:
    import torch

    from .checkpoint import load_dit, save_dit
    from .config import get_preset
    from .grow import grow_depth

    src = load_dit(args.path, dtype=torch.float32)
    cfg = get_preset(args.preset) if args.preset else None
    try:
        grown = grow_depth(src, args.factor, cfg=cfg, seed=args.seed)
    except ValueError as e:
        raise SystemExit(f"grow-depth: {e}") from None
    out = save_dit(grown.to(getattr(torch, args.dtype)), args.out,
                   {"source": str(args.path), "grown": f"depth x{args.factor} ({src.cfg.num_layers} -> "
                                                       f"{grown.cfg.num_layers} blocks), new blocks identity"})
    print(f"{args.path} ({src.cfg.name}, {src.cfg.num_layers} blocks) -> {out} ({grown.cfg.name}, "
          f"{grown.cfg.num_layers} blocks; same function)")
    return 0


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def register(sub) -> None:
    p = sub.add_parser("checkpoint-info", help="detected preset, tensor/parameter count, dtype, key hash")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_checkpoint_info)
    p = sub.add_parser("presets", help="list DiT presets with their checkpoint layout hash")
    p.set_defaults(func=_presets)
    p = sub.add_parser("average-checkpoints", help="weight average (model soup) of DiT checkpoints of one layout")
    p.add_argument("paths", nargs="+", help="checkpoints to average (same preset)")
    p.add_argument("--out", required=True, help="output .safetensors")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per checkpoint (default equal)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                   help="dtype of the saved average (rounded once from the fp64 sum; the tiny student ships float16)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="extra safetensors metadata, repeatable (e.g. source=...)")
    p.set_defaults(func=_average)
    p = sub.add_parser("grow-depth", help="a deeper DiT that computes the same function (new blocks are identities)")
    p.add_argument("path", help="source DiT checkpoint")
    p.add_argument("--out", required=True, help="output .safetensors (config in its metadata)")
    p.add_argument("--factor", type=int, default=2, help="depth multiple: block j -> block factor*j")
    p.add_argument("--preset", default="", help="target preset to check against (e.g. tiny-deep for tiny x2)")
    p.add_argument("--seed", type=int, default=0, help="random init of the new blocks' non-output weights")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    p.set_defaults(func=_grow)
