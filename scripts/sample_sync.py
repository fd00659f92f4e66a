"""Do a model's *samples* follow their audio? Sample held-out windows with their own audio and with another
clip's audio, read the mouth from the latents with a ridge read-out fitted on ground truth of the same latent
space (`livetalk.eval.mouth_readout`), and correlate it with the mouth track of the audio that drove it.

    python scripts/sample_sync.py --checkpoint teacher.safetensors --data eval3_a4.pt --world world_eval \
        --fit-data world_a4.pt --fit-world world_train [--role teacher|student] [--audio-stats-from world_a4x.pt]

`condition_use` says whether the audio lowers the loss; this says whether it moves the mouth in what the model
generates. Rows: ground truth (the read-out's ceiling on held-out windows), samples with their own audio
(control: another clip's track), samples with swapped audio (control: the video's own track, which the reference
frame and prompt belong to), and the two pooled per window (the paired statistic `--compare` uses against an earlier
run's JSON on the same windows). `--audio-stats-from` standardises the audio features per channel with that file's
statistics, for checkpoints trained on standardised features (`scripts/audio_standardise.py`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from livetalk.distill.audio_norm import audio_stats, standardise_audio
from livetalk.distill.config import TrainConfig
from livetalk.distill.data import LatentClips
from livetalk.distill.sample_eval import sample_latents
from livetalk.eval import features as feat
from livetalk.eval.latent_probes import window_targets
from livetalk.eval.metrics.stats import mean_sem
from livetalk.eval.mouth_readout import (clip_gains, fit_mouth_readout, follow_scores, latent_frame_targets,
                                         summarise_gains)
from livetalk.eval.probes import STATE_KEYS
from livetalk.models.checkpoint import load_dit
from livetalk.models.vae import pixel_frames, video_to_frames
from livetalk.models.vae_tiny import load_tiny_vae

MOUTH = STATE_KEYS.index("mouth_open")


def mouth_tracks(ids: list[str], world: str, frames: int) -> np.ndarray:
    """Pixel-frame mouth openness `[N, 4(F − 1) + 1]` of latent windows "clip#start" of a world folder."""
    states, _ = window_targets(ids, world, pixel_frames(frames))
    return states[..., MOUTH]


@torch.no_grad()
def sample(model, clips: LatentClips, audio: torch.Tensor, role: str, seed: int, steps: int, cfg: float,
           bs: int = 40) -> torch.Tensor:
    """Latents `[N, F, 16, h, w]` of every window of `clips`, driven by `audio` `[N, F, pack, D]`."""
    out = []
    for i in range(0, len(clips), bs):
        idx = list(range(i, min(i + bs, len(clips))))
        batch = clips.batch(idx)
        batch.audio = audio[idx]
        out.append(sample_latents(model, batch, role, seed + i, teacher_steps=steps, cfg_scale=cfg))
    return torch.cat(out)


class PixelMouthReader:
    """Latents `[N, F, 16, h, w]` → the pixel mouth probe's openness `[N, 4(F − 1) + 1]` of their decode by a tiny
    VAE (`livetalk.eval.features.mouth_openness`): the read-out for a VAE whose pixels keep the mouth (docs/vae.md,
    "A loss on the mouth's own part"), where the latent ridge read-out is weak."""

    def __init__(self, vae_path: str) -> None:
        self.vae = load_tiny_vae(vae_path)

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        return np.stack([feat.mouth_openness(video_to_frames(self.vae.decode(z[None].float())[0])) for z in latents])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="held-out latent file (variant clean)")
    ap.add_argument("--world", required=True, help="world folder of --data (mouth tracks)")
    ap.add_argument("--fit-data", default="", help="ground-truth latent file the read-out is fitted on")
    ap.add_argument("--fit-world", default="", help="world folder of --fit-data")
    ap.add_argument("--pixels", default="", metavar="VAE",
                    help="read the mouth in pixels instead: decode with this tiny VAE (the one the latents came from) "
                         "and apply the pixel mouth probe per pixel frame; no latent read-out is fitted")
    ap.add_argument("--fit-clips", type=int, default=960)
    ap.add_argument("--role", choices=["teacher", "student"], default="teacher")
    ap.add_argument("--steps", type=int, default=48, help="teacher Euler steps")
    ap.add_argument("--cfg", type=float, default=3.0, help="teacher text and audio guidance scale")
    ap.add_argument("--seeds", type=int, default=1, help="noise seeds per window")
    ap.add_argument("--audio-stats-from", default="", help="standardise the audio with this file's statistics")
    ap.add_argument("--samples", default="", help="cache of the sampled latents (fp16): reused if present, else written")
    ap.add_argument("--compare", nargs="*", default=[],
                    help="earlier outputs of this script on the same windows: paired difference of the pooled gain")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ref-video", default="", help="still latent files for a model trained with the still-reference "
                    "cond (`still_baseline.py make` on this data; docs/distillation.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    box = TrainConfig.mouth_box

    clips = LatentClips.load(f"{args.data}:clean").for_checkpoint(args.checkpoint, args.ref_video)
    n, frames = len(clips), clips.latents.shape[1]
    swap = np.roll(np.arange(n), n // 2)  # another clip's audio (half the file away: another identity)
    if args.pixels:  # the pixel probe on decoded frames, against the pixel-frame tracks (no lag: the probe is per frame)
        readout = PixelMouthReader(args.pixels)
        track = mouth_tracks(clips.ids, args.world, frames)
        rows = {"readout": {"pixels": args.pixels}}
    else:
        if not (args.fit_data and args.fit_world):
            raise SystemExit("--fit-data and --fit-world are needed for the latent read-out (or use --pixels VAE)")
        fit = torch.load(args.fit_data, map_location="cpu", weights_only=False)
        n_fit = min(args.fit_clips, len(fit["ids"]))
        fit_lat, fit_ids = fit["latents"][:n_fit].float(), fit["ids"][:n_fit]
        readout = fit_mouth_readout(fit_lat, mouth_tracks(fit_ids, args.fit_world, fit_lat.shape[1]), box)
        track = latent_frame_targets(mouth_tracks(clips.ids, args.world, frames), frames, readout.lag)
        rows = {"readout": {"lag_pixel_frames": readout.lag, "train_corr": round(readout.train_corr, 4),
                            "fit_windows": n_fit}}
    rows["ground truth"] = follow_scores([readout(clips.latents)], track, track[swap])
    audio = clips.audio
    if args.audio_stats_from:
        mean, std = audio_stats(torch.load(args.audio_stats_from, weights_only=False)["audio"])
        audio = standardise_audio(audio, mean, std)
    model = load_dit(args.checkpoint, preset=args.preset, dtype=torch.float32)
    t0 = time.perf_counter()
    cache = torch.load(args.samples, weights_only=False) if args.samples and Path(args.samples).is_file() else {}
    own, swapped = [], []
    for s in range(args.seeds):
        for name, drive, rs in (("own", audio, own), ("swapped", audio[swap], swapped)):
            key = f"{name}/{s}"
            if key not in cache:
                cache[key] = sample(model, clips, drive, args.role, 1000 + 7919 * s, args.steps, args.cfg).half()
            rs.append(readout(cache[key].float()))
    if args.samples:
        torch.save(cache, args.samples)
    own_g, swapped_g = clip_gains(own, track, track[swap]), clip_gains(swapped, track[swap], track)
    rows["samples, own audio"] = summarise_gains(*own_g, seeds=len(own))
    rows["samples, swapped audio"] = summarise_gains(*swapped_g, seeds=len(swapped))
    # both tests per window, averaged: the paired statistic for comparing checkpoints on the same windows
    pooled = (own_g[2] + swapped_g[2]) / 2
    g, sem = mean_sem(pooled)
    rows["pooled gain"] = {"gain": round(g, 4), "gain_sem": round(sem, 4)}
    rows["pooled gain per window"] = [round(float(x), 5) for x in pooled]
    for other in args.compare:
        theirs = np.array(json.load(open(other))["pooled gain per window"])
        if len(theirs) != len(pooled):
            raise ValueError(f"{other} scored {len(theirs)} windows, this run {len(pooled)}")
        g, sem = mean_sem(pooled - theirs)
        rows[f"pooled gain minus {other}"] = {"diff": round(g, 4), "diff_sem": round(sem, 4)}
    rows["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
