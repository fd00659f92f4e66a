"""Speed and quality of the tiny VAE decoder and of the fast streaming decoder.

Speed: stream-decode `latent_frames` random latent frames `[1, F, 16, h, w]` in blocks of `block` latent frames
(the runtime's pattern), best of `repeats`; frames/s = pixel frames (4·(F − 1) + 1) / seconds; real-time factor
= frames/s ÷ 16 fps. Quality (tiny scale only): held-out clips (`clip_frames` long) from the data source, PSNR (dB, [0, 1] scale) of
VAE reconstruction vs ground truth, and of the fast decoder vs the VAE decode and vs ground truth.
"""

from __future__ import annotations

import time

import torch

from livetalk.models.vae import pixel_frames
from livetalk.models.vae_metrics import psnr_per_clip


def stream_fps(stream_factory, latents: torch.Tensor, block: int, repeats: int) -> float:
    """Best-of-`repeats` pixel frames per second of block-wise streaming decode of `latents` `[1, F, C, h, w]`."""
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            dec = stream_factory()
            t = time.perf_counter()
            n = 0
            for s in range(0, latents.shape[1], block):
                n += dec.decode_block(latents[:, s : s + block]).shape[1]
            best = min(best, time.perf_counter() - t)
    assert n == pixel_frames(latents.shape[1])
    return n / best


def bench(scale: str = "tiny", vae_path: str | None = None, fast_path: str | None = None, data: str = "toy",
          size: int = 64, latent_frames: int = 21, block: int = 3, repeats: int = 3, clips: int = 8,
          clip_frames: int = 33,
          threads: int = 2, device: str = "cpu", dtype: torch.dtype = torch.float32) -> dict:
    """Run the benchmark; `scale="full"` times the full-width Wan2.1 VAE and the full-width fast decoder with
    random weights at `size` (speed only)."""
    torch.set_num_threads(threads)
    if scale == "tiny":
        from livetalk.models.vae_tiny import load_tiny_fast_decoder, load_tiny_vae

        vae = load_tiny_vae(vae_path, device=device, dtype=dtype)
        fast = load_tiny_fast_decoder(fast_path, device=device, dtype=dtype)
    else:
        from livetalk.models.vae import WanVAE
        from livetalk.models.vae_fast_decoder import FULL_FAST_DECODER, FastDecoder

        vae = WanVAE.from_config(device=device, dtype=dtype)
        fast = FastDecoder(FULL_FAST_DECODER).to(device=device, dtype=dtype).eval()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, latent_frames, 16, size // 8, size // 8, generator=g).to(device=device, dtype=dtype)
    out: dict = {"scale": scale, "size": size, "latent_frames": latent_frames, "pixel_frames": pixel_frames(latent_frames),
                 "block": block, "threads": threads, "device": device, "dtype": str(dtype).replace("torch.", "")}
    out["vae_fps"] = round(stream_fps(vae.stream_decoder, z, block, repeats), 1)
    out["fast_fps"] = round(stream_fps(fast.stream_decoder, z, block, repeats), 1)
    out["vae_realtime_x"] = round(out["vae_fps"] / 16, 2)
    out["fast_realtime_x"] = round(out["fast_fps"] / 16, 2)
    if scale == "tiny":
        from livetalk.models.vae_toy_data import make_source

        x = make_source(data, size).sample(clips, clip_frames, torch.Generator().manual_seed(10_000))
        x = x.to(device=device, dtype=dtype)
        with torch.inference_mode():
            zs = torch.cat([vae.encode(x[i : i + 4]) for i in range(0, clips, 4)])
            rec = torch.cat([vae.decode(zs[i : i + 4]) for i in range(0, clips, 4)])
            frec = torch.cat([fast.decode(zs[i : i + 4]) for i in range(0, clips, 4)])
        out["heldout_clips"] = f"{clips} x {clip_frames} frames ({data})"
        out["vae_psnr_vs_gt_db"] = round(psnr_per_clip(rec, x), 2)
        out["fast_psnr_vs_vae_db"] = round(psnr_per_clip(frec, rec), 2)
        out["fast_psnr_vs_gt_db"] = round(psnr_per_clip(frec, x), 2)
    return out
