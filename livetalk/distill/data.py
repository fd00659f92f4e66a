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
                    "neg_context": data["neg_context"].float(), "prompts": [v["prompts"][i] for i in v["prompt_index"]]}
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
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> TrainBatch:
        return self.batch(torch.randint(0, len(self), (batch_size,), generator=generator))
