"""Training clips for the tiny VAE: a procedural face-like video generator and a reader for the synthetic world.

Two sources behind one interface, `ClipSource.sample(batch, frames, generator) -> [B, T, 3, H, W]` float in [-1, 1]:
- `ToyFaceSource`: cartoon talking heads (head, hair, eyes that blink, a mouth that opens and closes, torso)
  drifting over a gradient background with a few moving shapes. Rendered with soft edges at any size.
- `ManifestSource`: clips listed in `DIR/manifest.jsonl` (as written by `livetalk data synth`), decoded with
  PyAV; random windows of `frames` frames, resized to the requested size if needed.

`make_source("toy")` or `make_source("/path/to/DIR")` picks one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class ToyFaceSource:
    """Procedural face-like clips. `size` in pixels (square), clips are 16 fps worth of motion."""

    def __init__(self, size: int = 64) -> None:
        self.size = size

    def sample(self, batch: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return `[batch, frames, 3, size, size]` float32 in [-1, 1]."""
        g = generator
        B, T, S = batch, frames, self.size

        def u(lo, hi, *shape):
            return lo + (hi - lo) * torch.rand(B, *shape, generator=g)

        t = torch.arange(T, dtype=torch.float32).view(1, T) / 16.0  # seconds
        ys, xs = torch.meshgrid(torch.linspace(0, 1, S), torch.linspace(0, 1, S), indexing="ij")
        X, Y = xs.view(1, 1, S, S), ys.view(1, 1, S, S)
        soft = 1.5 / S  # edge width

        def blob(cx, cy, rx, ry):  # soft ellipse mask [B, T, S, S]
            d = torch.sqrt(((X - cx[..., None, None]) / rx[..., None, None]) ** 2
                           + ((Y - cy[..., None, None]) / ry[..., None, None]) ** 2)
            return torch.sigmoid((1 - d) * rx[..., None, None].clamp(min=0.02) / soft)

        def paint(img, mask, color):  # color [B, 3]
            m = mask.unsqueeze(2)
            return img * (1 - m) + color.view(B, 1, 3, 1, 1) * m

        # background: vertical gradient between two colours, slow brightness flicker
        c0, c1 = u(0, 1, 3), u(0, 1, 3)
        img = (c0.view(B, 1, 3, 1, 1) * (1 - Y.unsqueeze(2)) + c1.view(B, 1, 3, 1, 1) * Y.unsqueeze(2)).expand(
            B, T, 3, S, S).clone()
        # moving background shapes
        for _ in range(3):
            on = (torch.rand(B, generator=g) < 0.6).float().view(B, 1)
            cx = u(0, 1, 1) + u(-0.3, 0.3, 1) * t
            cy = u(0, 1, 1) + u(-0.3, 0.3, 1) * t
            r = u(0.05, 0.15, 1).expand(B, T)
            img = paint(img, blob(cx, cy, r, r) * on[..., None, None], u(0, 1, 3))
        # head motion: drift + sway (+ nodding), all in image fractions
        hx = u(0.38, 0.62, 1) + u(-0.05, 0.05, 1) * t + u(0, 0.03, 1) * torch.sin(2 * math.pi * u(0.3, 1.5, 1) * t)
        hy = u(0.38, 0.55, 1) + u(0, 0.02, 1) * torch.sin(2 * math.pi * u(0.5, 2.0, 1) * t + u(0, 6.3, 1))
        scale = u(0.8, 1.2, 1) * (1 + u(0, 0.05, 1) * torch.sin(2 * math.pi * u(0.2, 1.0, 1) * t))
        rx, ry = 0.18 * scale * u(0.9, 1.1, 1), 0.23 * scale * u(0.9, 1.1, 1)
        skin, hair, shirt = u(0.35, 1.0, 3), u(0.0, 0.6, 3), u(0, 1, 3)
        skin[:, 0] = torch.maximum(skin[:, 0], skin[:, 1])  # warmish skin tones
        img = paint(img, blob(hx, hy + 2.1 * ry, 2.0 * rx, 1.3 * ry), shirt)  # torso
        img = paint(img, blob(hx, hy + 0.9 * ry, 0.45 * rx, 0.6 * ry), skin * 0.9)  # neck
        img = paint(img, blob(hx, hy - 0.25 * ry, 1.08 * rx, 0.95 * ry), hair)  # hair behind
        img = paint(img, blob(hx, hy, rx, ry), skin)  # face
        # eyes: blink = short closures at random times
        blink_t = u(0, 2.0, 1)
        openness = 1 - torch.exp(-((t - blink_t) * 16 / 1.5) ** 2)  # ~1 frame closure
        eye_ry = (0.16 * ry * openness).clamp(min=0.003)
        for side in (-1, 1):
            ex = hx + side * 0.42 * rx
            ey = hy - 0.2 * ry
            img = paint(img, blob(ex, ey, 0.2 * rx, eye_ry), torch.ones(B, 3) * 0.95)
            img = paint(img, blob(ex + 0.05 * rx * torch.sin(3 * t), ey, 0.09 * rx, eye_ry.clamp(max=0.09 * ry)),
                        torch.zeros(B, 3) + 0.08)
        # mouth: opening follows a "syllable" rhythm of 2-6 Hz with random phase
        f = u(2.0, 6.0, 1)
        talk = (0.5 + 0.5 * torch.sin(2 * math.pi * f * t + u(0, 6.3, 1))) * (torch.rand(B, 1, generator=g) < 0.85)
        mouth_ry = (0.03 + 0.14 * talk) * ry
        img = paint(img, blob(hx, hy + 0.5 * ry, 0.38 * rx, mouth_ry + 0.02 * ry), torch.tensor([0.6, 0.2, 0.25]).expand(B, 3))
        img = paint(img, blob(hx, hy + 0.5 * ry, 0.3 * rx, mouth_ry), torch.zeros(B, 3) + 0.1)
        # mild sensor noise so the VAE does not learn perfectly flat regions only
        img = img + 0.01 * torch.randn(img.shape, generator=g)
        return (img.clamp(0, 1) * 2 - 1).float()


