"""Train the tiny VAE on 64×64, 16 fps clips (CPU-friendly, time-budgeted).

Loss per step on a batch of clips `[B, T, 3, H, W]` (T = 4k + 1):
    L1(x̂, x) + MSE(x̂, x) + kl_weight · KL(q(z|x) ‖ N(0, 1))  (element mean)
    [+ mouth_delta_weight · ‖(x̂_spoken − x̂_closed) − (x_spoken − x_closed)‖² / ‖x_spoken − x_closed‖²]
with x̂ decoded from a reparameterised sample of the posterior. After training, the per-channel mean/std of the
posterior mean over `stat_clips` training clips become the latent normalisation stored in the checkpoint, and the
held-out reconstruction PSNR (encode → normalised latents → decode) goes into the checkpoint metadata.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from livetalk.models.vae import WanVAE
from livetalk.models.vae_metrics import psnr_per_clip
from livetalk.models.vae_mouth_pairs import WorldPairBank, WorldPairSource, mouth_delta_loss
from livetalk.models.vae_tiny import build_tiny_vae, load_tiny_vae
from livetalk.models.vae_toy_data import make_source


@dataclass
class VAETrainConfig:
    data: str = "toy"  # "toy", a folder with manifest.jsonl, or a mixture "DIR*3+toy" (see make_source)
    heldout_data: str | None = None  # held-out clips from here (default: a separate draw from `data`)
    out: str = "livetalk/models/weights/tiny_vae.safetensors"
    init: str | None = None  # continue from this checkpoint
    minutes: float = 20.0
    max_steps: int = 100000
    batch: int = 4
    frames: int = 9
    image_steps: int = 2  # out of every (image_steps + 1) steps, this many train on single frames (T = 1) ...
    image_batch: int = 16  # ... with this batch size (cheap: spatial compression is most of the quality)
    size: int = 64
    crop: int = 32  # train on random crops of this size (cheaper), ...
    full_size_from: float = 0.75  # ... then on whole frames for the last part of the time budget
    crop_mouth: bool = False  # centre the crops on `mouth_box` (± crop/8 jitter) instead of drawing them anywhere:
    # every crop then holds the whole mouth, so the mouth terms get all of the (cheaper) crop steps
    lr: float = 4e-4
    kl_weight: float = 1e-5
    threads: int = 1
    device: str = "cpu"  # training device ("cuda" on a GPU); data are drawn on the CPU and moved per step
    seed: int = 0
    stat_clips: int = 32
    heldout_clips: int = 16
    log_every: int = 20
    save_every_min: float = 5.0
    mouth_weight: float = 0.0  # extra reconstruction weight inside `mouth_box` (0 = plain loss): the mouth is ~7 %
    # of a world frame, so a plain loss lets the latents drop it (lip sync then cannot be learned from them)
    mouth_box: tuple[float, float, float, float] = (0.52, 0.75, 0.30, 0.70)  # top, bottom, left, right (fractions)
    mouth_delta_weight: float = 0.0  # weight of `mouth_delta_loss` (0 = off): `data` must then be a world folder,
    # whose clips are rendered twice (spoken and mouth closed) so the VAE is asked to reproduce the mouth's own part
    pair_bank_workers: int = 0  # > 0: render every pair clip once up front in this many processes (`WorldPairBank`;
    # the same windows, faster per step: for a GPU) instead of rendering each window on demand
    decoder_only: bool = False  # freeze the encoder and the latent normalisation of `init` (keeps its latent space,
    # so latents already encoded with `init` stay valid: fine-tune the decoder while the DiTs train on them)


def _lr_at(cfg: VAETrainConfig, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / 30)
    decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, (progress - 0.6) / 0.4))))
    return cfg.lr * warm * decay


@torch.no_grad()
def latent_stats(vae: WanVAE, source, n_clips: int, frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std `[z_dim]` of the raw posterior mean over `n_clips` clips."""
    g = torch.Generator().manual_seed(seed)
    mus = []
    for i in range(0, n_clips, 4):
        x = source.sample(min(4, n_clips - i), frames, g)
        mu, _ = vae.encode_moments(x.to(vae.device))
        mus.append(mu.transpose(0, 2).reshape(vae.z_dim, -1))  # [B, F, C, h, w] -> [C, F, B, h, w] -> [C, N]
    m = torch.cat(mus, 1)
    return m.mean(1), m.std(1).clamp(min=1e-4)


