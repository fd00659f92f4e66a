"""The `livetalk` command line.

Each area of the package contributes its sub-commands through a `commands.py` module with a
`register(subparsers)` function (see `_AREAS`); this file only wires them together, so areas can grow
without touching each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define `register(subparsers)`; missing ones are skipped so a partial checkout still runs.
_AREAS = (
    "livetalk.models.commands",
    "livetalk.models.vae_commands",
    "livetalk.runtime.commands",
    "livetalk.data.commands",
    "livetalk.eval.commands",
    "livetalk.distill.commands",
    "livetalk.system.commands",
)


def bench_group(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The `livetalk bench ...` sub-command group, created on first use; areas add `bench NAME` to it."""
    # kept on the parser itself: a registry keyed by id() handed a dead parser's group to a new parser that got
    # the same id after garbage collection ("conflicting subparser: dit")
    group = getattr(subparsers, "_livetalk_bench_group", None)
    if group is None:
        bench = subparsers.add_parser("bench", help="benchmarks (speed, memory); results go to docs/benchmarks.md")
        group = subparsers._livetalk_bench_group = bench.add_subparsers(dest="bench", required=True)
    return group


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livetalk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