class ManifestSource:
    """Clips of a `livetalk data synth` folder: `DIR/manifest.jsonl` (one JSON object per clip, with the video
    path under "video", "path", "file" or "mp4", relative to DIR) and mp4 files. All clips are decoded once and
    kept in memory as uint8."""

    _PATH_KEYS = ("video", "video_path", "path", "file", "mp4")

    def __init__(self, folder: str | Path, size: int = 64, max_clips: int | None = None) -> None:
        self.folder = Path(folder)
        self.size = size
        manifest = self.folder / "manifest.jsonl"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} not found")
        self.clips: list[np.ndarray] = []
        for line in manifest.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            key = next((k for k in self._PATH_KEYS if k in rec), None)
            if key is None:
                raise KeyError(f"manifest record has none of {self._PATH_KEYS}: {sorted(rec)}")
            self.clips.append(read_video_uint8(self.folder / rec[key]))
            if max_clips and len(self.clips) >= max_clips:
                break
        if not self.clips:
            raise ValueError(f"{manifest} lists no clips")

    def sample(self, batch: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random windows: `[batch, frames, 3, size, size]` float32 in [-1, 1]."""
        out = []
        for _ in range(batch):
            clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=generator))]
            if clip.shape[0] < frames:
                reps = math.ceil(frames / clip.shape[0])
                clip = np.concatenate([clip] * reps, 0)
            s = int(torch.randint(clip.shape[0] - frames + 1, (1,), generator=generator))
            x = torch.from_numpy(clip[s : s + frames]).permute(0, 3, 1, 2).float() / 127.5 - 1
            if x.shape[-1] != self.size or x.shape[-2] != self.size:
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
            out.append(x)
        return torch.stack(out).clamp(-1, 1)


def read_video_uint8(path: str | Path) -> np.ndarray:
    """Decode a video file with PyAV → uint8 `[T, H, W, 3]` (RGB)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return np.stack(frames)


class MixedSource:
    """Each clip of a batch comes from one of `sources`, chosen with probabilities ∝ `weights`."""

    def __init__(self, sources: list, weights: list[float]) -> None:
        self.sources, self.weights = sources, torch.tensor(weights, dtype=torch.float64)

    def sample(self, batch: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        pick = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        return torch.cat([self.sources[int(i)].sample(1, frames, generator) for i in pick])


def make_source(spec: str, size: int = 64):
    """`"toy"` → `ToyFaceSource`; a folder with `manifest.jsonl` → `ManifestSource`; `"A*3+B"` → `MixedSource`
    drawing from A three times as often as from B (each part is itself "toy" or a folder)."""
    if "+" in spec:
        parts, weights = [], []
        for part in spec.split("+"):
            name, _, w = part.partition("*")
            parts.append(make_source(name, size))
            weights.append(float(w) if w else 1.0)
        return MixedSource(parts, weights)
    if spec == "toy":
        return ToyFaceSource(size)
    return ManifestSource(spec, size)
