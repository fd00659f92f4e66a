"""The tiny-scale VAE and its shipped checkpoints.

Same architecture family as Wan2.1 (diffusers `AutoencoderKLWan`: causal, 4× time, 8× space, 16 latent
channels), at base width 16 with one residual block per level (two in the decoder, as Wan's decoder uses
`num_res_blocks + 1`). Trained on 64×64, 16 fps clips; its latent normalisation (per-channel mean/std of the
posterior mean over training clips) is stored in the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from livetalk.models.vae import WanVAE

WEIGHTS_DIR = Path(__file__).with_name("weights")
TINY_VAE_PATH = WEIGHTS_DIR / "tiny_vae.safetensors"
TINY_FAST_DECODER_PATH = WEIGHTS_DIR / "tiny_vae_fast_decoder.safetensors"

TINY_VAE_CONFIG: dict[str, Any] = dict(
    base_dim=16, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
    temperal_downsample=[False, True, True], dropout=0.0,
    latents_mean=[0.0] * 16, latents_std=[1.0] * 16,
)


def build_tiny_vae(*, device="cpu", dtype=torch.float32) -> WanVAE:
    """Randomly initialised tiny VAE (identity latent normalisation until trained)."""
    return WanVAE.from_config(TINY_VAE_CONFIG, device=device, dtype=dtype)


def load_tiny_vae(path: str | Path | None = None, *, device="cpu", dtype=torch.float32) -> WanVAE:
    """Load the shipped tiny VAE (`weights/tiny_vae.safetensors`) or another file written by `WanVAE.save_file`."""
    path = Path(path) if path else TINY_VAE_PATH
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (train one with `livetalk vae-train --what vae`)")
    return WanVAE.from_file(path, device=device, dtype=dtype)


def load_tiny_fast_decoder(path: str | Path | None = None, *, device="cpu", dtype=torch.float32):
    """Load the shipped fast streaming decoder distilled from the tiny VAE."""
    from livetalk.models.vae_fast_decoder import FastDecoder

    path = Path(path) if path else TINY_FAST_DECODER_PATH
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (train one with `livetalk vae-train --what fast-decoder`)")
    return FastDecoder.from_file(path, device=device, dtype=dtype)
