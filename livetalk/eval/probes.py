"""Small CNN probes trained on the synthetic world (CPU, fp32), and their safetensors checkpoints.

- FaceStateNet: frame [B, 3, 64, 64] → face state [B, 7] (STATE_KEYS: mouth openness, pose, expression).
- IdentityNet: frame [B, 3, 32, 32] → unit embedding [B, 128] (+ trait logits, used only in training).
- MotionNet: face-state sequence [B, T, 7] → motion logits [B, 9] (+ clip embedding [B, 64]).
Frames of any size are area-resized to the probe's `input_size` by `prepare_frames`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.identity import TRAIT_CLASSES
from ..data.motion import MOTIONS

PROBE_SIZE = 64
STATE_KEYS = ("mouth_open", "yaw", "pitch", "roll", "smile", "brow", "blink")
STATE_SCALE = np.array([1.0, 0.6, 0.35, 0.3, 1.0, 1.0, 1.0], np.float32)  # outputs are state / scale
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def prepare_frames(frames: np.ndarray | torch.Tensor, size: int = PROBE_SIZE) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float32 [T, 3, size, size] in [-1, 1] (area resize when H, W ≠ size)."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames, copy=True))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area")
    return x.contiguous()


def _trunk(width: int = 16) -> nn.Sequential:
    """[B, 3, S, S] → flattened [B, 4·width·(S/16)²] (four stride-2 stages)."""
    w = width
    return nn.Sequential(
        nn.Conv2d(3, w, 3, stride=2, padding=1), nn.GELU(),  # 32
        nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.GroupNorm(8, 2 * w), nn.GELU(),  # 16
        nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.GroupNorm(8, 2 * w), nn.GELU(),
        nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.GroupNorm(8, 4 * w), nn.GELU(),  # 8
        nn.Conv2d(4 * w, 4 * w, 3, stride=2, padding=1), nn.GroupNorm(8, 4 * w), nn.GELU(),  # 4
        nn.Flatten(),
    )


class FaceStateNet(nn.Module):
    """Regress the face state from one frame: [B, 3, 64, 64] → [B, 7] in the units of STATE_KEYS."""

    input_size = 64

    def __init__(self, width: int = 16):
        super().__init__()
        self.trunk = _trunk(width)
        self.head = nn.Sequential(nn.Linear(4 * width * 16, 128), nn.GELU(), nn.Linear(128, len(STATE_KEYS)))
        self.register_buffer("scale", torch.from_numpy(STATE_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)) * self.scale


class IdentityNet(nn.Module):
    """Identity embedding: [B, 3, 32, 32] → L2-normalised [B, 128]; `traits(x)` gives per-trait logits."""

    input_size = 32

    def __init__(self, width: int = 16, dim: int = 128):
        super().__init__()
        self.trunk = _trunk(width)
        self.proj = nn.Linear(4 * width * (self.input_size // 16) ** 2, dim)
        self.heads = nn.ModuleDict({k: nn.Linear(dim, n) for k, n in TRAIT_CLASSES.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x), dim=-1)

    def traits(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.gelu(self.features(x))
        return {k: head(h) for k, head in self.heads.items()}


class MotionNet(nn.Module):
    """Motion classifier over a face-state sequence [B, T, 7] (any T ≥ 8) → logits [B, len(MOTIONS)]."""

    def __init__(self, dim: int = 64):
        super().__init__()
        c = len(STATE_KEYS)
        self.register_buffer("scale", torch.from_numpy(STATE_SCALE))
        self.conv = nn.Sequential(
            nn.Conv1d(2 * c, dim, 5, padding=2), nn.GELU(),
            nn.Conv1d(dim, dim, 5, padding=4, dilation=2), nn.GELU(),
            nn.Conv1d(dim, dim, 5, padding=8, dilation=4), nn.GELU(),
        )
        self.head = nn.Linear(2 * dim, len(MOTIONS))

    def embed(self, s: torch.Tensor) -> torch.Tensor:
        """[B, T, 7] → clip embedding [B, 2·dim] (mean and max over time)."""
        s = s / self.scale
        d = torch.diff(s, dim=1, prepend=s[:, :1]) * 4.0
        h = self.conv(torch.cat([s, d], dim=-1).transpose(1, 2))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=-1)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(s))


_CLASSES = {"face_state": FaceStateNet, "identity": IdentityNet, "motion": MotionNet}


def save_probe(model: nn.Module, name: str, directory: Path = WEIGHTS_DIR) -> Path:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.safetensors"
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
    return path


_CACHE: dict[tuple[str, str], nn.Module] = {}


def load_probe(name: str, directory: Path = WEIGHTS_DIR) -> nn.Module:
    """Load a shipped probe ('face_state', 'identity', 'motion') in eval mode (cached per process)."""
    from safetensors.torch import load_file

    if name not in _CLASSES:
        raise ValueError(f"unknown probe {name!r}; expected one of {sorted(_CLASSES)}")
    key = (name, str(directory))
    if key not in _CACHE:
        path = Path(directory) / f"{name}.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"probe weights missing: {path} (run `livetalk eval train-probes`)")
        model = _CLASSES[name]()
        model.load_state_dict(load_file(str(path)))
        _CACHE[key] = model.eval()
    return _CACHE[key]
