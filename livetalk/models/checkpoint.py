"""DiT checkpoint IO: load / save, layout recognition by key hash, and strict layout errors.

The published loaders pick a config from the md5 of the sorted "key:shape" and "key" strings and silently
fall back to a wrong default config when the hash is unknown (spec §2.1, pitfall 10). Here an unknown layout
is an error that names the missing, unexpected and mis-shaped tensors against the closest known preset.

Accepted files: `.safetensors`; `.pt` / `.pth` / `.bin` holding a state dict or a dict with a `model`,
`generator`, `generator_ema` or `state_dict` entry. Common wrapper prefixes (`model.`, `generator.`,
`module.`, `_fsdp_wrapped_module.`, `_checkpoint_wrapped_module.`, `_orig_mod.`) are stripped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import torch

from .config import PRESETS, DiTConfig, get_preset
from .dit import WanDiT, build_dit

_SUBDICTS = ("generator_ema", "generator", "model", "state_dict")
_LEADING = ("model.", "generator.", "module.")
_INNER = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")
CONFIG_METADATA_KEY = "livetalk_config"
# Set to "still-video" on checkpoints trained with the still-reference cond (`TrainConfig.ref_video`, session 33):
# the runtime then builds that cond (`runtime.avatar.AvatarModels.still_cond`), and the training stages refuse to mix
# the two conds.
COND_METADATA_KEY = "livetalk_cond"
# The latent space a DiT was trained in (`WanVAE.latent_space_id()` of the VAE that encoded its training latents,
# session 38): the runtime and the training stages refuse a VAE or another DiT of another space. Unmarked files
# (published checkpoints, older tiny ones) are not checked.
LATENT_SPACE_METADATA_KEY = "livetalk_vae_space"


class CheckpointLayoutError(ValueError):
    """A checkpoint's tensors do not match the expected architecture."""


def key_hash(shapes: dict[str, tuple[int, ...]]) -> str:
    """The reference loaders' layout hash: md5 of sorted `key:d0_d1_…` strings plus the bare keys."""
    items = sorted([f"{k}:{'_'.join(map(str, s))}" for k, s in shapes.items()] + list(shapes))
    return hashlib.md5(",".join(items).encode()).hexdigest()


