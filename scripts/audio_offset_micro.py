"""The micro control of docs/results.md (session 7): does an offset in the audio features keep the audio path
from being learnt, and does standardising them fix it?

    python scripts/audio_offset_micro.py scratch [--steps 1500]     # from scratch, offset × signal direction
    python scripts/audio_offset_micro.py continue                    # deaf pretrain, then raw / fold / fresh

Clips of `livetalk.distill.audio_control` (micro preset, lr 2e-3, batch 8); prints the held-out mouth gap (loss
with another clip's audio − with the true audio) by step, one thread, about 15 min in all on one core.
"""

from __future__ import annotations

import argparse
import copy

import torch

from livetalk.distill.audio_control import audio_driven_batch, train_control
from livetalk.distill.audio_norm import audio_stats, fold_audio_standardisation, standardise_audio
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

CFG = get_preset("micro")
LR = 2e-3
OFFSET, SPREAD = -0.63, 0.34  # the tiny log-mel features' mean and spread on the training world


def _print(name: str, scores: list[dict]) -> None:
    gaps = " ".join(f"{s['step']}:{s['other'] - s['true']:+.3f}" for s in scores)
    print(f"{name:55s} gap by step {gaps} | loss (true audio) {scores[-1]['true']:.3f}", flush=True)


def scratch(steps: int) -> None:
    for offset, spread, signal, kw in [(0.0, 1.0, "mean", {}), (0.0, SPREAD, "mean", {}),
                                       (OFFSET, SPREAD, "mean", {}), (OFFSET, SPREAD, "mean", {"p_drop_audio": 0.0}),
                                       (0.0, SPREAD, "diff", {}), (OFFSET, SPREAD, "diff", {})]:
        def batches(g, o=offset, s=spread, sig=signal):
            return audio_driven_batch(CFG, 8, g, offset=o, spread=s, signal=sig)

        torch.manual_seed(0)
        scores = train_control(build_dit(CFG, seed=0), batches, steps, LR, torch.Generator().manual_seed(1),
                               held_out=audio_driven_batch(CFG, 16, torch.Generator().manual_seed(99), offset=offset,
                                                           spread=spread, signal=signal), every=300, **kw)
        _print(f"offset {offset:+.2f} spread {spread} signal {signal} {kw or ''}", scores)


def resume_arms() -> None:
    def raw(g):
        return audio_driven_batch(CFG, 8, g, offset=OFFSET, spread=SPREAD)

    held_raw = audio_driven_batch(CFG, 16, torch.Generator().manual_seed(99), offset=OFFSET, spread=SPREAD)
    torch.manual_seed(0)
    base = build_dit(CFG, seed=0)
    _print("pretrain on offset features", train_control(base, raw, 600, LR, torch.Generator().manual_seed(1),
                                                        held_out=held_raw, every=150))
    stats = audio_stats(audio_driven_batch(CFG, 256, torch.Generator().manual_seed(5), offset=OFFSET,
                                           spread=SPREAD).audio)

    def std(b):
        b.audio = standardise_audio(b.audio, *stats)
        return b

    for arm in ("raw", "fold", "fresh"):
        model = copy.deepcopy(base)
        if arm != "raw":
            fold_audio_standardisation(model, *stats)
        if arm == "fresh":  # a new AudioPack Linear, and no injection into the blocks until it is learnt
            with torch.no_grad():
                torch.nn.init.xavier_uniform_(model.audio_proj.proj.weight)
                model.audio_proj.proj.bias.zero_()
                for proj in model.audio_cond_projs:
                    proj.weight.zero_()
                    proj.bias.zero_()
        batches = raw if arm == "raw" else (lambda g: std(raw(g)))
        held = held_raw if arm == "raw" else std(copy.deepcopy(held_raw))
        _print(f"continued: {arm}", train_control(model, batches, 900, LR, torch.Generator().manual_seed(2),
                                                  held_out=held, every=150))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["scratch", "continue"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scratch(args.steps) if args.what == "scratch" else resume_arms()


if __name__ == "__main__":
    main()
