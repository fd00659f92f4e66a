"""Wan2.1 causal video VAE (diffusers `AutoencoderKLWan`) with latent normalisation and a streaming decoder.

Layouts (see docs/conventions.md):
- pixels  `[B, T, 3, H, W]`, float in [-1, 1];
- latents `[B, F, C, h, w]` with C = `z_dim` (16), h = H/8, w = W/8 and T = 4·(F − 1) + 1, *normalised*
  per channel: `z = (mu − mean) / std` (spec §1.4). Only the posterior mean is used; there is no sampling.

`WanVAE.decode` decodes a whole latent video; `WanVAE.stream_decoder()` returns a `WanStreamDecoder` that decodes
block by block and keeps the causal-conv feature cache between calls, so concatenating its outputs equals the
whole-video decode (first block of n latent frames → 1 + 4·(n − 1) pixel frames, later blocks → 4·n).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from livetalk.models.vae_convert import KeyLayoutError, check_and_load, detect_layout, original_to_diffusers

# Published Wan2.1 latent statistics (spec §1.4), one value per latent channel.
WAN21_LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN21_LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]

# Full-scale architecture: diffusers' defaults are exactly the Wan2.1 VAE.
WAN21_CONFIG: dict[str, Any] = dict(
    base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
    temperal_downsample=[False, True, True], dropout=0.0,
    latents_mean=WAN21_LATENTS_MEAN, latents_std=WAN21_LATENTS_STD,
)


def frames_to_video(frames) -> torch.Tensor:
    """uint8 frames `[T, H, W, 3]` (numpy array or tensor; copied) → float32 video `[1, T, 3, H, W]` in [-1, 1],
    the layout `WanVAE.encode` takes."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames, copy=True))
    return x.float().div(127.5).sub(1).permute(0, 3, 1, 2)[None]


