"""Where the tiny VAE loses quality on long clips: encoder or decoder (numbers in docs/vae.md, "Known limit").

    python scripts/vae_drift.py --data /path/world_eval [--clips 6] [--threads 2] [--vae V] [--fast F]

Prints PSNR over pixel frames 0–32 / 33–64 / 65–96 / 97–124 for (1) the whole clip through the continuous
encoder and decoder, (2) each 33-frame window encoded on its own (like the DiT data) with the latents
concatenated and decoded continuously by the VAE decoder and (3) by the fast decoder; then frames 65–124
through a fresh encoder + decoder, and the continuously encoded late latents through a fresh decoder.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livetalk.data.dataset import TalkingHeadDataset
from livetalk.models.vae import frames_to_video
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_metrics import psnr as _psnr
from livetalk.models.vae_tiny import load_tiny_fast_decoder, load_tiny_vae


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """dB for videos in [-1, 1]; the decoder output `x` is clamped first."""
    return _psnr(x.clamp(-1, 1), y)


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="world folder with 8 s clips (≥ 125 frames)")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vae", default=None, help="tiny VAE checkpoint (default: the shipped one)")
    ap.add_argument("--fast", default=None, help="fast decoder checkpoint (default: the shipped one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    vae, fast = load_tiny_vae(args.vae), load_tiny_fast_decoder(args.fast)
    ref = TalkingHeadDataset(args.data)
    ranges = [(0, 33), (33, 65), (65, 97), (97, 125)]
    rows = {"continuous encode + decode": [], "windowed encode, VAE decoder": [], "windowed encode, fast decoder": []}
    late = {"fresh encode + decode": [], "continuous latents, fresh decoder": []}
    for i in range(args.clips):
        v = frames_to_video(ref[i].frames[:125])  # [1, 125, 3, 64, 64]
        z_cont = vae.encode(v)
        z_win = window_latents(vae, v)  # 32 latents ↔ 125 frames, 33-frame windows (the last one 29)
        for name, y in [("continuous encode + decode", vae.decode(z_cont)),
                        ("windowed encode, VAE decoder", vae.decode(z_win)),
                        ("windowed encode, fast decoder", fast.decode(z_win))]:
            rows[name].append([psnr(y[:, a:b], v[:, a:b]) for a, b in ranges])
        tail = v[:, 64:125]
        late["fresh encode + decode"].append(psnr(vae.decode(vae.encode(tail))[:, 1:], tail[:, 1:]))
        late["continuous latents, fresh decoder"].append(psnr(vae.decode(z_cont[:, 16:])[:, 1:61], v[:, 65:125]))
    for name, r in rows.items():
        print(f"{name:32s}", " / ".join(f"{x:.1f}" for x in np.mean(r, 0)),
              "dB (frames 0-32 / 33-64 / 65-96 / 97-124)")
    for name, r in late.items():
        print(f"frames 65-124, {name:34s} {np.mean(r):.1f} dB")


if __name__ == "__main__":
    main()
