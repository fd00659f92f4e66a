"""Fine-tune the tiny VAE's decoder for long streams: the stream decoded a few latent frames at a time with
gradients, the decoder cache carried between steps detached (truncated back-propagation through time).

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

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .vae import WanStreamDecoder, WanVAE, frames_to_video
from .vae_metrics import psnr
from .vae_tiny import load_tiny_vae
from .vae_train import decoder_parameters, weighted_reconstruction


@dataclass
class LongDecoderConfig:
    data: str  # world folder (manifest.jsonl) with clips of at least `frames` pixel frames
    out: str  # the best held-out EMA decoder is written here; `<out>.resume.pt` holds the resumable state
    init: str | None = None  # VAE to start from (default: the shipped one)
    frames: int = 129  # pixel frames per training clip (1 + (window − 1)·n)
    window: int = 33  # pixel frames per encoded window (the DiT training window)
    clips: int = 256  # training clips: the first `clips` of `data` (encoded once, before training)
    heldout: int = 8  # held-out clips: the last `heldout` of `data`, scored every `eval_every` steps
    grad_latents: int = 3  # latent frames decoded with gradients per step (one DiT block)
    batch: int = 8
    lr: float = 5e-5  # peak; cosine decay to 0 over `max_steps` after `warmup` steps
    warmup: int = 20
    ema: float = 0.99  # EMA of the decoder weights; the EMA decoder is what is scored and saved
    minutes: float = 30.0  # wall-clock cap of this process (a resumed run gets a new one)
    max_steps: int = 600
    stop_at: int = 0  # stop this process at this step (0: at max_steps), leaving the run resumable
    eval_every: int = 50
    threads: int = 2
    seed: int = 0
    log_every: int = 20
    save_every_min: float = 5.0
    resume: bool = True  # continue from `<out>.resume.pt` when it exists


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


def encode_clips(vae: WanVAE, ds, index: list[int], frames: int, window: int,
                 log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips `index` of world dataset `ds` (`TalkingHeadDataset`): (latents `[n, F, C, h, w]`, pixels uint8
    `[n, frames, H, W, 3]`)."""
    lats, pix = [], []
    t0 = time.time()
    with torch.no_grad():
        for j, i in enumerate(index):
            f = ds[i].frames
            if len(f) < frames:
                raise ValueError(f"clip {i} of {ds.root} has {len(f)} frames, {frames} needed")
            pix.append(torch.from_numpy(np.ascontiguousarray(f[:frames])))
            lats.append(window_latents(vae, frames_to_video(f[:frames]), window)[0])
            if (j + 1) % 32 == 0:
                log(f"encoded {j + 1}/{len(index)} clips ({time.time() - t0:.0f} s)")
    return torch.stack(lats), torch.stack(pix)


def _to_video(pix: torch.Tensor) -> torch.Tensor:
    """uint8 `[B, T, H, W, 3]` → float `[B, T, 3, H, W]` in [-1, 1]."""
    return pix.float().div(127.5).sub(1).permute(0, 1, 4, 2, 3)


@torch.no_grad()
def heldout_psnr(vae: WanVAE, lats: torch.Tensor, pix: torch.Tensor, split: int = 33) -> dict:
    """Decode each held-out stream `[n, F, C, h, w]` in one go; PSNR (dB, output clamped) of pixel frames
    [0, split), [split, T) and the whole clip against `pix` `[n, T, H, W, 3]`."""
    y, x = vae.decode(lats).clamp(-1, 1), _to_video(pix)
    db = lambda a, b: round(psnr(y[:, a:b], x[:, a:b]), 3)
    return {"psnr_early": db(0, split), "psnr_late": db(split, None), "psnr": db(0, None)}


def _detached(dec: WanStreamDecoder) -> WanStreamDecoder:
    dec._feat_map = [c.detach() if isinstance(c, torch.Tensor) else c for c in dec._feat_map]
    return dec


