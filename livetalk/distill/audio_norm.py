"""Per-channel standardisation of the DiT's audio features, and its exact fold into `AudioPack`.

The tiny log-mel features (`audio_logmel`, normalisation "fixed") sit at a per-bin offset 1.8× their spread, and
loudness, their strongest mouth signal, varies along that offset. `AudioPack` is Linear → LayerNorm: the Linear
turns the offset into a large constant vector whose length carries the loudness, and LayerNorm divides the
length away. A micro teacher on such features never learns its audio (docs/results.md, "The audio features'
offset hides loudness").

Standardising, `a' = (a − mean) / std` per channel with the training set's statistics, is a fixed affine map
(streaming-exact, like "fixed"). `fold_audio_standardisation` / `fold_audio_state` rewrite `AudioPack.proj` so
that a model trained on raw features computes the same function on standardised ones,
`W a + b = (W·diag(std)) a' + (b + W mean)`, and `inverse=True` takes the map back out. The teacher stage's
`audio_standardise` uses both: fold the init, train on standardised features, export for raw ones.
"""

from __future__ import annotations

import torch

from livetalk.models.dit import WanDiT


def audio_stats(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation `[D]` (float32) of audio windows `[N, F, pack, D]`."""
    if audio.dim() != 4:
        raise ValueError(f"audio must be [N, F, pack, D], got {tuple(audio.shape)}")
    a = audio.float().flatten(0, 2)
    std = a.std(dim=0)
    if (std <= 0).any():
        raise ValueError(f"{int((std <= 0).sum())} audio channels are constant: cannot standardise")
    return a.mean(dim=0), std


def standardise_audio(audio: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """`(audio − mean) / std` over the last dim, returned in `audio`'s dtype. `audio`: `[..., D]`."""
    return ((audio.float() - mean) / std).to(audio.dtype)


def fold_audio_state(state: dict[str, torch.Tensor], mean: torch.Tensor, std: torch.Tensor, pack: int,
                     inverse: bool = False) -> dict[str, torch.Tensor]:
    """A copy of a DiT state dict with the standardisation folded into `audio_proj.proj` (`inverse`: taken back
    out, for a model trained on standardised features that must run on raw ones). Other tensors are shared."""
    w, b = state["audio_proj.proj.weight"], state["audio_proj.proj.bias"]
    if w.shape[1] != pack * mean.numel() or mean.shape != std.shape:
        raise ValueError(f"audio_proj.proj takes {w.shape[1]} inputs; stats are {tuple(mean.shape)} × pack {pack}")
    # the stats live on the CPU; the weights where the model trains (a CUDA teacher's export folds them there)
    mean4 = mean.to(w.device, torch.float32).repeat(pack)  # AudioPack flattens [pack, D] time-major: index t·D + c
    std4 = std.to(w.device, torch.float32).repeat(pack)
    wf, bf = w.float(), b.float()
    if inverse:  # W a' + b with a' = (a − mean)/std  →  (W/std) a + (b − (W/std) mean)
        wf = wf / std4[None, :]
        bf = bf - wf @ mean4
    else:  # W a + b with a = std·a' + mean  →  (W·std) a' + (b + W mean)
        bf = bf + wf @ mean4
        wf = wf * std4[None, :]
    return {**state, "audio_proj.proj.weight": wf.to(w.dtype), "audio_proj.proj.bias": bf.to(b.dtype)}


@torch.no_grad()
def fold_audio_standardisation(model: WanDiT, mean: torch.Tensor, std: torch.Tensor,
                               inverse: bool = False) -> WanDiT:
    """In place: afterwards `model(audio=standardise_audio(a, mean, std))` equals the old `model(audio=a)`
    (`inverse`: the other way round)."""
    if not model.cfg.use_audio:
        raise ValueError("the model has no audio path")
    d = model.cfg.audio_dim
    if mean.shape != (d,) or std.shape != (d,):
        raise ValueError(f"mean and std must be [{d}], got {tuple(mean.shape)} and {tuple(std.shape)}")
    proj = model.audio_proj.proj
    state = {"audio_proj.proj.weight": proj.weight.detach(), "audio_proj.proj.bias": proj.bias.detach()}
    folded = fold_audio_state(state, mean, std, model.cfg.audio_pack, inverse)
    proj.weight.copy_(folded["audio_proj.proj.weight"])
    proj.bias.copy_(folded["audio_proj.proj.bias"])
    return model
