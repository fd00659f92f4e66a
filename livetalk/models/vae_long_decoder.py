"""Fine-tune the tiny VAE's decoder for long streams: a detached cache prefix of random length, then a short span
decoded with gradients (truncated back-propagation through time).

Why: a causal Wan decoder trained on clips of T frames holds its quality for about T frames (`docs/vae.md`,
"Known limit"). Its per-conv caches then hold states it never saw in training. Training on whole long clips is
slow and noisy on a CPU (batch 1). Here a batch of clips is decoded as one stream, a few latent frames per step
with gradients, the decoder cache carried from step to step detached (`train_long_decoder`), so a step costs one
short span at any position of a long stream. `decode_after_prefix` is the same cut for a single span (a detached
prefix leaves the values unchanged: tested). The encoder and the latent normalisation stay frozen, so the latent
space (and every DiT trained on it) stays valid.

The latents are what the DiTs produce and are trained on: each `window`-frame window of a clip encoded on its
own (its first latent is an image latent), windows overlapping by one pixel frame, the first latent of every
later window dropped (`window_latents`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .vae import WanStreamDecoder, WanVAE, frames_to_video
from .vae_tiny import load_tiny_vae
from .vae_train import decoder_parameters, weighted_reconstruction


@dataclass
class LongDecoderConfig:
    data: str  # world folder (manifest.jsonl) with clips of at least `frames` pixel frames
    out: str
    init: str | None = None  # VAE to start from (default: the shipped one)
    frames: int = 129  # pixel frames per training clip (1 + (window − 1)·n)
    window: int = 33  # pixel frames per encoded window (the DiT training window)
    clips: int = 256  # training clips (encoded once, before training)
    grad_latents: int = 3  # latent frames decoded with gradients per step (one DiT block)
    batch: int = 8
    lr: float = 5e-5
    minutes: float = 30.0
    max_steps: int = 100000
    threads: int = 2
    seed: int = 0
    log_every: int = 20
    save_every_min: float = 5.0


def window_latents(vae: WanVAE, video: torch.Tensor, window: int = 33) -> torch.Tensor:
    """Video `[B, T, 3, H, W]` (T = 4k + 1) → latents `[B, k + 1, C, h, w]`, encoded window by window.

    Windows start every `window − 1` frames (they share one frame); the last one may be shorter. Each is
    encoded on its own, and the first latent of every later window (an image latent) is dropped.
    """
    step, t = window - 1, video.shape[1]
    if (t - 1) % 4 or step % 4:
        raise ValueError(f"{t} frames do not split into {window}-frame windows of 4k + 1 frames")
    zs = [vae.encode(video[:, s : s + window]) for s in range(0, max(t - 1, 1), step)]
    return torch.cat([zs[0]] + [z[:, 1:] for z in zs[1:]], 1)


def pixel_span(start: int, n: int) -> tuple[int, int]:
    """Pixel frames [a, b) decoded from latent frames [start, start + n) of a stream."""
    a = 0 if start == 0 else 1 + 4 * (start - 1)
    return a, 1 + 4 * (start + n - 1)


def decode_after_prefix(vae: WanVAE, latents: torch.Tensor, start: int, n: int) -> torch.Tensor:
    """Decode latents [start, start + n) `[B, F, C, h, w]` as a stream that already decoded [0, start).

    The prefix runs without gradients (its cache is a constant); the span keeps them. Returns pixels
    `[B, frames, 3, H, W]` (unclamped) for `pixel_span(start, n)`.
    """
    dec = WanStreamDecoder(vae, clamp=False)
    if start:
        with torch.no_grad():
            dec.decode_block(latents[:, :start])
        _detached(dec)
    return dec.decode_block(latents[:, start : start + n])


def encode_clips(vae: WanVAE, data: str, n: int, frames: int, window: int,
                 log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` clips of world folder `data`: (latents `[n, F, C, h, w]`, pixels uint8 `[n, frames, H, W, 3]`)."""
    from ..data.dataset import TalkingHeadDataset

    ds = TalkingHeadDataset(data, load_tracks=False)
    if len(ds) < n:
        raise ValueError(f"{data} holds {len(ds)} clips, {n} asked for")
    lats, pix = [], []
    t0 = time.time()
    with torch.no_grad():
        for i in range(n):
            f = ds[i].frames
            if len(f) < frames:
                raise ValueError(f"clip {i} of {data} has {len(f)} frames, {frames} needed")
            pix.append(torch.from_numpy(np.ascontiguousarray(f[:frames])))
            lats.append(window_latents(vae, frames_to_video(f[:frames]), window)[0])
            if (i + 1) % 32 == 0:
                log(f"encoded {i + 1}/{n} clips ({time.time() - t0:.0f} s)")
    return torch.stack(lats), torch.stack(pix)


def _detached(dec: WanStreamDecoder) -> WanStreamDecoder:
    dec._feat_map = [c.detach() if isinstance(c, torch.Tensor) else c for c in dec._feat_map]
    return dec


def train_long_decoder(cfg: LongDecoderConfig, log=print) -> dict:
    """Fine-tune the decoder of `cfg.init`; write `cfg.out` (same format as the shipped VAE); return a summary.

    Rolling truncated BPTT: a batch of `batch` clips is decoded as one stream, `grad_latents` latent frames per
    step; the decoder cache is carried from step to step, detached, so a step costs one span whatever its position
    and the batch sees every position of the clip in turn. When the clips end, the next batch starts from frame 0.
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    vae = load_tiny_vae(cfg.init)
    vae.model.requires_grad_(False)
    params = decoder_parameters(vae)
    for p in params:
        p.requires_grad_(True)
    lats, pix = encode_clips(vae, cfg.data, cfg.clips, cfg.frames, cfg.window, log)
    n_lat = lats.shape[1]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(cfg.seed)
    vae.train()
    t0 = last_save = time.time()
    step, ema, pos, dec, idx = 0, None, n_lat, None, None
    while step < cfg.max_steps and time.time() - t0 < cfg.minutes * 60:
        if pos + cfg.grad_latents > n_lat:  # new clips, new streams
            idx, pos, dec = torch.randperm(len(lats), generator=g)[: cfg.batch], 0, WanStreamDecoder(vae, clamp=False)
        a, b = pixel_span(pos, cfg.grad_latents)
        y = dec.decode_block(lats[idx, pos : pos + cfg.grad_latents])
        x = pix[idx, a:b].float().div(127.5).sub(1).permute(0, 1, 4, 2, 3)  # [B, frames, 3, H, W]
        loss = weighted_reconstruction(y, x, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        _detached(dec)
        pos += cfg.grad_latents
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % cfg.log_every == 0:
            log(json.dumps({"step": step, "t": round(time.time() - t0), "loss_ema": round(ema, 5)}))
        if time.time() - last_save > cfg.save_every_min * 60:
            _save(vae, cfg, cfg.out, step)
            last_save = time.time()
    _save(vae, cfg, cfg.out, step)
    summary = {"steps": step, "seconds": round(time.time() - t0), "out": cfg.out, "loss_ema": ema}
    log(json.dumps(summary))
    return summary


def _save(vae: WanVAE, cfg: LongDecoderConfig, path: str, step: int) -> None:
    vae.eval()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = {"long_decoder": json.dumps({**asdict(cfg), "steps": step})}
    vae.save_file(path, extra_metadata=meta, storage_dtype=torch.float16)
    vae.train()
