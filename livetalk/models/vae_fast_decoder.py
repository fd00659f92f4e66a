"""A light causal streaming decoder for Wan-family latents (TAEHV-style), for fast preview / real-time output.

Architecture (after madebyollin's TAEHV decoder; channels are parameters):

    latents [B, F, 16, h, w] → soft clamp (3·tanh(x/3)) → conv3×3 → ReLU
    3 stages, each:  k × MemBlock(c) → nearest ×2 (space) → TGrow (×2 or ×1 in time) → conv3×3 (c → c_next)
    → ReLU → conv3×3 → 3 channels → drop the first 3 frames of the video → pixels [B, T, 3, 8h, 8w]

- `MemBlock(x_t, x_{t−1})`: three 3×3 convs over `cat(x_t, x_{t−1})` plus a skip; `x_{t−1}` is the block's own
  input one frame earlier (zeros before the first frame). This is its only temporal context, so the decoder is
  causal and its state is one frame per MemBlock.
- `TGrow(c, s)`: a 1×1 conv to `s·c` channels, split into `s` consecutive frames (time upsampling).
- `reference=True` (our addition, not TAEHV's): `conv_in` also sees the stream's first latent frame (the reference
  image latent, which the runtime puts at frame 0 of every stream) beside every frame, `cat(z_t, z_0)`. A 6-MemBlock
  decoder only looks a frame or two back, so without it nothing of the reference reaches late frames; with it the
  decoder can take identity detail from the image latent at any distance, at the cost of one wider input conv.
  `FastStreamDecoder` keeps `z_0` from its first block, so the streaming API does not change.
- Time ×4 per latent frame; the first latent frame keeps only its last pixel frame, so T = 4·(F − 1) + 1 as
  for the Wan VAE. Streaming (`FastStreamDecoder.decode_block`) carries every MemBlock's last input frame
  between calls and gives exactly the full-sequence output, split 1 + 4·(n − 1), 4·n, 4·n, …

Inputs are the project's *normalised* latents (the DiT's output space); output is in [-1, 1] (clamped at
inference). All convolutions are per frame (2-D), so the cost is a few small convs per pixel frame.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from livetalk.models.vae_convert import KeyLayoutError, check_and_load


@dataclass
class FastDecoderConfig:
    """`channels`: widths of the 3 stages (latent-res, ×2, ×4) and of the final full-res conv.
    `blocks`: MemBlocks per stage. `time_upscale`: TGrow ×2 after stage 2 and/or 3 (both → ×4).
    `reference`: condition every frame on the stream's latent frame 0 (module docstring)."""

    latent_channels: int = 16
    channels: tuple[int, int, int, int] = (64, 48, 32, 16)
    blocks: int = 2
    time_upscale: tuple[bool, bool] = (True, True)
    reference: bool = False  # conv_in also sees latent frame 0 (the reference image latent) beside every frame

    @property
    def time_factor(self) -> int:
        return 2 ** sum(self.time_upscale)


# The shipped tiny fast decoder (weights/tiny_vae_fast_decoder.safetensors) is reference-conditioned since session 23.
TINY_FAST_DECODER = FastDecoderConfig(reference=True)
# Full-scale preview width (TAEHV's decoder widths); no weights are shipped for it.
FULL_FAST_DECODER = FastDecoderConfig(channels=(256, 128, 64, 64), blocks=3)


def _soft_clamp(z: torch.Tensor) -> torch.Tensor:
    """The decoder's input squashing, 3·tanh(z/3), for latent frames and the reference alike."""
    return 3.0 * torch.tanh(z / 3.0)


