"""Does a checkpoint use its audio and text? Held-out flow loss with true, another clip's and removed conditions
(`livetalk.distill.diagnostics.condition_use`):

    python scripts/condition_use.py --data /path/eval.pt [--checkpoint livetalk/models/weights/tiny_teacher.safetensors]
"""

from __future__ import annotations

import argparse
import json

import torch

from livetalk.distill.config import TrainConfig
from livetalk.distill.data import LatentClips
from livetalk.distill.diagnostics import condition_use
from livetalk.models.checkpoint import load_dit
from livetalk.runtime.tiny import WEIGHTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="latent file (scripts/prep_split.py), variant 'clean' is used")
    ap.add_argument("--checkpoint", default=str(WEIGHTS / "tiny_teacher.safetensors"))
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--box", type=float, nargs=4, default=list(TrainConfig.mouth_box),
                    metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"), help="latent box also scored alone (the mouth)")
    ap.add_argument("--causal", action="store_true", help="a block-causal student (3-frame blocks)")
    ap.add_argument("--ref-video", default="", help="still latent files for a model trained with the still-reference "
                    "cond (`still_baseline.py make` on this data; docs/distillation.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clips = LatentClips.load(f"{args.data}:clean").for_checkpoint(args.checkpoint, args.ref_video)
    batch = clips.batch(list(range(min(args.clips, len(clips)))))
    model = load_dit(args.checkpoint, preset=args.preset, dtype=torch.float32)
    print(json.dumps(condition_use(model, batch, box=tuple(args.box), causal_block=3 if args.causal else None),
                     indent=2))


if __name__ == "__main__":
    main()