@torch.no_grad()
def heldout_psnr(vae: WanVAE, clips: torch.Tensor) -> float:
    """Mean per-clip PSNR (dB) of encode → decode on `clips` `[B, T, 3, H, W]`."""
    recs = [vae.decode(vae.encode(clips[i : i + 4].to(vae.device))).cpu() for i in range(0, clips.shape[0], 4)]
    return psnr_per_clip(torch.cat(recs), clips)


def heldout_clips(source, n: int, frames: int) -> torch.Tensor:
    """A fixed held-out set (seed 10_000, disjoint stream from training)."""
    return source.sample(n, frames, torch.Generator().manual_seed(10_000))


def _save(vae: WanVAE, cfg: VAETrainConfig, source, path: str, extra: dict) -> float:
    vae.eval()
    if not cfg.decoder_only:
        mean, std = latent_stats(vae, source, cfg.stat_clips, cfg.frames, cfg.seed + 1)
        vae.set_latent_stats(mean, std)
    hsource = make_source(cfg.heldout_data, cfg.size) if cfg.heldout_data else source
    p = heldout_psnr(vae, heldout_clips(hsource, cfg.heldout_clips, cfg.frames))
    meta = {"train_config": json.dumps(asdict(cfg)), "heldout_psnr_db": f"{p:.3f}", **{k: str(v) for k, v in extra.items()}}
    vae.save_file(path, meta, storage_dtype=torch.float16)
    vae.train()
    return p


def decoder_parameters(vae: WanVAE) -> list[torch.nn.Parameter]:
    """The parameters that act after the latent: `post_quant_conv` and the decoder."""
    return list(vae.model.post_quant_conv.parameters()) + list(vae.model.decoder.parameters())


def region_weights(size: int | tuple[int, int], box: tuple[float, float, float, float], weight: float) -> torch.Tensor:
    """Per-position loss weights `[H, W]` (`size` = H = W, or `(H, W)`): 1 everywhere, 1 + weight inside the box
    (fractions of the frame: top, bottom, left, right; the world's mouth spans rows 34–46 and columns 20–43 of 64).
    Works on pixel grids and on latent grids alike (the tiny 8×8 latent: rows 4–5, columns 2–5)."""
    h, w_ = (size, size) if isinstance(size, int) else size
    top, bottom = round(box[0] * h), round(box[1] * h)
    left, right = round(box[2] * w_), round(box[3] * w_)
    w = torch.ones(h, w_)
    w[top:bottom, left:right] += weight
    return w


