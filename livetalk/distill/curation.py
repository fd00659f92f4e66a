"""Condition curation, LiveTalk's first recipe change: clean reference images and motion-focused prompts.

The published system super-resolves and filters reference images and rewrites prompts so they describe
motion (a data step, not in its code). Here:

* `assess_reference` scores an RGB image `[H, W, 3]` uint8: sharpness (variance of the Laplacian of luma,
  normalised per pixel area), brightness (mean luma in [0, 1]) and resolution (shorter side, pixels).
* `repair_reference` fixes what can be fixed — auto-levels / gamma for dark images, unsharp masking for blur,
  Lanczos upscaling for low resolution — and rejects what cannot (near-uniform or tiny images).
* `motion_focused_prompt` keeps the motion and expression content of a prompt and drops the rest.
* `degrade_reference` makes the low-quality conditions the plain recipe trains on (for the ablation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class ReferenceQuality:
    sharpness: float  # variance of the Laplacian of luma (0..255 scale)
    brightness: float  # mean luma in [0, 1]
    contrast: float  # std of luma in [0, 1]
    min_side: int  # pixels

    def problems(self, min_sharpness: float = 20.0, min_brightness: float = 0.25, min_side: int = 64) -> list[str]:
        out = []
        if self.sharpness < min_sharpness:
            out.append("blurry")
        if self.brightness < min_brightness:
            out.append("dark")
        if self.min_side < min_side:
            out.append("low-resolution")
        return out


def _luma(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def assess_reference(img: np.ndarray) -> ReferenceQuality:
    """Quality scores of an RGB uint8 image `[H, W, 3]`; sharpness is measured at 64×64 so sizes compare."""
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {img.shape}")
    small = np.asarray(Image.fromarray(img[..., :3]).resize((64, 64), Image.BILINEAR))
    y = _luma(small)
    lap = -4 * y[1:-1, 1:-1] + y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]
    luma = _luma(img) / 255.0
    return ReferenceQuality(float(lap.var()), float(luma.mean()), float(luma.std()), int(min(img.shape[:2])))


def repair_reference(img: np.ndarray, target_side: int = 64) -> tuple[np.ndarray | None, list[str]]:
    """Repair a reference image; returns (image or None if rejected, list of actions / rejection reason)."""
    q = assess_reference(img)
    if q.contrast < 0.02:
        return None, ["rejected: near-uniform image"]
    if q.min_side < 16:
        return None, [f"rejected: {q.min_side}px is too small to recover"]
    actions = []
    pil = Image.fromarray(img[..., :3])
    if q.min_side < target_side:
        scale = target_side / q.min_side
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.LANCZOS)
        actions.append("upscaled")
    problems = q.problems()
    if "dark" in problems:
        arr = np.asarray(pil).astype(np.float32) / 255.0
        lo, hi = np.percentile(arr, 1), np.percentile(arr, 99)
        arr = np.clip((arr - lo) / max(hi - lo, 1e-3), 0, 1) ** 0.8
        pil = Image.fromarray((arr * 255).round().astype(np.uint8))
        actions.append("brightened")
    if "blurry" in problems or "upscaled" in actions:
        pil = pil.filter(ImageFilter.UnsharpMask(radius=2, percent=160, threshold=1))
        actions.append("sharpened")
    return np.asarray(pil), actions


_MOTION_PATTERNS = [
    (r"\bnod\w*", "nodding"),
    (r"\bshak\w*", "shaking the head"),
    (r"\btilt\w*", "tilting the head"),
    (r"\bturn\w*", "turning the head"),
    (r"\bsmil\w*", "smiling"),
    (r"\bblink\w*", "blinking often"),
    (r"\b(still|steady|motionless)\b", "keeping the head still"),
    (r"\b(calm\w*|gentl\w*|soft\w*)\b", "speaking calmly"),
    (r"\b(excit\w*|energetic\w*|animated)\b", "speaking excitedly"),
    (r"\b(listen\w*|silent\w*|quiet\w*)\b", "listening quietly"),
]


def motion_focused_prompt(prompt: str) -> str:
    """Rewrite a prompt to its motion / expression content, e.g. "A young woman with red hair in a blue
    shirt nods and smiles while talking calmly" → "A person nodding, smiling, speaking calmly, facing the
    camera with clear lip movements." Prompts without motion words get the neutral talking description."""
    text = prompt.lower()
    found = []
    for pattern, phrase in _MOTION_PATTERNS:
        if re.search(pattern, text) and phrase not in found:
            found.append(phrase)
    if not found:
        found = ["speaking naturally"]
    return f"A person {', '.join(found)}, facing the camera with clear lip movements."


def degrade_reference(img: np.ndarray, kind: str, strength: float = 1.0) -> np.ndarray:
    """A low-quality version of `img`: kind ∈ {"blur", "dark", "lowres"} (for the plain-recipe data)."""
    pil = Image.fromarray(img[..., :3])
    if kind == "blur":
        pil = pil.filter(ImageFilter.GaussianBlur(radius=1.5 * strength * max(pil.size) / 64))
    elif kind == "dark":
        arr = np.asarray(pil).astype(np.float32) * (0.25 / strength)
        return arr.clip(0, 255).astype(np.uint8)
    elif kind == "lowres":
        small = max(4, int(min(pil.size) / (4 * strength)))
        pil = pil.resize((small, small), Image.BILINEAR).resize(pil.size, Image.BILINEAR)
    else:
        raise ValueError(f"unknown degradation {kind!r}")
    return np.asarray(pil)
