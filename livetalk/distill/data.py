"""Latent training data: a prepared file of clips, or random tensors of the right shapes.

A prepared file (`torch.save` dict, written by `livetalk train prepare`) holds, for N clips:
  latents [N, F, 16, h, w], ref [N, 16, h, w], audio [N, F, 4, D] (optional), context [N, L, D_text],
  neg_context [L, D_text], prompts (list of N strings), ids (list of N strings).
Batches are drawn by index from a per-step generator, so a resumed run sees the same data as an
uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.config import get_preset
from .batch import TrainBatch, random_batch


class LatentClips:
    """Clips held in memory; `batch(indices)` → `TrainBatch`."""

    def __init__(self, tensors: dict):
        self.latents = tensors["latents"]
        self.ref = tensors["ref"]
        self.audio = tensors.get("audio")
        self.context = tensors["context"]
        self.neg_context = tensors["neg_context"]
        self.prompts = tensors.get("prompts") or [""] * len(self)
        self.ids = tensors.get("ids") or [str(i) for i in range(len(self))]
        self.ref_video = tensors.get("ref_video")  # [N, F, 16, h, w] or None (`attach_ref_video`)
        self.vae_space = tensors.get("vae_space")  # `WanVAE.latent_space_id()` of the encoding VAE, None if unknown

    def __len__(self) -> int:
        return self.latents.shape[0]

    @classmethod
    def load(cls, spec: str | Path) -> LatentClips:
        """`PATH` or `PATH:VARIANT` (clean / raw / curated) of a file written by `prepare_latents`."""
        spec = str(spec)
        path, _, variant = spec.partition(":") if ":" in spec and not Path(spec).is_file() else (spec, "", "")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prepared latent data not found: {path} (run `livetalk prepare-latents`)")
        data = torch.load(path, map_location="cpu", weights_only=False)
        if "variants" in data:
            variant = variant or "clean"
            if variant not in data["variants"]:
                raise KeyError(f"{path} has variants {sorted(data['variants'])}, not {variant!r}")
            v = data["variants"][variant]
            data = {"latents": data["latents"].float(), "audio": data["audio"].float(), "ids": data["ids"],
                    "ref": v["ref"].float(), "context": v["context_table"].float()[v["prompt_index"]],
                    "neg_context": data["neg_context"].float(), "prompts": [v["prompts"][i] for i in v["prompt_index"]],
                    "vae_space": data.get("vae_space")}
            data["latents"][:, 0] = data["ref"]  # frame 0 is the (variant's) reference latent
        return cls(data)

    @classmethod
    def random(cls, preset: str, n: int, frames: int, lat: int, seed: int) -> LatentClips:
        cfg = get_preset(preset)
        b = random_batch(cfg, batch=n, frames=frames, lat=lat, seed=seed)
        return cls({"latents": b.latents, "ref": b.ref, "audio": b.audio, "context": b.context,
                    "neg_context": b.neg_context[0]})

    def batch(self, indices: list[int] | torch.Tensor) -> TrainBatch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TrainBatch(
            latents=self.latents[idx], ref=self.ref[idx], context=self.context[idx],
            neg_context=self.neg_context[None].expand(len(idx), *self.neg_context.shape),
            audio=None if self.audio is None else self.audio[idx],
            ref_video=None if self.ref_video is None else self.ref_video[idx],
        )

    def attach_ref_video(self, paths: str | list[str]) -> LatentClips:
        """Put the still-reference latents of files written by `scripts/still_baseline.py make` (`{"latents": [M, F,
        16, h, w], "ids"}`, matched by window id; several files are merged) into the cond of every clip
        (`batch.make_cond`). Every clip must be found, with the same frame 0 (its reference latent), or it is an
        error naming the clip."""
        paths = [p for p in (paths.split(",") if isinstance(paths, str) else paths) if p]
        table = {}
        for path in paths:
            f = torch.load(path, map_location="cpu", weights_only=False)
            table.update(zip(f["ids"], f["latents"]))
        missing = [i for i in self.ids if i not in table]
        if missing:
            raise KeyError(f"ref_video: {len(missing)} of {len(self)} clips are in none of {paths} (e.g. "
                           f"{missing[0]!r}); make them with `scripts/still_baseline.py make` on this data")
        frames = self.latents.shape[1]  # a long clip's still serves its first window too (the encoder is causal)
        if any(table[i].shape[0] < frames for i in self.ids):
            raise ValueError(f"ref_video: some still latents have fewer than the clips' {frames} latent frames")
        video = torch.stack([table[i][:frames].float() for i in self.ids])
        if video.shape[2:] != self.latents.shape[2:]:
            raise ValueError(f"ref_video latents {tuple(video.shape)} do not fit clips {tuple(self.latents.shape)}")
        off = (video[:, 0] - self.ref).abs().amax((1, 2, 3))
        if (off > 0.05).any():
            k = int(off.argmax())
            raise ValueError(f"ref_video of clip {self.ids[k]!r} starts {off[k]:.3f} away from its reference latent: "
                             "made from another variant's reference image, world or VAE")
        self.ref_video = video
        return self

    def for_checkpoint(self, checkpoint: str | Path, ref_video: str = "") -> LatentClips:
        """These clips with the cond `checkpoint` was trained with: `ref_video` (still latent files) attached when
        the file is marked `livetalk_cond: still-video`, and a `ValueError` when the mark and `ref_video` disagree
        (never the published cond for a still-cond model, or the reverse)."""
        from ..models.checkpoint import check_trained_cond

        check_trained_cond(checkpoint, bool(ref_video), "--ref-video (its still latents)")
        return self.attach_ref_video(ref_video) if ref_video else self

    def sample(self, batch_size: int, generator: torch.Generator) -> TrainBatch:
        return self.batch(torch.randint(0, len(self), (batch_size,), generator=generator))