def mouth_crop_corner(cfg: VAETrainConfig, g: torch.Generator) -> tuple[int, int]:
    """Top-left (row, column) of a `cfg.crop` square centred on `cfg.mouth_box`, jittered by up to ±crop/8 pixels
    and kept inside the frame."""
    top, bottom, left, right = cfg.mouth_box
    jit = max(1, cfg.crop // 8)
    di, dj = (int(v) - jit for v in torch.randint(2 * jit + 1, (2,), generator=g))
    i = round((top + bottom) / 2 * cfg.size - cfg.crop / 2) + di
    j = round((left + right) / 2 * cfg.size - cfg.crop / 2) + dj
    hi = cfg.size - cfg.crop
    return min(max(i, 0), hi), min(max(j, 0), hi)


def weighted_reconstruction(y: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """L1 + L2 of `y − x` `[B, T, 3, H, W]`, averaged with per-pixel weights `w` `[H, W]` (plain mean if None)."""
    err = (y - x).abs() + (y - x) ** 2
    if w is None:
        return err.mean()
    return (err * w).mean() / w.mean()


def train_vae(cfg: VAETrainConfig, log=print) -> dict:
    """Run training for `cfg.minutes` (or `cfg.max_steps`); write the checkpoint to `cfg.out`; return a summary."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if cfg.decoder_only and not cfg.init:
        raise ValueError("decoder_only fine-tunes the decoder of an existing VAE: pass init")
    pairs = cfg.mouth_delta_weight > 0
    if pairs:
        source = WorldPairBank(cfg.data, cfg.size, workers=cfg.pair_bank_workers) if cfg.pair_bank_workers else WorldPairSource(cfg.data, cfg.size)
    else:
        source = make_source(cfg.data, cfg.size)
    vae = load_tiny_vae(cfg.init, device=cfg.device) if cfg.init else build_tiny_vae(device=cfg.device)
    vae.train()
    trainable = decoder_parameters(vae) if cfg.decoder_only else list(vae.parameters())
    if cfg.decoder_only:
        vae.model.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(cfg.seed)
    wmap = region_weights(cfg.size, cfg.mouth_box, cfg.mouth_weight).to(cfg.device) if cfg.mouth_weight else None
    t0 = last_save = time.time()
    budget = cfg.minutes * 60
    step, ema, mouth_ema = 0, None, None
    while step < cfg.max_steps and time.time() - t0 < budget:
        progress = (time.time() - t0) / budget
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step, progress)
        n, t = (cfg.image_batch, 1) if step % (cfg.image_steps + 1) < cfg.image_steps else (cfg.batch, cfg.frames)
        x = torch.cat(source.sample_pairs(n, t, g)) if pairs else source.sample(n, t, g)  # pairs: spoken, then closed
        w = wmap
        if cfg.crop and cfg.crop < cfg.size and progress < cfg.full_size_from:
            i, j = mouth_crop_corner(cfg, g) if cfg.crop_mouth else (int(v) for v in torch.randint(cfg.size - cfg.crop + 1, (2,), generator=g))
            x = x[..., i : i + cfg.crop, j : j + cfg.crop]
            w = None if wmap is None else wmap[i : i + cfg.crop, j : j + cfg.crop]
        x = x.to(cfg.device)
        with torch.set_grad_enabled(not cfg.decoder_only):
            mu, logvar = vae.encode_moments(x)
        eps = torch.randn(mu.shape, generator=g)
        if pairs:  # the same posterior noise for a window's two renders, so their difference is the mouth's alone
            eps[n:] = eps[:n]
        z = mu + torch.exp(0.5 * logvar) * eps.to(mu.device)
        y = vae.decode_raw(z)
        rec = weighted_reconstruction(y, x, w)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean()
        loss = rec + cfg.kl_weight * kl
        if pairs:
            mouth = mouth_delta_loss(y[:n], y[n:], x[:n], x[n:])
            loss = loss + cfg.mouth_delta_weight * mouth
            mouth_ema = mouth.item() if mouth_ema is None else 0.95 * mouth_ema + 0.05 * mouth.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        ema = rec.item() if ema is None else 0.95 * ema + 0.05 * rec.item()
        step += 1
        if step % cfg.log_every == 0:
            extra = f" mouth={mouth_ema:.3f}" if pairs else ""
            log(f"step {step} t={time.time() - t0:.0f}s rec={ema:.4f}{extra} kl={kl.item():.3f} lr={opt.param_groups[0]['lr']:.2e}")
        if time.time() - last_save > cfg.save_every_min * 60:
            p = _save(vae, cfg, source, cfg.out + ".partial", {"steps": step})
            log(f"partial checkpoint at step {step}: held-out PSNR {p:.2f} dB")
            last_save = time.time()
    p = _save(vae, cfg, source, cfg.out, {"steps": step, "train_seconds": f"{time.time() - t0:.0f}"})
    Path(cfg.out + ".partial").unlink(missing_ok=True)
    summary = {"steps": step, "seconds": round(time.time() - t0), "heldout_psnr_db": round(p, 2), "out": cfg.out}
    log(json.dumps(summary))
    return summary
