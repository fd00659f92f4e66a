"""Standardise the audio features of latent files per channel, and fold the map into a DiT checkpoint.

    python scripts/audio_standardise.py --stats-from TRAIN.pt --files TRAIN.pt:TRAIN_an.pt EVAL.pt:EVAL_an.pt \
        [--checkpoint IN.safetensors OUT.safetensors]

The statistics (per-channel mean and std over every window of --stats-from) are written next to each output
file's data under key `audio_standardisation`. The folded checkpoint computes on the standardised files exactly
what IN computed on the raw ones (`livetalk.distill.audio_norm`); training it from there tests how the
parameterisation of the audio input changes what the optimizer learns.
"""

from __future__ import annotations

import argparse

import torch

from livetalk.distill.audio_norm import audio_stats, fold_audio_standardisation, standardise_audio
from livetalk.models.checkpoint import load_dit, save_dit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stats-from", required=True, help="latent file whose audio gives the mean and std")
    ap.add_argument("--files", nargs="+", default=[], metavar="IN:OUT", help="latent files to standardise")
    ap.add_argument("--checkpoint", nargs=2, metavar=("IN", "OUT"), help="DiT checkpoint to fold the map into")
    args = ap.parse_args()
    mean, std = audio_stats(torch.load(args.stats_from, weights_only=False)["audio"])
    print(f"audio mean |μ| {mean.abs().mean():.3f}, std {std.mean():.3f} over {mean.numel()} channels")
    for pair in args.files:
        src, sep, dst = pair.partition(":")
        if not sep or not dst:
            raise SystemExit(f"--files takes IN:OUT pairs, got {pair!r}")
        data = torch.load(src, weights_only=False)
        if "audio_standardisation" in data:
            raise SystemExit(f"{src} is already standardised")
        data["audio"] = standardise_audio(data["audio"], mean, std)
        data["audio_standardisation"] = {"mean": mean, "std": std, "stats_from": args.stats_from}
        torch.save(data, dst)
        print(f"{src} → {dst}")
    if args.checkpoint:
        src, dst = args.checkpoint
        model = fold_audio_standardisation(load_dit(src), mean, std)
        save_dit(model, dst, {"audio_standardisation": f"folded: per-channel stats of {args.stats_from}"})
        print(f"{src} → {dst} (folded)")


if __name__ == "__main__":
    main()
