"""CLI: `livetalk checkpoint-info PATH`, `livetalk presets`, `livetalk average-checkpoints --out OUT IN...`."""

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