def train_long_decoder(cfg: LongDecoderConfig, log=print) -> dict:
    """Fine-tune the decoder of `cfg.init`; write the best EMA decoder by held-out PSNR to `cfg.out` (same format as
    the shipped VAE); return a summary.

    Rolling truncated BPTT: a batch of `batch` clips is decoded as one stream, `grad_latents` latent frames per
    step; the decoder cache is carried from step to step, detached, so a step costs one span whatever its position
    and the batch sees every position of the clip in turn. When the clips end, the next batch starts from frame 0.
    Every `eval_every` steps the EMA decoder decodes the held-out clips whole (`heldout_psnr`). A run killed
    mid-way continues from `<out>.resume.pt` (weights, EMA, optimiser, RNG, stream position and decoder cache),
    so it ends with the same weights as an uninterrupted run.
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    vae = load_tiny_vae(cfg.init)
    vae.model.requires_grad_(False)
    params = decoder_parameters(vae)
    for p in params:
        p.requires_grad_(True)
    ema_vae = copy.deepcopy(vae).eval()
    ema_params = decoder_parameters(ema_vae)
    from ..data.dataset import TalkingHeadDataset

    ds = TalkingHeadDataset(cfg.data, load_tracks=False)
    n_data = len(ds)
    if n_data < cfg.clips + cfg.heldout:
        raise ValueError(f"{cfg.data} holds {n_data} clips; {cfg.clips} training + {cfg.heldout} held-out needed")
    lats, pix = encode_clips(vae, ds, list(range(cfg.clips)), cfg.frames, cfg.window, log)
    held = encode_clips(vae, ds, list(range(n_data - cfg.heldout, n_data)), cfg.frames, cfg.window, log)
    n_lat = lats.shape[1]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.warmup, cfg.max_steps))
    g = torch.Generator().manual_seed(cfg.seed)
    state = {"step": 0, "pos": n_lat, "idx": None, "loss_ema": None, "best": None, "history": []}
    dec = WanStreamDecoder(vae, clamp=False)
    resume = Path(str(cfg.out) + ".resume.pt")
    if cfg.resume and resume.exists():
        ck = torch.load(resume, weights_only=False)
        vae.model.load_state_dict(ck["vae"])
        ema_vae.model.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        g.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        dec._feat_map, dec.frames_in = ck["feat_map"], ck["frames_in"]
        state = ck["state"]
        log(json.dumps({"resumed": str(resume), "step": state["step"]}))
    else:
        state["history"].append({"step": 0, **heldout_psnr(ema_vae, *held)})
        log(json.dumps(state["history"][-1]))
    vae.train()
    t0 = last_save = time.time()
    stop = min(cfg.stop_at or cfg.max_steps, cfg.max_steps)

    def save_resume() -> None:
        torch.save({"vae": vae.model.state_dict(), "ema": ema_vae.model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                    "feat_map": dec._feat_map, "frames_in": dec.frames_in, "state": state}, resume)

    while state["step"] < stop and time.time() - t0 < cfg.minutes * 60:
        if state["pos"] + cfg.grad_latents > n_lat:  # new clips, new streams
            state["idx"], state["pos"] = torch.randperm(len(lats), generator=g)[: cfg.batch], 0
            dec = WanStreamDecoder(vae, clamp=False)
        pos, idx = state["pos"], state["idx"]
        a, b = pixel_span(pos, cfg.grad_latents)
        y = dec.decode_block(lats[idx, pos : pos + cfg.grad_latents])
        loss = weighted_reconstruction(y, _to_video(pix[idx, a:b]), None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - cfg.ema)
        _detached(dec)
        state["pos"] = pos + cfg.grad_latents
        v = loss.item()
        state["loss_ema"] = v if state["loss_ema"] is None else 0.95 * state["loss_ema"] + 0.05 * v
        state["step"] += 1
        step = state["step"]
        if step % cfg.log_every == 0:
            log(json.dumps({"step": step, "t": round(time.time() - t0), "loss_ema": round(state["loss_ema"], 5),
                            "lr": sched.get_last_lr()[0]}))
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            state["history"].append({"step": step, **heldout_psnr(ema_vae, *held)})
            log(json.dumps(state["history"][-1]))
            if state["best"] is None or state["history"][-1]["psnr"] > state["best"]["psnr"]:
                state["best"] = state["history"][-1]
                _save(ema_vae, cfg, cfg.out, state)
        if time.time() - last_save > cfg.save_every_min * 60:
            save_resume()
            last_save = time.time()
    if state["step"] < cfg.max_steps:
        save_resume()  # stopped by the time budget or `stop_at`: continue with the same command
    elif resume.exists():
        resume.unlink()  # finished: nothing left to resume
    summary = {"steps": state["step"], "seconds": round(time.time() - t0), "out": cfg.out,
               "loss_ema": state["loss_ema"], "best": state["best"], "start": state["history"][0]}
    log(json.dumps(summary))
    return summary


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _save(vae: WanVAE, cfg: LongDecoderConfig, path: str, state: dict) -> None:
    meta = {"long_decoder": json.dumps({**asdict(cfg), "steps": state["step"], "heldout": state["best"]})}
    vae.save_file(path, extra_metadata=meta, storage_dtype=torch.float16)
