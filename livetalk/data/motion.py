"""Motion from text: prompt labels, prompt templates, and per-frame head/expression tracks.

A clip has one motion label; the prompt names it in words and the renderer follows it, so a motion
classifier on the video can check text conditioning. `label_from_prompt` maps free text back to a
label by keywords (works on real-dataset prompts too; returns None when nothing matches).
"""

from __future__ import annotations

import numpy as np

MOTIONS = ("still", "nod", "shake", "tilt", "turn", "smile", "blink", "calm", "excited")

_TEMPLATES = {
    "still": ("A person keeps their head completely still while talking.",
              "{s} stays still and speaks without moving.", "{s} talks, head motionless."),
    "nod": ("A person nodding while talking.", "{s} nods their head as they speak.",
            "{s} keeps nodding along while speaking."),
    "shake": ("A person shaking their head while talking.", "{s} shakes their head from side to side as they speak.",
              "{s} talks and shakes the head."),
    "tilt": ("A person tilting their head to one side while talking.", "{s} tilts the head and speaks.",
             "{s} speaks with the head tilted."),
    "turn": ("A person turning their head to the side while talking.", "{s} turns to one side and keeps talking.",
             "{s} speaks with the head turned away."),
    "smile": ("A person smiling while talking.", "{s} smiles warmly as they speak.", "{s} talks with a big smile."),
    "blink": ("A person blinking often while talking.", "{s} blinks a lot as they speak.",
              "{s} talks, blinking often."),
    "calm": ("A person speaking calmly.", "{s} speaks calmly and gently.", "{s} talks in a calm, relaxed way."),
    "excited": ("A person speaking excitedly.", "{s} talks excitedly with lively gestures.",
                "{s} speaks with great excitement."),
}
_SUBJECTS = ("A person", "The speaker", "A young adult", "An older person", "The host", "A presenter")
_KEYWORDS = (("nod", "nod"), ("shak", "shake"), ("tilt", "tilt"), ("turn", "turn"), ("smil", "smile"),
             ("blink", "blink"), ("excit", "excited"), ("calm", "calm"), ("still", "still"), ("motionless", "still"))


def make_prompt(label: str, rng: np.random.Generator) -> str:
    """A natural-language prompt for motion `label` (one of MOTIONS)."""
    if label not in _TEMPLATES:
        raise ValueError(f"unknown motion {label!r}; expected one of {MOTIONS}")
    t = _TEMPLATES[label][int(rng.integers(len(_TEMPLATES[label])))]
    return t.format(s=_SUBJECTS[int(rng.integers(len(_SUBJECTS)))])


def label_from_prompt(prompt: str) -> str | None:
    """Motion label named in `prompt` (first keyword match), or None."""
    p = prompt.lower()
    for key, label in _KEYWORDS:
        if key in p:
            return label
    return None


def _smooth_noise(rng: np.random.Generator, n: int, fps: int, hz: float) -> np.ndarray:
    """Band-limited noise [n] with unit-ish amplitude and content below `hz`."""
    knots = max(2, int(n / fps * hz) + 3)
    pts = rng.normal(0, 1, knots)
    t = np.linspace(0, knots - 1, n)
    return np.interp(t, np.arange(knots), pts).astype(np.float32)


def _ease(n: int, fps: int, rise_s: float, delay_s: float) -> np.ndarray:
    t = np.arange(n) / fps
    u = np.clip((t - delay_s) / rise_s, 0, 1)
    return (u * u * (3 - 2 * u)).astype(np.float32)


def _blinks(rng: np.random.Generator, n: int, fps: int, mean_gap_s: float) -> np.ndarray:
    out = np.zeros(n, np.float32)
    shape = np.array([0.6, 1.0, 0.5], np.float32)
    t = rng.uniform(0.3, mean_gap_s)
    while True:
        f = int(t * fps)
        if f >= n:
            break
        m = min(len(shape), n - f)
        out[f:f + m] = np.maximum(out[f:f + m], shape[:m])
        t += max(0.35, rng.normal(mean_gap_s, 0.25 * mean_gap_s))
    return out


def motion_tracks(label: str, n_frames: int, rng: np.random.Generator, speaking: np.ndarray,
                  fps: int = 16) -> dict[str, np.ndarray]:
    """Head pose and expression tracks for `label`, float32 [T] each.

    Keys: yaw, pitch, roll (radians), smile, brow, blink (in [0,1]), dx, dy (normalised units).
    `speaking` [T] (1 while speech is playing) adds small speech-locked motion; silence stays quiet.
    """
    if label not in MOTIONS:
        raise ValueError(f"unknown motion {label!r}; expected one of {MOTIONS}")
    n = n_frames
    t = np.arange(n, dtype=np.float32) / fps
    z = np.zeros(n, np.float32)
    sp = np.asarray(speaking, np.float32)
    idle = 0.0 if label == "still" else 1.0
    yaw = 0.025 * idle * _smooth_noise(rng, n, fps, 0.6)
    pitch = 0.02 * idle * _smooth_noise(rng, n, fps, 0.6) + 0.02 * idle * sp * _smooth_noise(rng, n, fps, 2.0)
    roll = 0.015 * idle * _smooth_noise(rng, n, fps, 0.4)
    smile, brow = z.copy(), 0.1 * idle * sp * np.clip(_smooth_noise(rng, n, fps, 1.0), 0, 1)
    blink = _blinks(rng, n, fps, rng.uniform(2.5, 4.5))
    phase = rng.uniform(0, 2 * np.pi)
    side = float(rng.choice([-1.0, 1.0]))
    if label == "nod":
        pitch = pitch + 0.28 * np.sin(2 * np.pi * rng.uniform(0.9, 1.4) * t + phase)
    elif label == "shake":
        yaw = yaw + 0.4 * np.sin(2 * np.pi * rng.uniform(0.8, 1.2) * t + phase)
    elif label == "tilt":
        roll = roll + side * rng.uniform(0.2, 0.28) * _ease(n, fps, 0.5, rng.uniform(0, 0.3))
    elif label == "turn":
        yaw = yaw + side * rng.uniform(0.45, 0.6) * _ease(n, fps, 0.5, rng.uniform(0, 0.3))
    elif label == "smile":
        smile = rng.uniform(0.8, 1.0) * _ease(n, fps, 0.4, rng.uniform(0, 0.3))
    elif label == "blink":
        blink = _blinks(rng, n, fps, rng.uniform(0.45, 0.7))
    elif label == "calm":
        yaw = yaw + 0.07 * np.sin(2 * np.pi * rng.uniform(0.15, 0.25) * t + phase)
        roll = roll + 0.04 * np.sin(2 * np.pi * rng.uniform(0.1, 0.2) * t + phase + 1.0)
    elif label == "excited":
        yaw = yaw + 0.12 * _smooth_noise(rng, n, fps, 3.0)
        pitch = pitch + 0.1 * _smooth_noise(rng, n, fps, 3.0)
        roll = roll + 0.06 * _smooth_noise(rng, n, fps, 2.5)
        brow = np.clip(0.6 + 0.4 * _smooth_noise(rng, n, fps, 2.0), 0, 1) * np.maximum(sp, 0.3)
        smile = np.full(n, 0.3, np.float32)
    dx = 0.01 * idle * _smooth_noise(rng, n, fps, 0.3)
    dy = 0.01 * idle * _smooth_noise(rng, n, fps, 0.3)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return {"yaw": f32(yaw), "pitch": f32(pitch), "roll": f32(roll), "smile": f32(smile), "brow": f32(brow),
            "blink": f32(blink), "dx": f32(dx), "dy": f32(dy)}
