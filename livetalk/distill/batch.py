"""Training batches in latent space, shared by every distillation stage.

A `TrainBatch` holds what the DiT needs for a clip (shapes; B batch, F latent frames, h/w latent size):
  latents      [B, F, 16, h, w]   clean video latents (frame 0 = reference latent)
  ref          [B, 16, h, w]      clean reference latent
  audio        [B, F, 4, D]       per-latent-frame audio windows (`pack_audio_frames`), or None (T2V)
  context      [B, L, D_text]     prompt states
  neg_context  [B, L, D_text]     negative-prompt states (the unconditional branch)
  ref_video    [B, F, 16, h, w]   optional: the reference image held still for the clip's pixel frames and encoded,
                                  put in the cond's reference slot of latent frames >= 1 instead of the reference
                                  latent (session 33; the shipped tiny models use it, the published convention repeats `ref`)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


def make_cond(ref: torch.Tensor, num_frames: int, ref_video: torch.Tensor | None = None) -> torch.Tensor:
    """Reference latent `[B, 16, h, w]` → `cond [B, F, 17, h, w]`: latent on every frame + mask (0 on frame 0).

    With `ref_video [B, ≥F, 16, h, w]` (the reference image encoded as a still video) frames 1.. carry its frames
    1..F−1 instead: a copy of the reference in the latent space of later frames, which the first-frame latent is
    not (docs/results.md, session 33). Frame 0 keeps `ref`."""
    b, c, h, w = ref.shape
    mask = torch.ones(b, num_frames, 1, h, w, device=ref.device, dtype=ref.dtype)
    mask[:, 0] = 0
    slot = ref[:, None].expand(b, num_frames, c, h, w)
    if ref_video is not None:
        if ref_video.shape[0] != b or ref_video.shape[1] < num_frames or ref_video.shape[2:] != (c, h, w):
            raise ValueError(f"ref_video must be [{b}, >= {num_frames}, {c}, {h}, {w}], got {tuple(ref_video.shape)}")
        slot = torch.cat([ref[:, None], ref_video[:, 1:num_frames].to(ref.dtype)], dim=1)
    return torch.cat([slot, mask], dim=2)


def with_reference(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Copy of `x [B, F, 16, h, w]` with latent frame 0 replaced by the clean reference latent."""
    x = x.clone()
    x[:, 0] = ref.to(x.dtype)
    return x


@dataclass
class TrainBatch:
    latents: torch.Tensor
    ref: torch.Tensor
    context: torch.Tensor
    neg_context: torch.Tensor
    audio: torch.Tensor | None = None
    ref_video: torch.Tensor | None = None

    @property
    def num_frames(self) -> int:
        return self.latents.shape[1]

    @property
    def cond(self) -> torch.Tensor:
        return make_cond(self.ref, self.num_frames, self.ref_video)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TrainBatch:
        def mv(t):
            return None if t is None else t.to(device=device, dtype=dtype or t.dtype)

        return TrainBatch(mv(self.latents), mv(self.ref), mv(self.context), mv(self.neg_context), mv(self.audio),
                          mv(self.ref_video))

    def unconditional(self) -> TrainBatch:
        """Negative prompt, same reference image, zeroed audio features (OmniAvatar convention)."""
        audio = None if self.audio is None else torch.zeros_like(self.audio)
        return replace(self, context=self.neg_context, audio=audio)

    def text_only(self) -> TrainBatch:
        """Positive prompt with zeroed audio (the middle branch of separate text/audio guidance)."""
        audio = None if self.audio is None else torch.zeros_like(self.audio)
        return replace(self, audio=audio)

    def window(self, start: int, stop: int) -> TrainBatch:
        """The clip's latent frames [start, stop) as a clip of its own (same reference, prompt and negative prompt;
        `cond` puts the reference slot on its frame 0). With `ref_video` the still video restarts at the window too:
        its frames 1..stop−start−1 fill the window's frames 1.., as for a training window cut from a long clip (the
        reference image held still looks the same from any start; `prepare_latents` encodes each window on its
        own)."""
        audio = None if self.audio is None else self.audio[:, start:stop]
        if self.ref_video is not None and self.ref_video.shape[1] < stop - start:
            raise ValueError(f"ref_video has {self.ref_video.shape[1]} latent frames, the window {stop - start}")
        return replace(self, latents=self.latents[:, start:stop], audio=audio)

    def blocks(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """cond and audio of latent frames [start, stop)."""
        cond = self.cond[:, start:stop]
        audio = None if self.audio is None else self.audio[:, start:stop]
        return cond, audio


def random_batch(cfg, batch: int = 1, frames: int = 6, lat: int = 8, seed: int = 0) -> TrainBatch:
    """A batch of random tensors with the shapes of `cfg` (a DiTConfig), for tests and smoke runs."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(batch, cfg.latent_channels, lat, lat, generator=g)
    latents = torch.randn(batch, frames, cfg.latent_channels, lat, lat, generator=g)
    latents[:, 0] = ref
    audio = torch.randn(batch, frames, cfg.audio_pack, cfg.audio_dim, generator=g) if cfg.use_audio else None
    return TrainBatch(
        latents=latents, ref=ref, audio=audio,
        context=torch.randn(batch, cfg.text_len, cfg.text_dim, generator=g),
        neg_context=torch.randn(batch, cfg.text_len, cfg.text_dim, generator=g),
    )