def _conv(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class MemBlock(nn.Module):
    """Residual block over the current frame and the block's previous input frame. `[N, C, H, W]` per frame."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(2 * c, c), nn.ReLU(inplace=True), _conv(c, c), nn.ReLU(inplace=True), _conv(c, c))

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(torch.cat([x, past], 1)) + x)


class TGrow(nn.Module):
    """Time upsampling: `[B, T, C, H, W]` → `[B, T·s, C, H, W]` via a 1×1 conv to `s·C` channels."""

    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(c, c * stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C, H, W = x.shape
        y = self.conv(x.reshape(B * T, C, H, W))
        return y.reshape(B, T * self.stride, C, H, W)


# Metadata key of the latent space a fast decoder was distilled in (`WanVAE.latent_space_id()` of its teacher VAE;
# the DiTs' twin is `checkpoint.LATENT_SPACE_METADATA_KEY`). The runtime refuses a fast decoder of another space.
SPACE_METADATA_KEY = "vae_space"


class FastDecoder(nn.Module):
    """Causal TAEHV-style decoder. `forward(latents [B, F, C, h, w], state) -> (pixels [B, 4F, 3, 8h, 8w], state)`
    (untrimmed); use `decode` / `stream_decoder` for the trimmed Wan frame count."""

    def __init__(self, config: FastDecoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FastDecoderConfig()
        self.vae_space: str | None = None  # `from_file`: the teacher VAE's `latent_space_id()`, if recorded
        c = cfg.channels
        self.conv_in = _conv(cfg.latent_channels * (2 if cfg.reference else 1), c[0])
        self.stages = nn.ModuleList()
        self.grows = nn.ModuleList()
        self.convs = nn.ModuleList()
        strides = (1, 2 if cfg.time_upscale[0] else 1, 2 if cfg.time_upscale[1] else 1)
        for i in range(3):
            self.stages.append(nn.ModuleList([MemBlock(c[i]) for _ in range(cfg.blocks)]))
            self.grows.append(TGrow(c[i], strides[i]))
            self.convs.append(_conv(c[i], c[i + 1], bias=False))
        self.conv_out = _conv(c[3], 3)

    @property
    def num_memblocks(self) -> int:
        return 3 * self.config.blocks

    def forward(self, latents: torch.Tensor, state: list[torch.Tensor | None] | None = None,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Latents `[B, F, C, h, w]` → untrimmed pixels `[B, F·time_factor, 3, 8h, 8w]` and the new state
        (last input frame of each MemBlock, `[B, 1, c, H, W]`). `state=None` starts a new video.
        `reference` `[B, 1, C, h, w]`: the stream's latent frame 0, required iff `config.reference` (a new video
        may pass None: its own first frame is used)."""
        B, Fr, C, h, w = latents.shape
        state = list(state) if state is not None else [None] * self.num_memblocks
        x = _soft_clamp(latents)
        if self.config.reference:
            if reference is None:
                if state[0] is not None:
                    raise ValueError("a reference-conditioned fast decoder needs the stream's latent frame 0 "
                                     "(`reference`) to continue a stream")
                reference = latents[:, :1]
            if reference.shape != (B, 1, C, h, w):
                raise ValueError(f"reference must be [B, 1, C, h, w] = {(B, 1, C, h, w)}, got {tuple(reference.shape)}")
            x = torch.cat([x, _soft_clamp(reference).expand(B, Fr, C, h, w)], 2)
        elif reference is not None:
            raise ValueError("this fast decoder is not reference-conditioned (config.reference is False)")
        x = F.relu(self.conv_in(x.reshape(B * Fr, x.shape[2], h, w))).reshape(B, Fr, -1, h, w)
        k = 0
        for stage, grow, conv in zip(self.stages, self.grows, self.convs):
            for block in stage:
                T = x.shape[1]
                prev = state[k] if state[k] is not None else torch.zeros_like(x[:, :1])
                past = torch.cat([prev, x[:, :-1]], 1)
                state[k] = x[:, -1:].clone()
                k += 1
                x = block(x.flatten(0, 1), past.flatten(0, 1)).reshape(B, T, *x.shape[2:])
            T, Cc, H, W = x.shape[1:]
            x = F.interpolate(x.reshape(B * T, Cc, H, W), scale_factor=2.0, mode="nearest")
            x = grow(x.reshape(B, T, Cc, 2 * H, 2 * W))
            T = x.shape[1]
            x = conv(x.flatten(0, 1)).reshape(B, T, -1, 2 * H, 2 * W)
        T = x.shape[1]
        out = self.conv_out(F.relu(x.flatten(0, 1))).reshape(B, T, 3, *x.shape[-2:])
        return out, state

    def decode(self, latents: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Whole video: normalised latents `[B, F, C, h, w]` → pixels `[B, 4·(F − 1) + 1, 3, 8h, 8w]`."""
        return self.stream_decoder(clamp=clamp).decode_block(latents)

    def stream_decoder(self, clamp: bool = True) -> "FastStreamDecoder":
        return FastStreamDecoder(self, clamp=clamp)

    @classmethod
    def with_reference(cls, model: "FastDecoder") -> "FastDecoder":
        """A reference-conditioned copy of an unconditioned decoder: the same weights, and `conv_in`'s new input
        channels (for latent frame 0) zero, so it decodes exactly as `model` until trained."""
        if model.config.reference:
            raise ValueError("the decoder is already reference-conditioned")
        cfg = FastDecoderConfig(**{**asdict(model.config), "reference": True})
        new = cls(cfg).to(device=model.conv_in.weight.device, dtype=model.conv_in.weight.dtype)
        sd = model.state_dict()
        w = sd["conv_in.weight"]
        sd["conv_in.weight"] = torch.cat([w, torch.zeros_like(w)], 1)
        new.load_state_dict(sd)
        return new.train(model.training)

    # ------------------------------------------------------------------ checkpoints
    def save_file(self, path: str | Path, extra_metadata: dict[str, str] | None = None,
                  storage_dtype: torch.dtype = torch.float16) -> None:
        """Safetensors weights with the config in the metadata."""
        from safetensors.torch import save_file

        meta = {"fast_decoder_config": json.dumps(asdict(self.config)), "format": "livetalk-fast-decoder",
                **(extra_metadata or {})}
        sd = {k: v.detach().to(storage_dtype).contiguous().cpu() for k, v in self.state_dict().items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(path), metadata=meta)

    @classmethod
    def from_file(cls, path: str | Path, *, device="cpu", dtype=torch.float32) -> "FastDecoder":
        """Load a file written by `save_file`; raises `KeyLayoutError` on missing/unexpected keys."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "fast_decoder_config" not in meta:
            raise KeyLayoutError(f"{path}: no 'fast_decoder_config' in the safetensors metadata")
        d = json.loads(meta["fast_decoder_config"])
        cfg = FastDecoderConfig(latent_channels=d["latent_channels"], channels=tuple(d["channels"]),
                                blocks=d["blocks"], time_upscale=tuple(d["time_upscale"]),
                                reference=bool(d.get("reference", False)))
        model = cls(cfg)
        check_and_load(model, load_file(str(path)), what=f"fast decoder checkpoint {path}")
        model.vae_space = meta.get(SPACE_METADATA_KEY)  # the space of the VAE it was distilled from (None: unknown)
        return model.to(device=device, dtype=dtype).eval()


class FastStreamDecoder:
    """Block-by-block decoding with the MemBlock state carried between calls.

    `decode_block(latents [B, n, C, h, w]) -> [B, frames, 3, 8h, 8w]` with frames = 1 + 4·(n − 1) on the first
    call and 4·n afterwards; the concatenation equals `FastDecoder.decode` of the whole sequence. A
    reference-conditioned decoder keeps latent frame 0 of the first block as the stream's reference."""

    def __init__(self, model: FastDecoder, clamp: bool = True) -> None:
        self.model = model
        self.clamp = clamp
        self.reset()

    def reset(self) -> None:
        self.state: list | None = None
        self.reference: torch.Tensor | None = None  # [B, 1, C, h, w], latent frame 0 (reference-conditioned only)
        self.frames_in = 0

    def decode_block(self, latents: torch.Tensor) -> torch.Tensor:
        p = next(self.model.parameters())
        latents = latents.to(device=p.device, dtype=p.dtype)
        if self.model.config.reference and self.frames_in == 0:
            self.reference = latents[:, :1]
        out, self.state = self.model(latents, self.state, self.reference)
        if self.frames_in == 0:
            out = out[:, self.model.config.time_factor - 1 :]
        self.frames_in += latents.shape[1]
        return out.clamp(-1.0, 1.0) if self.clamp else out
