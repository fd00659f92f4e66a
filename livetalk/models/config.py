"""Typed configuration of the Wan / OmniAvatar DiT, with named presets.

A preset is a frozen dataclass; override fields with `dataclasses.replace`, from YAML (`load_config`) or from
`key=value` strings on the command line (`apply_overrides`). The four published layouts reproduce the tensor
names and shapes of the released checkpoints exactly (see `../shared/reference/dit-checkpoint-keys.json`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of one Wan2.1-family DiT.

    Units: `dim`/`ffn_dim`/`text_dim`/`audio_dim` are feature sizes; `patch_size` is (latent frames, latent
    rows, latent columns) per token; `rope_max_frames` is in latent frames.
    """

    name: str = "custom"
    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 33  # 16 noisy latent + 16 reference latent + 1 mask (OmniAvatar); 16 for plain Wan T2V
    out_dim: int = 16
    patch_size: tuple[int, int, int] = (1, 2, 2)
    text_dim: int = 4096
    text_len: int = 512
    freq_dim: int = 256
    eps: float = 1e-6
    use_audio: bool = True
    audio_dim: int = 10752  # per-pixel-frame audio feature size (wav2vec2 [last, h0..h12] = 14 x 768)
    audio_hidden: int = 32  # AudioPack output size
    audio_pack: int = 4  # pixel frames grouped per latent frame
    rope_theta: float = 10000.0
    rope_max_frames: int = 1024  # length of the published RoPE table, in latent frames
    latent_channels: int = 16

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(f"head_dim {self.head_dim} must be even and >= 6 for 3-D RoPE")
        cond = self.in_dim - self.latent_channels
        if cond not in (0, self.latent_channels + 1):
            raise ValueError(
                f"in_dim {self.in_dim} must be {self.latent_channels} (T2V) or "
                f"{2 * self.latent_channels + 1} (latent + reference latent + mask)"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def has_cond(self) -> bool:
        """True when the model takes the reference latent + mask channels (OmniAvatar layout)."""
        return self.in_dim > self.latent_channels

    @property
    def audio_layers(self) -> list[int]:
        """Indices of the blocks that receive an additive audio projection: 2 .. num_layers // 2."""
        return list(range(2, self.num_layers // 2 + 1)) if self.use_audio else []

    @property
    def rope_split(self) -> tuple[int, int, int]:
        """Real dims of head_dim used for (frame, height, width) RoPE: 44/42/42 for head_dim 128."""
        d = self.head_dim
        hw = 2 * (d // 6)
        return d - 2 * hw, hw, hw


_WAN_1_3B = dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)
_WAN_14B = dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)

PRESETS: dict[str, DiTConfig] = {
    "livetalk-1.3b": DiTConfig(name="livetalk-1.3b", **_WAN_1_3B),
    "omniavatar-14b": DiTConfig(name="omniavatar-14b", **_WAN_14B),
    "wan2.1-t2v-1.3b": DiTConfig(name="wan2.1-t2v-1.3b", in_dim=16, use_audio=False, **_WAN_1_3B),
    "wan2.1-t2v-14b": DiTConfig(name="wan2.1-t2v-14b", in_dim=16, use_audio=False, **_WAN_14B),
    # Same structure, a few million parameters: 6 blocks (audio into blocks 2 and 3), head_dim 32,
    # text from a 384-d MiniLM token encoder (32 tokens), audio from an 80-d log-mel front end.
    "tiny": DiTConfig(
        name="tiny", dim=256, ffn_dim=1024, num_heads=8, num_layers=6, text_dim=384, text_len=32,
        audio_dim=80, audio_hidden=32,
    ),
    # The tiny teacher at twice the depth (12 blocks, audio into blocks 2..6): what `livetalk grow-depth --factor 2`
    # makes of a `tiny` checkpoint (session 33's capacity test of the teacher).
    "tiny-deep": DiTConfig(
        name="tiny-deep", dim=256, ffn_dim=1024, num_heads=8, num_layers=12, text_dim=384, text_len=32,
        audio_dim=80, audio_hidden=32,
    ),
    "tiny-t2v": DiTConfig(
        name="tiny-t2v", dim=256, ffn_dim=1024, num_heads=8, num_layers=6, text_dim=384, text_len=32,
        in_dim=16, use_audio=False,
    ),
    # For unit tests and smoke runs of the training code: the same structure at the smallest useful size.
    "micro": DiTConfig(
        name="micro", dim=64, ffn_dim=128, num_heads=2, num_layers=4, text_dim=16, text_len=4, audio_dim=8,
        audio_hidden=8,
    ),
}


def get_preset(name: str) -> DiTConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown DiT preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


def _coerce(value: Any, current: Any) -> Any:
    """Convert a YAML / command-line value to the type of the field's current value."""
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        return bool(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v]
        return tuple(type(c)(v) for c, v in zip(current, value, strict=True))
    if isinstance(current, (int, float, str)):
        return type(current)(value)
    if current is None and isinstance(value, str):
        if value.lower() in ("none", "null", ""):
            return None
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def apply_overrides(config: Any, overrides: dict[str, Any] | list[str]) -> Any:
    """Return a copy of a dataclass config with fields replaced.

    `overrides` is a mapping or a list of `key=value` strings; unknown keys raise a `KeyError`.
    """
    if isinstance(overrides, list):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form key=value")
            key, value = item.split("=", 1)
            pairs[key.strip()] = value.strip()
        overrides = pairs
    names = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise KeyError(f"{type(config).__name__} has no field {key!r}; fields: {', '.join(sorted(names))}")
        changes[key] = _coerce(value, getattr(config, key))
    return dataclasses.replace(config, **changes)


def load_config(path: str | Path, base: DiTConfig | None = None) -> DiTConfig:
    """Read a YAML file `{preset: NAME, key: value, ...}` over a preset (or `base`)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    preset = data.pop("preset", None)
    config = get_preset(preset) if preset else (base or DiTConfig())
    return apply_overrides(config, data)


__all__ = ["DiTConfig", "PRESETS", "get_preset", "apply_overrides", "load_config"]
