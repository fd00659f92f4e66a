"""Key conversion between the original Wan2.1 VAE checkpoint (`Wan2.1_VAE.pth`) and diffusers `AutoencoderKLWan`.

The original layout (`wan/modules/vae.py`, `WanVAE_`) uses flat `nn.Sequential` containers:

| original                                   | diffusers                                             |
|--------------------------------------------|-------------------------------------------------------|
| `encoder.conv1`                            | `encoder.conv_in`                                     |
| `encoder.downsamples.N.<resblock>`         | `encoder.down_blocks.N.<resblock>` (same flat index)  |
| `encoder.middle.{0,1,2}`                   | `encoder.mid_block.{resnets.0, attentions.0, resnets.1}` |
| `encoder.head.{0.gamma,2}`                 | `encoder.{norm_out.gamma, conv_out}`                  |
| `conv1` / `conv2`                          | `quant_conv` / `post_quant_conv`                      |
| `decoder.conv1`, `decoder.middle`, `decoder.head` | as for the encoder                             |
| `decoder.upsamples.K`                      | `decoder.up_blocks.i.resnets.j` (K = i·(R+2)+j) or `decoder.up_blocks.i.upsamplers.0` (K = i·(R+2)+R+1) |

with R = `num_res_blocks` and, inside a residual block, `residual.{0,2,3,6}` ↔ `{norm1, conv1, norm2, conv2}`
and `shortcut` ↔ `conv_shortcut`. Resample layers (`resample.1`, `time_conv`) and attention layers
(`norm`, `to_qkv`, `proj`) keep their inner names. Only the Wan2.1 layout is covered (`is_residual=False`,
no attention outside the middle blocks); other configs raise `ValueError`.

Tensors are never reshaped: both layouts store the same shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

# Inner names of one residual block: diffusers -> original.
_RES_D2O = {
    "norm1.gamma": "residual.0.gamma",
    "conv1.weight": "residual.2.weight",
    "conv1.bias": "residual.2.bias",
    "norm2.gamma": "residual.3.gamma",
    "conv2.weight": "residual.6.weight",
    "conv2.bias": "residual.6.bias",
    "conv_shortcut.weight": "shortcut.weight",
    "conv_shortcut.bias": "shortcut.bias",
}
_RES_O2D = {v: k for k, v in _RES_D2O.items()}

_TOP_D2O = {
    "encoder.conv_in.": "encoder.conv1.",
    "encoder.norm_out.gamma": "encoder.head.0.gamma",
    "encoder.conv_out.": "encoder.head.2.",
    "decoder.conv_in.": "decoder.conv1.",
    "decoder.norm_out.gamma": "decoder.head.0.gamma",
    "decoder.conv_out.": "decoder.head.2.",
    "quant_conv.": "conv1.",
    "post_quant_conv.": "conv2.",
}
_TOP_O2D = {v: k for k, v in _TOP_D2O.items()}


class KeyLayoutError(ValueError):
    """A state dict does not have the expected key layout (lists missing / unexpected keys)."""


def _res_inner(rest: str, table: dict[str, str], key: str) -> str:
    # Resample (`resample.1.*`, `time_conv.*`) and attention (`norm.gamma`, `to_qkv.*`, `proj.*`) inner
    # names are shared by both layouts.
    if rest in table:
        return table[rest]
    if re.fullmatch(r"(resample\.1|time_conv|to_qkv|proj)\.(weight|bias)|norm\.gamma", rest):
        return rest
    raise KeyLayoutError(f"unknown inner name {rest!r} in key {key!r}")


def diffusers_to_original_key(key: str, num_res_blocks: int = 2) -> str:
    """Map one diffusers `AutoencoderKLWan` key to its name in the original Wan2.1 checkpoint."""
    for d, o in _TOP_D2O.items():
        if key.startswith(d):
            return o + key[len(d) :]
    m = re.fullmatch(r"encoder\.down_blocks\.(\d+)\.(.+)", key)
    if m:
        return f"encoder.downsamples.{m[1]}.{_res_inner(m[2], _RES_D2O, key)}"
    m = re.fullmatch(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key)
    if m:
        part, kind, idx, rest = m[1], m[2], int(m[3]), m[4]
        flat = 2 * idx if kind == "resnets" else 2 * idx + 1
        return f"{part}.middle.{flat}.{_res_inner(rest, _RES_D2O, key)}"
    m = re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key)
    if m:
        flat = int(m[1]) * (num_res_blocks + 2) + int(m[2])
        return f"decoder.upsamples.{flat}.{_res_inner(m[3], _RES_D2O, key)}"
    m = re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key)
    if m:
        flat = int(m[1]) * (num_res_blocks + 2) + num_res_blocks + 1
        return f"decoder.upsamples.{flat}.{_res_inner(m[2], {}, key)}"
    raise KeyLayoutError(f"no original-layout name for diffusers key {key!r}")


def original_to_diffusers_key(key: str, num_res_blocks: int = 2) -> str:
    """Map one original Wan2.1 VAE key (`Wan2.1_VAE.pth`) to its diffusers `AutoencoderKLWan` name."""
    for o, d in _TOP_O2D.items():
        if key.startswith(o):
            return d + key[len(o) :]
    m = re.fullmatch(r"encoder\.downsamples\.(\d+)\.(.+)", key)
    if m:
        return f"encoder.down_blocks.{m[1]}.{_res_inner(m[2], _RES_O2D, key)}"
    m = re.fullmatch(r"(encoder|decoder)\.middle\.(\d+)\.(.+)", key)
    if m:
        part, flat, rest = m[1], int(m[2]), m[3]
        kind = "resnets" if flat % 2 == 0 else "attentions"
        return f"{part}.mid_block.{kind}.{flat // 2}.{_res_inner(rest, _RES_O2D, key)}"
    m = re.fullmatch(r"decoder\.upsamples\.(\d+)\.(.+)", key)
    if m:
        level, j = divmod(int(m[1]), num_res_blocks + 2)
        if j <= num_res_blocks:
            return f"decoder.up_blocks.{level}.resnets.{j}.{_res_inner(m[2], _RES_O2D, key)}"
        return f"decoder.up_blocks.{level}.upsamplers.0.{_res_inner(m[2], {}, key)}"
    raise KeyLayoutError(f"no diffusers name for original-layout key {key!r}")


def _convert(sd: Mapping[str, torch.Tensor], fn, num_res_blocks: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    bad: list[str] = []
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise KeyLayoutError(f"value of key {k!r} is a {type(v).__name__}, not a tensor (wrapped checkpoint?)")
        try:
            new = fn(k, num_res_blocks)
        except KeyLayoutError:
            bad.append(k)
            continue
        if new in out:
            raise KeyLayoutError(f"two keys map to {new!r}")
        out[new] = v
    if bad:
        raise KeyLayoutError(f"{len(bad)} unexpected keys not in the layout: {_short(bad)}")
    return out


def original_to_diffusers(sd: Mapping[str, torch.Tensor], num_res_blocks: int = 2) -> dict[str, torch.Tensor]:
    """Rename a whole original-layout state dict to diffusers names. Raises `KeyLayoutError` on unknown keys."""
    return _convert(sd, original_to_diffusers_key, num_res_blocks)


def diffusers_to_original(sd: Mapping[str, torch.Tensor], num_res_blocks: int = 2) -> dict[str, torch.Tensor]:
    """Rename a whole diffusers-layout state dict to original names. Raises `KeyLayoutError` on unknown keys."""
    return _convert(sd, diffusers_to_original_key, num_res_blocks)


def detect_layout(keys) -> str:
    """Return "original" or "diffusers" from the key names; raise `KeyLayoutError` if it is neither."""
    keys = list(keys)
    if any(k.startswith(("encoder.downsamples.", "decoder.upsamples.")) for k in keys):
        return "original"
    if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in keys):
        return "diffusers"
    raise KeyLayoutError(f"not a Wan VAE state dict (neither original nor diffusers layout); keys: {_short(keys)}")


def _short(keys, n: int = 8) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def check_and_load(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], what: str = "checkpoint") -> None:
    """Strictly load `sd` into `module`; raise `KeyLayoutError` naming missing / unexpected / mis-shaped keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [f"{k}: {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(sd)) if tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_short(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_short(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches: {'; '.join(shapes[:8])}")
        raise KeyLayoutError(f"{what} does not match the model layout: " + " | ".join(parts))
    module.load_state_dict(dict(sd), strict=True)
