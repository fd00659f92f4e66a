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
    parallel.shutdown()
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="distillation stages: teacher, ode, dmd (torchrun for several processes)")
    p.add_argument("stage", choices=["teacher", "ode", "dmd"])
    p.add_argument("--config", default=None, help="YAML: {recipe: NAME, key: value, ...}")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config fields")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)
