"""Phonemes → per-video-frame mouth tracks (viseme class, openness, width).

Viseme classes (ids stored in the tracks):
    0 closed (silence, p/b/m, f/v)   1 open (a, ɑ, ʌ, ə, k/g/h)   2 round (o, u, w, r)   3 wide (i, e, s, t, n)
Openness is in [0, 1] (0 = lips together, 1 = jaw fully open); width is a multiplier on the mouth width
(round < 1 < wide). Each frame spans [t/fps, (t+1)/fps) seconds; its value is the time-average of the
phonemes overlapping that window, then lightly smoothed across frames (coarticulation).
"""

from __future__ import annotations

import numpy as np

from .speech import SAMPLE_RATE, Phoneme

CLOSED, OPEN, ROUND, WIDE = 0, 1, 2, 3
VISEME_NAMES = ("closed", "open", "round", "wide")

# base symbol → (viseme, openness, width)
_TABLE: dict[str, tuple[int, float, float]] = {}
for s in ("a", "aa", "A", "A@", "aI", "aU", "V", "a#", "aI@", "aI3"):
    _TABLE[s] = (OPEN, 1.0, 1.05)
for s in ("@", "@L", "3", "E", "e@", "@5", "3:"):
    _TABLE[s] = (OPEN, 0.6, 1.0)
for s in ("i", "I", "eI", "e", "i@", "I#", "E2", "IR", "i@3"):
    _TABLE[s] = (WIDE, 0.4, 1.2)
for s in ("0", "O", "O@", "oU", "OI", "o@", "O2"):
    _TABLE[s] = (ROUND, 0.6, 0.75)
for s in ("u", "U", "U@", "w", "r", "u:", "W"):
    _TABLE[s] = (ROUND, 0.3, 0.7)
for s in ("p", "b", "m"):
    _TABLE[s] = (CLOSED, 0.0, 1.0)
for s in ("f", "v"):
    _TABLE[s] = (CLOSED, 0.08, 1.05)
for s in ("t", "d", "n", "l", "s", "z", "T", "D", "S", "Z", "tS", "dZ", "j", "t#", "d#", "n-", "l#", "?"):
    _TABLE[s] = (WIDE, 0.2, 1.1)
for s in ("k", "g", "N", "h", "x", "r-"):
    _TABLE[s] = (OPEN, 0.35, 1.0)
_SILENCE = (CLOSED, 0.0, 1.0)
_DEFAULT = (OPEN, 0.3, 1.0)


def classify_phoneme(symbol: str) -> tuple[int, float, float]:
    """espeak mnemonic → (viseme id, openness in [0,1], width multiplier)."""
    s = symbol.strip()
    if not s or s.startswith("_"):
        return _SILENCE
    base = s.rstrip("0123456789;:")
    for cand in (s, s.rstrip(":"), base, base[:2], base[:1]):
        if cand in _TABLE:
            return _TABLE[cand]
    return _DEFAULT


def mouth_tracks(phonemes: tuple[Phoneme, ...] | list[Phoneme], n_frames: int, fps: int = 16,
                 smooth: bool = True) -> dict[str, np.ndarray]:
    """Per-frame tracks from timed phonemes.

    Returns {'viseme': int64 [T], 'mouth_open': float32 [T] in [0,1], 'mouth_width': float32 [T]}.
    Frames not covered by any phoneme are silent (closed).
    """
    opening = np.zeros(n_frames, np.float64)
    width = np.zeros(n_frames, np.float64)
    overlap = np.zeros((n_frames, 4), np.float64)
    covered = np.zeros(n_frames, np.float64)
    dt = 1.0 / fps
    for ph in phonemes:
        vis, op, wd = classify_phoneme(ph.symbol)
        f0 = max(int(np.floor(ph.start_s * fps)), 0)
        f1 = min(int(np.ceil(ph.end_s * fps)), n_frames)
        for f in range(f0, f1):
            ov = min(ph.end_s, (f + 1) * dt) - max(ph.start_s, f * dt)
            if ov > 0:
                opening[f] += op * ov
                width[f] += wd * ov
                overlap[f, vis] += ov
                covered[f] += ov
    rest = np.clip(dt - covered, 0.0, None)  # uncovered time counts as silence
    overlap[:, CLOSED] += rest
    width += rest * 1.0
    opening /= dt
    width /= dt
    if smooth and n_frames >= 3:
        k = np.array([0.2, 0.6, 0.2])
        opening = np.convolve(np.pad(opening, 1, mode="edge"), k, mode="valid")
        width = np.convolve(np.pad(width, 1, mode="edge"), k, mode="valid")
    return {
        "viseme": overlap.argmax(axis=1).astype(np.int64),
        "mouth_open": np.clip(opening, 0, 1).astype(np.float32),
        "mouth_width": width.astype(np.float32),
    }


def energy_mouth_tracks(audio: np.ndarray, n_frames: int, fps: int = 16) -> dict[str, np.ndarray]:
    """Fallback when phoneme timing is unavailable: openness from per-frame RMS energy of `audio` [N] (16 kHz).

    Still audio-driven; visemes are only closed/open (threshold 0.15 on openness).
    """
    hop = SAMPLE_RATE // fps
    x = np.zeros(n_frames * hop, np.float32)
    x[: min(len(audio), len(x))] = audio[: len(x)]
    rms = np.sqrt((x.reshape(n_frames, hop) ** 2).mean(axis=1))
    ref = np.percentile(rms, 95) + 1e-6
    op = np.clip(np.sqrt(rms / ref), 0, 1) * (rms > 0.01)
    return {
        "viseme": np.where(op > 0.15, OPEN, CLOSED).astype(np.int64),
        "mouth_open": op.astype(np.float32),
        "mouth_width": np.ones(n_frames, np.float32),
    }
