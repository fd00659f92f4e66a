"""Where a student's long streams lose quality: PSNR by stretch of the stream, against the ground truth.

    python scripts/stream_drift.py --reference /path/world_eval RUN/long_dmd-livetalk.pt [more files] [--ceiling]
        [--baseline OTHER/long_dmd-livetalk.pt] [--decode-warmup W] [--baseline-warmup W]

Each latent file is what `scripts/tiny_distill.py --only generate-long` writes (`{"latents": [N, F, 16, h, w],
"ids"}`); its streams are decoded with the tiny VAE decoder and scored over pixel frames 0–32 / 33–64 / 65–96 /
97–124 (the first stretch is the training window's length). `--ceiling` adds the ground truth encoded window by
window (what the DiT is trained on) through the same decoder: the most a stream can score in each stretch.
`--baseline FILE` adds, for every file, its PSNR minus the baseline's per stretch, paired over the streams both hold
(mean ± standard error of the per-stream differences).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.eval.paired import paired_differences
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_reprime import FIRST_SPAN, decode_reprimed
from livetalk.models.vae_metrics import psnr
from livetalk.models.vae_tiny import load_tiny_vae

RANGES = [(0, 33), (33, 65), (65, 97), (97, 125)]


@torch.no_grad()
def stretch_psnr(vae, ref: TalkingHeadDataset, latents: torch.Tensor | None, ids: list[str],
                 warmup: int | None = None) -> np.ndarray:
    """PSNR (dB) per stream and stretch `[len(ids), len(RANGES)]`; `latents None` scores the windowed ceiling.
    `warmup`: decode re-primed (`livetalk.models.vae_reprime`, blocks of 3 latent frames, the runtime's first
    span of 9 latent frames); None = continuously."""
    index = {cid: i for i, cid in enumerate(ref.ids())}
    n = RANGES[-1][1]
    rows = []
    for k, wid in enumerate(ids):
        video = frames_to_video(ref[index[wid.split("#")[0]]].frames[:n])  # [1, n, 3, H, W], frame 0 = reference
        z = window_latents(vae, video) if latents is None else latents[k : k + 1].float()
        y = vae.decode(z) if warmup is None else decode_reprimed(vae.stream_decoder, z, warmup, first_span=FIRST_SPAN)
        y = y[:, :n].clamp(-1, 1)
        rows.append([psnr(y[:, a:b], video[:, a:b]) for a, b in RANGES])
    return np.asarray(rows)


def paired_stretches(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-stream PSNR `{stream id: [len(RANGES)]}` of A and B → (mean of A − B, its standard error), each
    `[len(RANGES)]`, over the streams both hold (`livetalk.eval.paired`; standard error 0 for one stream). Raises
    ValueError when they share none."""
    names = [f"{lo}-{hi - 1}" for lo, hi in RANGES]
    as_clips = lambda rows: {k: dict(zip(names, map(float, v))) for k, v in rows.items()}  # noqa: E731
    d = paired_differences(as_clips(a), as_clips(b), tuple(names))
    return np.array([d[m]["diff"] for m in names]), np.array([d[m]["sem"] for m in names])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", help="latent stream files")
    ap.add_argument("--reference", required=True, help="world folder of the streamed clips (≥ 125 frames)")
    ap.add_argument("--ceiling", action="store_true", help="also the ground truth encoded window by window")
    ap.add_argument("--baseline", default=None, help="latent stream file to difference every file against, paired")
    ap.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: the shipped one)")
    ap.add_argument("--decode-warmup", type=int, default=None,
                    help="decode FILES (and the ceiling) re-primed with this many latent frames of warm-up before each "
                         "block (livetalk.models.vae_reprime); default: one continuous decoder")
    ap.add_argument("--baseline-warmup", type=int, default=None, help="the same for --baseline")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    vae, ref = load_tiny_vae(args.vae), TalkingHeadDataset(args.reference)
    print("PSNR dB over pixel frames " + " / ".join(f"{a}-{b - 1}" for a, b in RANGES))
    ids, per_stream = None, {}
    jobs = [(f, args.decode_warmup) for f in args.files]
    if args.baseline and (args.baseline, args.baseline_warmup) not in jobs:
        jobs.append((args.baseline, args.baseline_warmup))
    for f, warmup in jobs:
        d = torch.load(f, weights_only=False)
        rows = stretch_psnr(vae, ref, d["latents"], d["ids"], warmup)
        per_stream[f, warmup] = dict(zip(d["ids"], rows))
        if f in args.files and warmup == args.decode_warmup:
            ids = d["ids"]
            print(f"{f}: " + " / ".join(f"{x:.2f}" for x in rows.mean(0)), flush=True)
    if args.ceiling:
        if ids is None:
            raise SystemExit("--ceiling needs a latent file (for the clip ids)")
        ceiling = stretch_psnr(vae, ref, None, ids, args.decode_warmup).mean(0)
        print("ground truth, window by window: " + " / ".join(f"{x:.2f}" for x in ceiling))
    if args.baseline:
        base = (args.baseline, args.baseline_warmup)
        for f in args.files:
            if (f, args.decode_warmup) != base:
                try:
                    mean, sem = paired_stretches(per_stream[f, args.decode_warmup], per_stream[base])
                except ValueError as e:
                    raise SystemExit(f"stream_drift.py: {f} and {args.baseline} share no stream id ({e})") from None
                print(f"{f} - baseline (paired): " + " / ".join(f"{m:+.2f} ± {s:.2f}" for m, s in zip(mean, sem)))


if __name__ == "__main__":
    main()