def video_to_frames(video: torch.Tensor) -> np.ndarray:
    """Video `[T, 3, H, W]` in [-1, 1] (any float dtype or device) → uint8 frames `[T, H, W, 3]` on the CPU
    (clamped, rounded): the inverse of `frames_to_video` for one clip."""
    return ((video.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def pixel_frames(latent_frames: int) -> int:
    """Pixel frames produced by `latent_frames` latent frames: T = 4·(F − 1) + 1."""
    return 4 * (latent_frames - 1) + 1


def latent_frames(pixel_frames: int) -> int:
    """Latent frames for `pixel_frames` pixel frames; raises unless T ≡ 1 (mod 4)."""
    if pixel_frames < 1 or (pixel_frames - 1) % 4:
        raise ValueError(f"pixel frame count must be 4·k + 1, got {pixel_frames}")
    return (pixel_frames - 1) // 4 + 1


def build_autoencoder(config: dict[str, Any] | None = None):
    """A randomly initialised `AutoencoderKLWan`; `config` overrides the Wan2.1 defaults."""
    from diffusers import AutoencoderKLWan

    cfg = dict(WAN21_CONFIG)
    cfg.update(config or {})
    if cfg.get("is_residual") or cfg.get("attn_scales") or cfg.get("patch_size"):
        raise ValueError("only the Wan2.1 layout is supported (is_residual=False, attn_scales=[], no patch_size)")
    return AutoencoderKLWan(**cfg)


class WanVAE(nn.Module):
    """Wrapper around `AutoencoderKLWan` that speaks the project's layouts and latent normalisation.

    Args:
        model: the diffusers autoencoder; its config's `latents_mean` / `latents_std` (length `z_dim`) are used
            for normalisation.
    """

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        cfg = model.config
        mean = torch.tensor(cfg.latents_mean, dtype=torch.float32)
        std = torch.tensor(cfg.latents_std, dtype=torch.float32)
        if mean.numel() != cfg.z_dim or std.numel() != cfg.z_dim:
            raise ValueError(f"latents_mean/std must have z_dim={cfg.z_dim} entries")
        self.register_buffer("latents_mean", mean.view(1, 1, -1, 1, 1), persistent=False)
        self.register_buffer("latents_std", std.view(1, 1, -1, 1, 1), persistent=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: dict[str, Any] | None = None, *, device="cpu", dtype=torch.float32) -> "WanVAE":
        """Random weights; `config` overrides the Wan2.1 architecture (e.g. `{"base_dim": 16}`)."""
        return cls(build_autoencoder(config)).to(device=device, dtype=dtype).eval()

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor], config: dict[str, Any] | None = None, *,
                        layout: str = "auto", device="cpu", dtype=torch.float32) -> "WanVAE":
        """Build from a state dict in the original (`Wan2.1_VAE.pth`) or diffusers layout.

        `layout` is "original", "diffusers" or "auto" (decided from the key names). Any missing, unexpected or
        mis-shaped key raises `KeyLayoutError`.
        """
        model = build_autoencoder(config)
        if layout == "auto":
            layout = detect_layout(sd.keys())
        if layout == "original":
            sd = original_to_diffusers(sd, model.config.num_res_blocks)
        elif layout != "diffusers":
            raise ValueError(f"layout must be 'original', 'diffusers' or 'auto', got {layout!r}")
        check_and_load(model, sd, what=f"{layout}-layout VAE state dict")
        return cls(model).to(device=device, dtype=dtype).eval()

    @classmethod
    def from_original(cls, path: str | Path, config: dict[str, Any] | None = None, *, device="cpu",
                      dtype=torch.float32) -> "WanVAE":
        """Load the original `Wan2.1_VAE.pth` (a plain state dict, original key names)."""
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(sd, dict):
            raise KeyLayoutError(f"{path}: expected a state dict, got {type(sd).__name__}")
        return cls.from_state_dict(sd, config, layout="original", device=device, dtype=dtype)

    @classmethod
    def from_diffusers(cls, folder: str | Path, *, device="cpu", dtype=torch.float32) -> "WanVAE":
        """Load a diffusers-format folder (`config.json` + `diffusion_pytorch_model.safetensors`)."""
        from diffusers import AutoencoderKLWan

        folder = Path(folder)
        if (folder / "vae" / "config.json").exists() and not (folder / "config.json").exists():
            folder = folder / "vae"
        model = AutoencoderKLWan.from_pretrained(str(folder), torch_dtype=dtype, low_cpu_mem_usage=False)
        return cls(model).to(device=device, dtype=dtype).eval()

    @classmethod
    def from_file(cls, path: str | Path, *, device="cpu", dtype=torch.float32) -> "WanVAE":
        """Load a single safetensors file written by `save_file` (diffusers keys, config in the metadata)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "vae_config" not in meta:
            raise KeyLayoutError(f"{path}: no 'vae_config' in the safetensors metadata")
        config = json.loads(meta["vae_config"])
        return cls.from_state_dict(load_file(str(path)), config, layout="diffusers", device=device, dtype=dtype)

    def save_file(self, path: str | Path, extra_metadata: dict[str, str] | None = None,
                  storage_dtype: torch.dtype = torch.float32) -> None:
        """Write diffusers-layout weights (stored as `storage_dtype`) plus the architecture/normalisation
        config as safetensors metadata; `from_file` reads it back (weights cast to the requested dtype)."""
        from safetensors.torch import save_file

        keys = ("base_dim", "z_dim", "dim_mult", "num_res_blocks", "attn_scales", "temperal_downsample",
                "dropout", "latents_mean", "latents_std")
        cfg = {k: self.model.config[k] for k in keys}
        meta = {"vae_config": json.dumps(cfg), "format": "livetalk-wan-vae", **(extra_metadata or {})}
        sd = {k: v.detach().to(storage_dtype).contiguous().cpu() for k, v in self.model.state_dict().items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(path), metadata=meta)

    def latent_space_id(self) -> str:
        """A 16-hex fingerprint of the latent space this VAE encodes into: sha256 over the encoder and `quant_conv`
        weights (cast to fp16, so an fp32 checkpoint and its fp16 copy agree) and the latent normalisation. DiTs and
        fast decoders trained on its latents carry it (`LATENT_SPACE_METADATA_KEY`) so that a mismatched VAE is an
        error, not a silently wrong picture. The decoder does not enter: a decoder-only fine-tune keeps the space."""
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.model.state_dict().items()):
            if k.startswith(("encoder.", "quant_conv.")):
                h.update(k.encode())
                h.update(v.detach().to("cpu", torch.float16).contiguous().numpy().tobytes())
        stats = [[round(float(x), 4) for x in self.model.config[k]] for k in ("latents_mean", "latents_std")]
        h.update(json.dumps(stats).encode())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ properties
    @property
    def z_dim(self) -> int:
        return int(self.model.config.z_dim)

    @property
    def dtype(self) -> torch.dtype:
        return self.model.post_quant_conv.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.post_quant_conv.weight.device

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Replace the per-channel normalisation (`mean`, `std`: `[z_dim]`) in the buffers and the config."""
        mean, std = mean.detach().float().flatten(), std.detach().float().flatten()
        self.latents_mean.copy_(mean.view(1, 1, -1, 1, 1))
        self.latents_std.copy_(std.view(1, 1, -1, 1, 1))
        self.model.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())

    # ------------------------------------------------------------------ normalisation
    def normalize(self, mu: torch.Tensor) -> torch.Tensor:
        """Raw posterior mean `[B, F, C, h, w]` → normalised latents `(mu − mean) / std`."""
        return (mu - self.latents_mean.to(mu.dtype)) / self.latents_std.to(mu.dtype)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents `[B, F, C, h, w]` → raw latents `z·std + mean`."""
        return z * self.latents_std.to(z.dtype) + self.latents_mean.to(z.dtype)

    # ------------------------------------------------------------------ encode / decode
    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels `[B, T, 3, H, W]` in [-1, 1] → raw (un-normalised) posterior mean and log-variance,
        each `[B, F, C, H/8, W/8]`. Differentiable (used for training)."""
        if video.dim() != 5 or video.shape[2] != 3:
            raise ValueError(f"video must be [B, T, 3, H, W], got {tuple(video.shape)}")
        latent_frames(video.shape[1])
        x = video.to(self.dtype).permute(0, 2, 1, 3, 4)
        h = self.model._encode(x)  # [B, 2C, F, h, w]; diffusers' chunked causal encoder (1, 4, 4, ... frames)
        mu, logvar = h.permute(0, 2, 1, 3, 4).chunk(2, dim=2)
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Pixels `[B, T, 3, H, W]` in [-1, 1] (T = 4k + 1) → normalised latents `[B, F, C, H/8, W/8]`."""
        mu, _ = self.encode_moments(video)
        return self.normalize(mu)

    def decode_raw(self, z_raw: torch.Tensor) -> torch.Tensor:
        """Raw latents `[B, F, C, h, w]` → pixels `[B, T, 3, 8h, 8w]`, *not* clamped. Differentiable."""
        dec = WanStreamDecoder(self, normalized=False, clamp=False)
        return dec.decode_block(z_raw)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents `[B, F, C, h, w]` → pixels `[B, 4·(F − 1) + 1, 3, 8h, 8w]` clamped to [-1, 1]."""
        return self.stream_decoder().decode_block(latents)

    def stream_decoder(self, *, normalized: bool = True, clamp: bool = True) -> "WanStreamDecoder":
        """A fresh block-by-block decoder with its own causal feature cache (see `WanStreamDecoder`)."""
        return WanStreamDecoder(self, normalized=normalized, clamp=clamp)


