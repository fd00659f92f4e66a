"""Distil the fast streaming decoder from the tiny VAE decoder (CPU-friendly, time-budgeted).

1. Draw `clips` training clips `[T, 3, 64, 64]` from the data source; encode them with the tiny VAE into normalised
   latents `[F, 16, 8, 8]` (window by window past `window` frames, like the DiT data) and decode those with the VAE
   (the teacher) → teacher pixels `[T, 3, 64, 64]`. `teacher_warmup` decodes them re-primed
   (`vae_reprime.decode_reprimed`, first span FIRST_SPAN), as `demo` does, instead of continuously.
   `pairs` caches the three tensors in a file (reused when it exists and matches the config).
2. Train `FastDecoder` on (latents → teacher pixels) with L1 + MSE (+ `gt_weight` × the same loss against the
   ground-truth clip), full-sequence mode (same arithmetic as streaming).
3. Report held-out PSNR against the teacher and against ground truth; save fp16 safetensors.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from livetalk.models.vae_fast_decoder import SPACE_METADATA_KEY, FastDecoder, FastDecoderConfig
from livetalk.models.vae_long_decoder import window_latents
from livetalk.models.vae_metrics import psnr_per_clip
from livetalk.models.vae_reprime import FIRST_SPAN, decode_reprimed
from livetalk.models.vae_tiny import load_tiny_vae
from livetalk.models.vae_toy_data import make_source


@dataclass
class FastDecoderTrainConfig:
    data: str = "toy"
    heldout_data: str | None = None  # held-out clips from here (default: a separate draw from `data`)
    vae: str | None = None  # tiny VAE checkpoint (default: the shipped one)
    out: str = "livetalk/models/weights/tiny_vae_fast_decoder.safetensors"
    init: str | None = None  # continue from this fast-decoder checkpoint (its channels/blocks win)
    channels: tuple[int, int, int, int] = (64, 48, 32, 16)
    blocks: int = 2
    minutes: float = 15.0
    max_steps: int = 100000
    clips: int = 96
    heldout: int = 16
    frames: int = 13
    window: int = 33  # clips longer than this are encoded window by window, like the DiT data (0: whole clip)
    batch: int = 4
    lr: float = 1e-3
    gt_weight: float = 0.1
    threads: int = 1
    seed: int = 0
    log_every: int = 20
    reference: bool = False  # train a reference-conditioned decoder (an unconditioned --init gets zero new weights)
    teacher_warmup: int | None = None  # None: continuous VAE decode as teacher; k: re-primed with k warm-up latents
    pairs: str | None = None  # cache file for the teacher pairs


@torch.no_grad()
def teacher_pairs(vae, source, n: int, frames: int, seed: int, window: int = 0,
                  teacher_warmup: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` clips → (normalised latents `[n, F, 16, h, w]`, teacher pixels `[n, T, 3, H, W]`, ground truth).

    With `window`, clips longer than `window` frames are encoded window by window (`window_latents`: what the DiTs
    are trained on and generate), so a long-clip fine-tune sees the latents the runtime decodes. `teacher_warmup`:
    the teacher decodes re-primed (blocks of 3 latent frames, first span FIRST_SPAN) instead of continuously."""
    g = torch.Generator().manual_seed(seed)
    zs, ys, xs = [], [], []
    for i in range(0, n, 4):
        x = source.sample(min(4, n - i), frames, g)
        z = window_latents(vae, x, window) if window and frames > window else vae.encode(x)
        zs.append(z)
        ys.append(vae.decode(z) if teacher_warmup is None
                  else decode_reprimed(vae.stream_decoder, z, teacher_warmup, first_span=FIRST_SPAN))
        xs.append(x)
    return torch.cat(zs), torch.cat(ys), torch.cat(xs)


@torch.no_grad()
def evaluate(model: FastDecoder, z: torch.Tensor, teacher: torch.Tensor, gt: torch.Tensor) -> dict:
    """Held-out PSNR (dB) of the fast decoder vs the teacher VAE decode and vs ground truth, and teacher vs GT."""
    model.eval()
    y = torch.cat([model.decode(z[i : i + 4]) for i in range(0, z.shape[0], 4)])
    model.train()
    return {"psnr_vs_vae_db": round(psnr_per_clip(y, teacher), 2), "psnr_vs_gt_db": round(psnr_per_clip(y, gt), 2),
            "vae_psnr_vs_gt_db": round(psnr_per_clip(teacher, gt), 2)}


def train_fast_decoder(cfg: FastDecoderTrainConfig, log=print) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    source = make_source(cfg.data, 64)
    vae = load_tiny_vae(cfg.vae)
    t0 = time.time()
    key = {k: getattr(cfg, k) for k in ("data", "heldout_data", "vae", "clips", "heldout", "frames", "window",
                                        "seed", "teacher_warmup")}
    cached = torch.load(cfg.pairs, weights_only=False) if cfg.pairs and Path(cfg.pairs).is_file() else None
    if cached is not None and cached["key"] == key:
        z, teach, gt, hz, hteach, hgt = cached["tensors"]
        log(f"teacher data: {z.shape[0]} + {hz.shape[0]} clips from {cfg.pairs}")
    else:
        z, teach, gt = teacher_pairs(vae, source, cfg.clips, cfg.frames, cfg.seed, cfg.window, cfg.teacher_warmup)
        hsource = make_source(cfg.heldout_data, 64) if cfg.heldout_data else source
        hz, hteach, hgt = teacher_pairs(vae, hsource, cfg.heldout, cfg.frames, 10_000, cfg.window, cfg.teacher_warmup)
        log(f"teacher data: {z.shape[0]} + {hz.shape[0]} clips in {time.time() - t0:.0f}s")
        if cfg.pairs:
            torch.save({"key": key, "tensors": (z, teach, gt, hz, hteach, hgt)}, cfg.pairs)
    if cfg.init:
        model = FastDecoder.from_file(cfg.init).train()
        if cfg.reference and not model.config.reference:
            model = FastDecoder.with_reference(model).train()
        elif model.config.reference and not cfg.reference:
            raise ValueError(f"--init {cfg.init} is reference-conditioned; pass reference=True (--reference)")
    else:
        model = FastDecoder(FastDecoderConfig(channels=tuple(cfg.channels), blocks=cfg.blocks,
                                              reference=cfg.reference)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    budget = cfg.minutes * 60
    step, ema = 0, None
    trim = model.config.time_factor - 1
    while step < cfg.max_steps and time.time() - t0 < budget:
        progress = (time.time() - t0) / budget
        lr = cfg.lr * min(1.0, (step + 1) / 20) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(z.shape[0], (cfg.batch,), generator=g)
        y, _ = model(z[idx])
        y = y[:, trim:]
        loss = (y - teach[idx]).abs().mean() + ((y - teach[idx]) ** 2).mean()
        if cfg.gt_weight:
            loss = loss + cfg.gt_weight * ((y - gt[idx]).abs().mean() + ((y - gt[idx]) ** 2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % cfg.log_every == 0:
            log(f"step {step} t={time.time() - t0:.0f}s loss={ema:.4f} lr={lr:.2e}")
    metrics = evaluate(model, hz, hteach, hgt)
    meta = {"train_config": json.dumps(asdict(cfg)), "steps": str(step), SPACE_METADATA_KEY: vae.latent_space_id(),
            **{k: str(v) for k, v in metrics.items()}}
    model.save_file(cfg.out, meta)
    summary = {"steps": step, "seconds": round(time.time() - t0), **metrics, "out": cfg.out}
    log(json.dumps(summary))
    return summary
