"""Grow a trained DiT deeper without changing what it computes (function-preserving depth growth).

`grow_depth(model, factor)` returns a `WanDiT` with `factor ×` the blocks: block `j` of the source becomes block
`factor·j`, and the blocks in between are new, their residual branches closed (the output projections of self-
attention, cross-attention and the FFN set to zero, weights and biases), so each new block is the identity map and the
grown model's output equals the source's exactly (bit for bit in fp32: only `+ 0` is added). The audio projections
follow their blocks (OmniAvatar injects audio before blocks `2 .. L/2`, `DiTConfig.audio_layers`): the source's
projection for block `a` serves block `factor·a`, and the grown model's extra audio layers get zero projections.

Training then opens the new blocks from their output projections outwards (as adaLN-Zero / ReZero initialisations
do). Used to test whether the tiny teacher's appearance error on new faces is a capacity limit (docs/results.md,
session 33). Everything else (embeddings, head, RoPE, modulations of the source blocks) is copied unchanged.
"""

from __future__ import annotations

import dataclasses

import torch

from .config import DiTConfig
from .dit import WanDiT, build_dit


def grown_config(cfg: DiTConfig, factor: int, name: str | None = None) -> DiTConfig:
    """`cfg` with `factor ×` the layers (named `name`, default `<name>-x<factor>`)."""
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"grow factor must be a positive integer, got {factor!r}")
    return dataclasses.replace(cfg, num_layers=cfg.num_layers * factor, name=name or f"{cfg.name}-x{factor}")


def grow_depth(model: WanDiT, factor: int = 2, *, cfg: DiTConfig | None = None, seed: int = 0) -> WanDiT:
    """A `factor ×` deeper copy of `model` that computes the same function (see the module docstring).

    `cfg` (optional) is the target config; it must equal `model.cfg` except for `num_layers = factor · L` (and the
    name), e.g. the `tiny-deep` preset for a `tiny` model with factor 2. The new blocks' attention / FFN input
    weights and modulations are random (`seed`), their output projections zero. Returned in the source's dtype and
    device, in eval mode.
    """
    src = model.cfg
    target = cfg or grown_config(src, factor)
    if dataclasses.replace(target, name=src.name, num_layers=src.num_layers) != src or \
            target.num_layers != src.num_layers * factor:
        raise ValueError(f"grow_depth: target config {target.name!r} is not {src.name!r} with {factor}x the layers "
                         f"({src.num_layers} -> {src.num_layers * factor})")
    grown = build_dit(target, device="cpu", dtype=torch.float32, seed=seed)
    src_sd = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    new_sd = grown.state_dict()
    src_audio = {layer: i for i, layer in enumerate(src.audio_layers)}
    for key, value in new_sd.items():
        if key.startswith("blocks."):
            j, rest = key.split(".", 2)[1:]
            j = int(j)
            if j % factor == 0:
                value.copy_(src_sd[f"blocks.{j // factor}.{rest}"])
            elif rest.startswith(("self_attn.o.", "cross_attn.o.", "ffn.2.")):
                value.zero_()
        elif key.startswith("audio_cond_projs."):
            k, rest = key.split(".", 2)[1:]
            layer = target.audio_layers[int(k)]
            if layer % factor == 0 and layer // factor in src_audio:
                value.copy_(src_sd[f"audio_cond_projs.{src_audio[layer // factor]}.{rest}"])
            else:
                value.zero_()
        else:
            value.copy_(src_sd[key])
    grown.load_state_dict(new_sd, strict=True)
    return grown.to(device=model.device, dtype=model.dtype).eval()


__all__ = ["grow_depth", "grown_config"]