class WanStreamDecoder:
    """Streaming causal decoder: call `decode_block` with consecutive latent blocks `[B, n, C, h, w]`.

    The first call returns `1 + 4·(n − 1)` pixel frames, each later call `4·n`, as `[B, frames, 3, 8h, 8w]`.
    The concatenation over calls equals `WanVAE.decode` of the concatenated latents (same arithmetic: the
    decoder runs one latent frame at a time against a cache of the last 2 frames of every causal conv input,
    exactly as diffusers' `AutoencoderKLWan._decode`). The cache is private to this object, so encoding or other
    decoders on the same VAE do not disturb it.
    """

    def __init__(self, vae: WanVAE, *, normalized: bool = True, clamp: bool = True) -> None:
        self.vae = vae
        self.normalized = normalized
        self.clamp = clamp
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next block is treated as the start of a video."""
        n = self.vae.model._cached_conv_counts["decoder"]
        self._feat_map: list = [None] * n
        self.frames_in = 0  # latent frames consumed so far

    def decode_block(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents `[B, n, C, h, w]` (normalised unless `normalized=False`) → pixels `[B, frames, 3, 8h, 8w]`."""
        vae = self.vae
        if latents.dim() != 5 or latents.shape[2] != vae.z_dim:
            raise ValueError(f"latents must be [B, F, {vae.z_dim}, h, w], got {tuple(latents.shape)}")
        z = latents.to(vae.dtype)
        if self.normalized:
            z = vae.denormalize(z)
        x = vae.model.post_quant_conv(z.permute(0, 2, 1, 3, 4))  # 1x1x1 conv: per-frame, no cache needed
        outs = []
        for i in range(x.shape[2]):
            conv_idx = [0]
            outs.append(vae.model.decoder(x[:, :, i : i + 1], feat_cache=self._feat_map, feat_idx=conv_idx,
                                          first_chunk=self.frames_in == 0))
            self.frames_in += 1
        out = torch.cat(outs, dim=2)
        if self.clamp:
            out = out.clamp(-1.0, 1.0)
        return out.permute(0, 2, 1, 3, 4)
