"""The model of a running (or killed) stage's `last.pt` as a safetensors checkpoint, to score it mid-run.

    python scripts/snapshot.py RUN_DIR/teacher OUT.safetensors [--module model]

Prints the step it holds. The weights are as trained: a teacher run with `audio_standardise` is in standardised
coordinates here (score it on standardised files), unlike its exported `teacher.safetensors`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from livetalk.distill.trainer import CHECKPOINT
from livetalk.models.checkpoint import save_dit
from livetalk.models.dit import build_dit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("out")
    ap.add_argument("--module", default="model", help="teacher: model; ode: student; dmd: student / fake")
    args = ap.parse_args()
    state = torch.load(Path(args.run_dir) / CHECKPOINT, map_location="cpu", weights_only=False)
    models = state["stage"]["models"]
    if args.module not in models:
        raise SystemExit(f"{CHECKPOINT} holds {sorted(models)}, not {args.module!r}")
    model = build_dit(state["config"]["preset"], seed=0)
    model.load_state_dict(models[args.module])
    save_dit(model, args.out, {"step": str(state["step"]), "source": str(args.run_dir)})
    print(state["step"])


if __name__ == "__main__":
    main()
