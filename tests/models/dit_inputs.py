"""Random inputs of the right shapes for a DiT config (shared by the model tests)."""

import torch

from livetalk.models.config import DiTConfig
from livetalk.models.dit import pack_audio_frames


def random_inputs(cfg: DiTConfig, batch: int = 1, frames: int = 6, lat: int = 8, seed: int = 0):
    """x [B, F, 16, lat, lat], t [B, F], context, cond [B, F, 17, ...], audio windows [B, F, 4, D]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, cfg.latent_channels, lat, lat, generator=g)
    t = torch.rand(batch, frames, generator=g) * 1000
    ctx = torch.randn(batch, cfg.text_len, cfg.text_dim, generator=g)
    cond = None
    if cfg.has_cond:
        ref = torch.randn(batch, 1, cfg.latent_channels, lat, lat, generator=g).expand(-1, frames, -1, -1, -1)
        mask = torch.ones(batch, frames, 1, lat, lat)
        mask[:, 0] = 0
        cond = torch.cat([ref, mask], dim=2)
    audio = None
    if cfg.use_audio:
        audio = pack_audio_frames(torch.randn(batch, 4 * frames - 3, cfg.audio_dim, generator=g))
    return x, t, ctx, cond, audio
