"""Controlled corruptions of a reference dataset, to check that every metric moves the right way.

`corrupt_dataset(reference, out, kind, amount)` writes OUT/clips/<id>.mp4 (+ a manifest) that
`livetalk eval --generated OUT --reference REFERENCE` can score. Kinds (amount meaning):
    copy            unchanged ground truth (amount unused)
    shift           video delayed by `amount` frames vs the audio (negative = early), edge-padded
    black           every round(1/amount)-th frame replaced by black (amount = rate in (0, 1])
    noise           Gaussian pixel noise, σ = amount (0–255 units)
    flicker         per-frame brightness jitter, σ = amount
    blur_late       last half of the clip progressively blurred (quality collapse), amount = passes
    freeze          every frame = the reference image (talking-head "still image" baseline)
    swap_identity   same tracks rendered with another identity (seed + amount)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.dataset import MANIFEST, TalkingHeadDataset
from ..data.identity import sample_identity
from ..data.media import write_video
from ..data.render import FaceState, render_frames

KINDS = ("copy", "shift", "black", "noise", "flicker", "blur_late", "freeze", "swap_identity")


def _blur(f: np.ndarray) -> np.ndarray:
    x = f.astype(np.float32)
    x = (x + np.roll(x, 1, -2) + np.roll(x, -1, -2) + np.roll(x, 1, -3) + np.roll(x, -1, -3)) / 5
    return x.round().astype(np.uint8)


def corrupt_frames(frames: np.ndarray, kind: str, amount: float, reference: np.ndarray | None = None,
                   tracks: dict | None = None, seed: int = 0) -> np.ndarray:
    """Apply corruption `kind` to frames uint8 [T, H, W, 3]; returns a new uint8 [T, H, W, 3]."""
    rng = np.random.default_rng(seed)
    f = frames.copy()
    t = len(f)
    if kind == "copy":
        return f
    if kind == "shift":
        return f[np.clip(np.arange(t) - int(amount), 0, t - 1)]
    if kind == "black":
        if not 0 < amount <= 1:
            raise ValueError("black: amount is a rate in (0, 1]")
        f[:: max(1, int(round(1 / amount)))] = 0
        return f
    if kind == "noise":
        return np.clip(f + rng.normal(0, amount, f.shape), 0, 255).astype(np.uint8)
    if kind == "flicker":
        return np.clip(f + rng.normal(0, amount, (t, 1, 1, 1)), 0, 255).astype(np.uint8)
    if kind == "blur_late":
        for i in range(t // 2, t):
            passes = int(round(amount * (i - t // 2 + 1) / (t - t // 2)))
            for _ in range(passes):
                f[i] = _blur(f[i])
        return f
    if kind == "freeze":
        if reference is None:
            raise ValueError("freeze needs the reference image")
        return np.repeat(reference[None], t, axis=0)
    if kind == "swap_identity":
        if tracks is None or "identity_seed" not in tracks:
            raise ValueError("swap_identity needs ground-truth tracks (synthetic data)")
        fields = ("yaw", "pitch", "roll", "mouth_open", "mouth_width", "smile", "brow", "blink", "dx", "dy")
        state = FaceState(**{k: np.asarray(tracks[k], np.float32)[:t] for k in fields})
        idt = sample_identity(int(tracks["identity_seed"]) + max(1, int(amount)))
        return render_frames(idt, state, f.shape[1])
    raise ValueError(f"unknown corruption {kind!r}; expected one of {KINDS}")


def corrupt_dataset(reference: str | Path, out: str | Path, kind: str, amount: float = 0.0,
                    limit: int | None = None) -> int:
    """Write corrupted versions of the reference videos to OUT; returns the number of clips written."""
    ds = TalkingHeadDataset(reference)
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        s = ds[i]
        g = corrupt_frames(s.frames, kind, amount, s.reference, s.tracks, seed=i)
        write_video(out / "clips" / f"{s.id}.mp4", g, int(round(s.fps)), s.audio)
        lines.append(json.dumps({"id": s.id, "prompt": s.prompt, "video": f"clips/{s.id}.mp4",
                                 "duration_s": len(g) / s.fps, "fps": s.fps}))
    (out / MANIFEST).write_text("\n".join(lines) + "\n")
    return len(lines)
