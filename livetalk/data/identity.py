"""Procedural identities: many independent face traits drawn deterministically from a seed.

Discrete traits (used as probe labels) are listed in `TRAIT_CLASSES`; continuous traits (sizes, exact
colours) add further variation, so every seed is a distinct person.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import numpy as np

FACE_SHAPES = ("oval", "round", "long", "square", "heart")
HAIR_STYLES = ("bald", "short", "bangs", "side_part", "long", "bun", "curly", "buzz")
HAIR_COLORS = {  # name → RGB in [0,1]
    "black": (0.08, 0.07, 0.07), "dark_brown": (0.25, 0.15, 0.09), "brown": (0.45, 0.29, 0.16),
    "auburn": (0.55, 0.22, 0.10), "blonde": (0.86, 0.72, 0.42), "grey": (0.62, 0.62, 0.64),
    "red": (0.75, 0.30, 0.12), "blue": (0.20, 0.35, 0.80),
}
SKIN_TONES = ((0.98, 0.86, 0.76), (0.93, 0.76, 0.62), (0.84, 0.64, 0.48),
              (0.70, 0.50, 0.35), (0.52, 0.36, 0.24), (0.36, 0.24, 0.16))
EYE_COLORS = {"brown": (0.35, 0.20, 0.10), "hazel": (0.50, 0.40, 0.18), "blue": (0.25, 0.50, 0.80),
              "green": (0.25, 0.55, 0.30), "grey": (0.50, 0.55, 0.60)}
BROW_STYLES = ("thin", "thick", "arched")
NOSE_STYLES = ("small", "long", "button")
GLASSES = ("none", "clear", "sun")
FACIAL_HAIR = ("none", "stubble", "mustache", "beard")
CLOTHING = ("crew", "vneck", "collar", "hoodie", "striped")
BACKGROUNDS = ("plain", "gradient", "stripes", "dots", "vignette")
N_HUE_BINS = 8

TRAIT_CLASSES: dict[str, int] = {
    "face_shape": len(FACE_SHAPES), "skin_tone": len(SKIN_TONES), "hair_style": len(HAIR_STYLES),
    "hair_color": len(HAIR_COLORS), "eye_color": len(EYE_COLORS), "brows": len(BROW_STYLES),
    "nose": len(NOSE_STYLES), "glasses": len(GLASSES), "facial_hair": len(FACIAL_HAIR),
    "clothing": len(CLOTHING), "clothing_hue": N_HUE_BINS, "background": len(BACKGROUNDS),
    "background_hue": N_HUE_BINS, "earrings": 2,
}


@dataclass(frozen=True)
class Identity:
    """All traits of one procedural person. Colours are RGB in [0,1]; sizes in normalised image units
    (the image spans [-1, 1] in x and y)."""

    seed: int
    face_shape: int
    face_w: float
    face_h: float
    skin_tone: int
    skin: tuple[float, float, float]
    hair_style: int
    hair_color: int
    hair: tuple[float, float, float]
    hair_volume: float
    eye_color: int
    iris: tuple[float, float, float]
    eye_sep: float
    eye_y: float
    eye_size: float
    brows: int
    brow_thick: float
    nose: int
    nose_len: float
    mouth_y: float
    mouth_w: float
    lips: tuple[float, float, float]
    glasses: int
    glasses_color: tuple[float, float, float]
    facial_hair: int
    earrings: int
    clothing: int
    clothing_hue: int
    cloth: tuple[float, float, float]
    background: int
    background_hue: int
    bg1: tuple[float, float, float]
    bg2: tuple[float, float, float]
    blush: float

    def labels(self) -> dict[str, int]:
        """Discrete trait labels {name: class index} (see `TRAIT_CLASSES`)."""
        return {k: int(getattr(self, k)) for k in TRAIT_CLASSES}

    def to_dict(self) -> dict:
        return asdict(self)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _jitter(rng: np.random.Generator, rgb, amount: float) -> tuple[float, float, float]:
    return tuple(float(np.clip(c + rng.normal(0, amount), 0, 1)) for c in rgb)


def sample_identity(seed: int) -> Identity:
    """Draw an identity deterministically from `seed` (any non-negative int)."""
    if seed < 0:
        raise ValueError(f"identity seed must be >= 0, got {seed}")
    rng = np.random.default_rng([seed, 0x1D])
    shape = int(rng.integers(len(FACE_SHAPES)))
    base_w, base_h = {0: (0.40, 0.52), 1: (0.45, 0.48), 2: (0.36, 0.56), 3: (0.43, 0.50), 4: (0.42, 0.52)}[shape]
    skin_tone = int(rng.integers(len(SKIN_TONES)))
    hair_style = int(rng.integers(len(HAIR_STYLES)))
    hair_color = int(rng.integers(len(HAIR_COLORS)))
    eye_color = int(rng.integers(len(EYE_COLORS)))
    clothing_hue = int(rng.integers(N_HUE_BINS))
    background_hue = int(rng.integers(N_HUE_BINS))
    bg_h = (background_hue + rng.uniform(0.1, 0.9)) / N_HUE_BINS
    cl_h = (clothing_hue + rng.uniform(0.1, 0.9)) / N_HUE_BINS
    skin = _jitter(rng, SKIN_TONES[skin_tone], 0.025)
    lips = tuple(float(c) for c in np.clip(np.array(skin) * np.array([0.85, 0.55, 0.55]) + rng.normal(0, 0.03, 3), 0, 1))
    return Identity(
        seed=int(seed),
        face_shape=shape,
        face_w=float(base_w * rng.uniform(0.93, 1.07)),
        face_h=float(base_h * rng.uniform(0.94, 1.06)),
        skin_tone=skin_tone,
        skin=skin,
        hair_style=hair_style,
        hair_color=hair_color,
        hair=_jitter(rng, list(HAIR_COLORS.values())[hair_color], 0.03),
        hair_volume=float(rng.uniform(0.9, 1.15)),
        eye_color=eye_color,
        iris=_jitter(rng, list(EYE_COLORS.values())[eye_color], 0.03),
        eye_sep=float(rng.uniform(0.15, 0.2)),
        eye_y=float(rng.uniform(-0.12, -0.04)),
        eye_size=float(rng.uniform(0.85, 1.2)),
        brows=int(rng.integers(len(BROW_STYLES))),
        brow_thick=float(rng.uniform(0.8, 1.2)),
        nose=int(rng.integers(len(NOSE_STYLES))),
        nose_len=float(rng.uniform(0.85, 1.15)),
        mouth_y=float(rng.uniform(0.24, 0.30)),
        mouth_w=float(rng.uniform(0.10, 0.15)),
        lips=lips,
        glasses=int(rng.choice(3, p=[0.6, 0.25, 0.15])),
        glasses_color=_hsv(rng.uniform(), rng.uniform(0, 0.8), rng.uniform(0.05, 0.6)),
        facial_hair=int(rng.choice(4, p=[0.55, 0.15, 0.15, 0.15])),
        earrings=int(rng.random() < 0.3),
        clothing=int(rng.integers(len(CLOTHING))),
        clothing_hue=clothing_hue,
        cloth=_hsv(cl_h, rng.uniform(0.35, 0.85), rng.uniform(0.35, 0.9)),
        background=int(rng.integers(len(BACKGROUNDS))),
        background_hue=background_hue,
        bg1=_hsv(bg_h, rng.uniform(0.2, 0.6), rng.uniform(0.55, 0.95)),
        bg2=_hsv(bg_h + rng.uniform(-0.08, 0.08), rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.7)),
        blush=float(rng.uniform(0.0, 0.35)),
    )