def shapes_of(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


@functools.lru_cache(maxsize=None)
def expected_shapes(cfg: DiTConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a config's state dict (built on the meta device: no memory)."""
    return shapes_of(build_dit(cfg, device="meta").state_dict())


@functools.lru_cache(maxsize=None)
def preset_hashes() -> dict[str, str]:
    return {name: key_hash(expected_shapes(cfg)) for name, cfg in PRESETS.items()}


def strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (FSDP, torch.compile, `model.` / `generator.` shared by every key)."""
    out = {}
    for k, v in state_dict.items():
        for inner in _INNER:
            k = k.replace(inner, "")
        out[k] = v
    changed = True
    while changed and out:
        changed = False
        for prefix in _LEADING:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                changed = True
    return out


def read_state_dict(path: str | Path, mmap: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load tensors (on CPU) and metadata from a checkpoint file; prefixes stripped (`mmap`: torch files are
    memory-mapped, not read)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    metadata: dict[str, str] = {}
    if path.suffix == ".safetensors":
        sd, metadata = _read_safetensors(path, lambda f, k: f.get_tensor(k))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except Exception as err:
            raise CheckpointLayoutError(f"{path}: not a readable torch checkpoint ({err})") from err
        if isinstance(obj, dict):
            for key in _SUBDICTS:
                if isinstance(obj.get(key), dict):
                    obj = obj[key]
                    break
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointLayoutError(f"{path}: no state dict of tensors found (looked for {', '.join(_SUBDICTS)})")
        sd = obj
    return strip_prefixes(sd), metadata


def read_shapes(path: str | Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and metadata of a checkpoint without loading its tensors (safetensors: the header only;
    torch files: memory-mapped), prefixes stripped. What every rank checks before meta-device init."""
    path = Path(path)
    if path.suffix != ".safetensors":
        sd, metadata = read_state_dict(path, mmap=True)
        return shapes_of(sd), metadata
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    shapes, metadata = _read_safetensors(path, lambda f, k: tuple(f.get_slice(k).get_shape()))
    return strip_prefixes(shapes), metadata


def _read_safetensors(path: Path, get) -> tuple[dict, dict[str, str]]:
    """`{key: get(file, key)}` and the metadata of a safetensors file; a corrupt file raises CheckpointLayoutError."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: get(f, k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise CheckpointLayoutError(f"{path}: not a readable safetensors file ({err})") from err


def layout_diff(expected: dict[str, tuple[int, ...]], got: dict[str, tuple[int, ...]]) -> tuple[list, list, list]:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    misshaped = sorted((k, expected[k], got[k]) for k in set(expected) & set(got) if expected[k] != got[k])
    return missing, unexpected, misshaped


def _format_diff(name: str, diff: tuple[list, list, list], limit: int = 8) -> str:
    missing, unexpected, misshaped = diff

    def show(items):
        text = ", ".join(str(i) for i in items[:limit])
        return text + (f", … ({len(items) - limit} more)" if len(items) > limit else "")

    lines = [f"checkpoint does not match the {name!r} layout:"]
    if missing:
        lines.append(f"  missing ({len(missing)}): {show(missing)}")
    if unexpected:
        lines.append(f"  unexpected ({len(unexpected)}): {show(unexpected)}")
    if misshaped:
        lines.append(f"  mis-shaped ({len(misshaped)}): " + show([f"{k} expected {e} got {g}" for k, e, g in misshaped]))
    return "\n".join(lines)


def check_layout(cfg: DiTConfig, shapes: dict[str, tuple[int, ...]]) -> None:
    diff = layout_diff(expected_shapes(cfg), shapes)
    if any(diff):
        raise CheckpointLayoutError(_format_diff(cfg.name, diff))


def detect_config(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None) -> DiTConfig:
    """The config whose layout the tensors have: the config stored in the metadata (checked against the shapes),
    else a preset by key hash. The metadata wins so that settings the shapes cannot show (rope_theta, eps, ...)
    are never silently replaced by a preset's.

    Raises `CheckpointLayoutError` naming the differences to the closest preset when nothing matches.
    """
    if metadata and CONFIG_METADATA_KEY in metadata:
        cfg = config_from_json(metadata[CONFIG_METADATA_KEY])
        check_layout(cfg, shapes)
        return cfg
    h = key_hash(shapes)
    for name, ph in preset_hashes().items():
        if ph == h:
            return get_preset(name)

    def distance(cfg: DiTConfig) -> int:
        return sum(len(d) for d in layout_diff(expected_shapes(cfg), shapes))

    closest = min(PRESETS.values(), key=distance)
    raise CheckpointLayoutError(
        f"unknown DiT layout (key hash {h}, {len(shapes)} tensors); closest preset is {closest.name!r}.\n"
        + _format_diff(closest.name, layout_diff(expected_shapes(closest), shapes))
    )


def config_to_json(cfg: DiTConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def config_from_json(text: str) -> DiTConfig:
    data = json.loads(text)
    data["patch_size"] = tuple(data["patch_size"])
    return DiTConfig(**data)


def load_dit(
    path: str | Path,
    *,
    preset: str | DiTConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> WanDiT:
    """Load a DiT checkpoint, recognising its architecture (or checking it against `preset`), strictly.

    `dtype=None` keeps the file's dtype. The model is returned in eval mode.
    """
    sd, metadata = read_state_dict(path)
    shapes = shapes_of(sd)
    if preset is not None:
        cfg = get_preset(preset) if isinstance(preset, str) else preset
        check_layout(cfg, shapes)
    else:
        cfg = detect_config(shapes, metadata)
    model = build_dit(cfg, device="meta")
    model.load_state_dict(sd, strict=True, assign=True)
    file_dtype = next(iter(sd.values())).dtype
    return model.to(device=device, dtype=dtype or file_dtype).eval()


def save_dit(model: WanDiT, path: str | Path, extra_metadata: dict[str, str] | None = None,
             state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Save as safetensors with bare published key names plus the config in the metadata.

    `state_dict` replaces `model.state_dict()` (e.g. the full tensors gathered from an FSDP-sharded model).
    `extra_metadata` may not set the config key: the config always comes from `model.cfg`.
    """
    from safetensors.torch import save_file

    if CONFIG_METADATA_KEY in (extra_metadata or {}):
        raise ValueError(f"save_dit: extra_metadata may not set {CONFIG_METADATA_KEY!r} (it is written from model.cfg)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = model.state_dict() if state_dict is None else state_dict
    sd = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    metadata = {CONFIG_METADATA_KEY: config_to_json(model.cfg), **(extra_metadata or {})}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(sd, str(tmp), metadata=metadata)
    tmp.replace(path)  # atomic: a killed save never leaves a truncated checkpoint behind
    return path


def checkpoint_info(path: str | Path) -> dict:
    """Summary of a checkpoint file: detected preset (or the layout error), counts, dtypes, key hash."""
    sd, metadata = read_state_dict(path)
    shapes = shapes_of(sd)
    info = {
        "path": str(path),
        "tensors": len(sd),
        "parameters": sum(v.numel() for v in sd.values()),
        "dtypes": sorted({str(v.dtype).replace("torch.", "") for v in sd.values()}),
        "key_hash": key_hash(shapes),
    }
    try:
        info["preset"] = detect_config(shapes, metadata).name
    except CheckpointLayoutError as err:
        info["preset"] = None
        info["error"] = str(err)
    return info


def trained_with_still_cond(path: str | Path) -> bool:
    """True when the checkpoint is marked `COND_METADATA_KEY: still-video` (trained with `ref_video`); header only."""
    return read_shapes(path)[1].get(COND_METADATA_KEY) == "still-video"


def check_trained_cond(path: str | Path, still: bool, setting: str) -> None:
    """Raise `ValueError` unless `path` was trained with the cond its caller gives it (`still`: the still-reference
    cond, else the published one); `setting` names how the caller gives it (e.g. "`ref_video`")."""
    marked = trained_with_still_cond(path)
    if marked != still:
        raise ValueError(f"{path} was trained {'with' if marked else 'without'} the still-reference cond; "
                         f"{'set' if marked else 'drop'} {setting} (docs/distillation.md)")


def trained_latent_space(path: str | Path) -> str | None:
    """The `LATENT_SPACE_METADATA_KEY` mark of a checkpoint (header only; None when unmarked)."""
    return read_shapes(path)[1].get(LATENT_SPACE_METADATA_KEY)


def check_latent_space(path: str | Path, space: str | None, what: str) -> None:
    """Raise `ValueError` when `path` is marked with another latent space than `space` (`what` names where `space`
    comes from, e.g. "the VAE weights/tiny_vae.safetensors"). Either side unmarked: no check."""
    marked = trained_latent_space(path)
    if marked and space and marked != space:
        raise ValueError(f"{path} was trained on the latents of VAE space {marked}, but {what} is space {space}: "
                         "its samples would decode to the wrong picture (pass the VAE it was trained with; "
                         "`WanVAE.latent_space_id()`)")


def average_checkpoints(paths: list[str | Path], out: str | Path, weights: list[float] | None = None,
                        dtype: torch.dtype = torch.float32, extra_metadata: dict[str, str] | None = None) -> Path:
    """Uniform (or `weights`-weighted) average of DiT checkpoints of one layout ("model soup"), saved as
    safetensors at `out` in `dtype` (float32, float16 or bfloat16; float16 is how the tiny student ships). The
    inputs must share a preset and keys exactly (CheckpointLayoutError otherwise); the average is taken in fp64 and
    rounded once to `dtype`; each weight must be >= 0 with a positive sum (weights are normalised). The metadata
    records the sources and weights, plus `extra_metadata` (e.g. a "source" line for a model card), which may not
    set those keys or the config. The inputs' cond mark (`COND_METADATA_KEY`) is carried over; inputs trained with
    different conds are refused."""
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"average_checkpoints: dtype must be one of torch.float32 / float16 / bfloat16, got {dtype}")
    if not paths:
        raise ValueError("average_checkpoints: no checkpoints given")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"average_checkpoints: need one weight >= 0 per checkpoint with a positive sum, got {weights}")
    total = sum(weights)
    meta = {"weights": "average", "average_of": json.dumps([str(p) for p in paths]),
            "average_weights": json.dumps([w / total for w in weights])}
    extra_metadata = dict(extra_metadata or {})
    # save_dit refuses the config key too, but only after every checkpoint is loaded: fail before that
    if clash := sorted(set(extra_metadata) & (set(meta) | {CONFIG_METADATA_KEY})):
        raise ValueError(f"average_checkpoints: extra_metadata may not set {clash} (written by the average itself)")
    headers = [read_shapes(p)[1] for p in paths]
    for key in (COND_METADATA_KEY, LATENT_SPACE_METADATA_KEY):  # the cond and latent space a model was trained in
        marks = {h.get(key) for h in headers}
        if len(marks) > 1:
            raise ValueError(f"average_checkpoints: the checkpoints were trained with different conds or latent spaces "
                             f"({key}: {sorted(str(c) for c in marks)}); not averaging")
        if (mark := marks.pop()) is not None:
            if extra_metadata.get(key, mark) != mark:
                raise ValueError(f"average_checkpoints: extra_metadata sets {key} against its inputs' {mark!r}")
            extra_metadata[key] = mark  # carried over: the runtime must build the same cond, decode with that VAE
    first = load_dit(paths[0], dtype=torch.float32)
    acc = {k: v.double() * (weights[0] / total) for k, v in first.state_dict().items()}
    for path, w in zip(paths[1:], weights[1:]):
        sd, metadata = read_state_dict(path)
        shapes = shapes_of(sd)
        check_layout(first.cfg, shapes)
        cfg = detect_config(shapes, metadata)
        if cfg != first.cfg:
            raise CheckpointLayoutError(f"{path}: same tensor shapes as {paths[0]} but a different config "
                                        f"({cfg} vs {first.cfg}); not averaging")
        for k, v in sd.items():
            acc[k] += v.double() * (w / total)
    state = {k: v.to(dtype) for k, v in acc.items()}
    return save_dit(first, out, {**extra_metadata, **meta}, state_dict=state)
