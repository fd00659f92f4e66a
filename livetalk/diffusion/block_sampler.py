"""The student's few-step block sampler with the KV cache (spec §5.3).

For one block of latent frames starting at `start_frame`:
  for each timestep t_i (bf16-rounded, e.g. [1000, 936, 832, 624]):
      (block 0) overwrite latent frame 0 with the clean reference latent
      v  = DiT(x, t_i, …, kv_cache, start_frame)       — re-runs overwrite the block's cache slots
      x0 = x − σ_i·v       (σ from the nearest entry of the few-step table)
      x  = (1 − σ_{i+1})·x0 + σ_{i+1}·ε   with fresh ε  (not after the last step)
  output x0 (frame 0 = reference latent in block 0), then a clean pass at t = 0 refreshes the cache
  (skippable for the last block of a video).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.dit import WanDiT
from ..models.kv_cache import KVCache
from .schedule import NUM_TRAIN_TIMESTEPS, FlowMatchSchedule


@dataclass
class BlockConditions:
    """Conditions of one block: `cond [B, F, 17, H, W]`, `audio [B, F, 4, D]` (None for T2V), text
    `context [B, L, D_text]` (None once the cache holds the cross-attention k/v)."""

    context: torch.Tensor | None
    cond: torch.Tensor | None = None
    audio: torch.Tensor | None = None


def denoise_block(
    model: WanDiT,
    cache: KVCache,
    noise: torch.Tensor,
    start_frame: int,
    conds: BlockConditions,
    schedule: FlowMatchSchedule,
    *,
    ref_latent: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Denoise one block `noise [B, F, 16, H, W]` → clean latents `[B, F, 16, H, W]`.

    `ref_latent [B, 16, H, W]` is substituted into latent frame 0 when `start_frame == 0`.
    """
    b, f = noise.shape[:2]
    timesteps = schedule.model_timesteps().to(noise.device)
    x = noise
    x0 = noise
    substitute = ref_latent is not None and start_frame == 0
    for i, t_val in enumerate(timesteps):
        if substitute:
            x = x.clone()
            x[:, 0] = ref_latent.to(x.dtype)
        t = t_val.expand(b, f)
        v = model(x, t, conds.context, conds.cond, conds.audio, kv_cache=cache, start_frame=start_frame)
        x0 = schedule.x0_from_velocity(x, v, t)
        if i + 1 < len(timesteps):
            eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=torch.float32).to(x0.dtype)
            x = schedule.add_noise(x0, eps, timesteps[i + 1].expand(b, f))
    if substitute:
        x0 = x0.clone()
        x0[:, 0] = ref_latent.to(x0.dtype)
    return x0


def refresh_cache(model: WanDiT, cache: KVCache, x0: torch.Tensor, start_frame: int, conds: BlockConditions, *,
                  context_noise: float = 0.0, ref_latent: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> None:
    """Cache pass that overwrites the block's cache slots with the keys/values of its finished latents `x0`
    (published: the clean block at t = 0).

    context_noise: timestep in [0, 1000) of the published Self Forcing knob of that name (0 there and here): the
        block is re-noised to σ = context_noise / 1000 with fresh noise from `generator` and the pass runs at that
        timestep. Latent frame 0 of block 0 stays the clean `ref_latent` when one is given.
    """
    b, f = x0.shape[:2]
    if not 0 <= context_noise < NUM_TRAIN_TIMESTEPS:
        raise ValueError(f"context_noise must be a timestep in [0, {NUM_TRAIN_TIMESTEPS}), got {context_noise}")
    t = torch.full((b, f), float(context_noise), device=x0.device)
    x = x0
    if context_noise > 0:
        sigma = context_noise / NUM_TRAIN_TIMESTEPS
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=torch.float32).to(x0.dtype)
        x = (1 - sigma) * x0 + sigma * eps
        if ref_latent is not None and start_frame == 0:
            x[:, 0] = ref_latent.to(x.dtype)
    model(x, t, conds.context, conds.cond, conds.audio, kv_cache=cache, start_frame=start_frame)
