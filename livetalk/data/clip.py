"""One synthetic clip: identity + speech (with silences) + prompt-driven motion → frames and tracks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .identity import Identity, sample_identity
from .motion import MOTIONS, make_prompt, motion_tracks
from .render import FaceState, render_frames, render_reference
from .sentences import random_sentence
from .speech import SAMPLE_RATE, Phoneme, SpeechSession
from .visemes import energy_mouth_tracks, mouth_tracks

FPS = 16
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 1000
_VOICES = ("en-us", "en-us+m3", "en-us+f3", "en-us+f2", "en-us+m7", "en-us+f4")


@dataclass(frozen=True)
class ClipConfig:
    """Clip recipe. duration_s is rounded to whole frames (16 per second).

    motion: a label from MOTIONS or None (drawn from the seed). identity_seed: None → the clip seed.
    listen_prob: chance that a gap between sentences becomes a long listening (silent) segment.
    use_library: False forces the espeak-ng command line (no phoneme timing → energy-driven mouth).
    """

    duration_s: float = 4.0
    size: int = 64
    motion: str | None = None
    identity_seed: int | None = None
    listen_prob: float = 0.25
    use_library: bool = True

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be an even number >= 16 (yuv420 video), got {self.size}")
        if not 0.0 <= self.listen_prob <= 1.0:
            raise ValueError(f"listen_prob must be in [0, 1], got {self.listen_prob}")

    def n_frames(self) -> int:
        n = int(round(self.duration_s * FPS))
        if n < 1:
            raise ValueError(f"duration_s={self.duration_s} gives no frames")
        return n


@dataclass
class Clip:
    """frames uint8 [T, H, W, 3]; audio float32 [T·1000]; reference uint8 [H, W, 3]; tracks: per-frame arrays
    plus scalars (see `build_tracks`)."""

    id: str
    prompt: str
    motion: str
    identity: Identity
    frames: np.ndarray
    audio: np.ndarray
    reference: np.ndarray
    tracks: dict[str, np.ndarray] = field(default_factory=dict)
    text: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.frames) / FPS


def _speech_timeline(rng: np.random.Generator, n_frames: int, motion: str, voice: str, cfg: ClipConfig):
    """Fill n_frames of audio with sentences and silences. Returns (audio [N], phonemes, speaking [T], text)."""
    n_samples = n_frames * SAMPLES_PER_FRAME
    audio = np.zeros(n_samples, np.float32)
    speaking = np.zeros(n_frames, np.float32)
    phonemes: list[Phoneme] = []
    texts = []
    rate_lo, rate_hi = {"calm": (125, 145), "excited": (185, 215)}.get(motion, (150, 180))
    base_pitch = int(rng.integers(30, 70)) + (15 if motion == "excited" else 0)
    t = rng.uniform(0.1, 0.6)
    use_energy = False
    session = SpeechSession(cfg.use_library)
    while t < n_samples / SAMPLE_RATE - 0.3:
        sentence = random_sentence(rng)
        utt = session.say(sentence, voice=voice, rate_wpm=int(rng.integers(rate_lo, rate_hi + 1)),
                          pitch=min(99, base_pitch + int(rng.integers(-5, 6))))
        s0 = int(t * SAMPLE_RATE)
        seg = utt.audio[: max(0, n_samples - s0)]
        audio[s0:s0 + len(seg)] = seg * float(rng.uniform(0.7, 1.0))
        if not utt.phonemes:
            use_energy = True
        phonemes += [Phoneme(p.symbol, p.start_s + t, p.end_s + t) for p in utt.phonemes]
        f0, f1 = int(t * FPS), min(n_frames, int(np.ceil((t + len(seg) / SAMPLE_RATE) * FPS)))
        speaking[f0:f1] = 1.0
        texts.append(sentence)
        gap = rng.uniform(1.5, 3.0) if rng.random() < cfg.listen_prob else rng.uniform(0.25, 0.8)
        t += utt.duration_s + gap
    session.close()
    return audio, phonemes, speaking, " ".join(texts), use_energy


@dataclass
class ClipPlan:
    """Everything about a clip except its pixels: identity, motion, prompt, audio [N], face state [T],
    viseme [T], speaking [T], spoken text."""

    identity: Identity
    motion: str
    prompt: str
    audio: np.ndarray
    state: FaceState
    viseme: np.ndarray
    speaking: np.ndarray
    text: str
    energy_driven: bool


def plan_clip(seed: int, cfg: ClipConfig = ClipConfig(), motion_seed: int | None = None) -> ClipPlan:
    """Draw clip `seed` without rendering (deterministic: same seed + config → identical plan).

    motion_seed: None → the clip as synthesised. Else the same person, speech, mouth, motion label and prompt (the
    clip's conditions) with the head and expression tracks (idle sway, blinks, nod phase and rate, turn/tilt side,
    amplitudes) drawn afresh from `motion_seed`: another sample of the video given the conditions, which is what
    the world's conditional spread is measured with (`scripts/world_spread.py`)."""
    if seed < 0:
        raise ValueError(f"clip seed must be >= 0, got {seed}")
    rng = np.random.default_rng([seed, 0xC11F])
    idt = sample_identity(cfg.identity_seed if cfg.identity_seed is not None else seed)
    motion = cfg.motion if cfg.motion is not None else MOTIONS[int(rng.integers(len(MOTIONS)))]
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")
    n = cfg.n_frames()
    voice = _VOICES[idt.seed % len(_VOICES)]
    audio, phonemes, speaking, text, use_energy = _speech_timeline(rng, n, motion, voice, cfg)
    mouth = energy_mouth_tracks(audio, n, FPS) if use_energy else mouth_tracks(phonemes, n, FPS)
    gain = 1.0 if motion == "excited" else (0.75 if motion == "calm" else 0.9)
    mouth["mouth_open"] = np.clip(mouth["mouth_open"] * gain, 0, 1).astype(np.float32)
    head = motion_tracks(motion, n, rng, speaking, FPS)  # always drawn: the prompt's draw comes after it
    if motion_seed is not None:
        head = motion_tracks(motion, n, np.random.default_rng([seed, motion_seed, 0x40710]), speaking, FPS)
    state = FaceState(mouth_open=mouth["mouth_open"], mouth_width=mouth["mouth_width"], **head)
    return ClipPlan(idt, motion, make_prompt(motion, rng), audio, state, mouth["viseme"], speaking, text, use_energy)


def make_clip(seed: int, cfg: ClipConfig = ClipConfig(), clip_id: str | None = None,
              motion_seed: int | None = None) -> Clip:
    """Build and render clip `seed` deterministically (same seed + config → identical arrays); `motion_seed` as in
    `plan_clip`."""
    p = plan_clip(seed, cfg, motion_seed)
    frames = render_frames(p.identity, p.state, cfg.size)
    tracks = build_tracks(p.state, p.viseme, p.speaking, p.motion, p.identity, p.energy_driven)
    cid = clip_id or f"{seed:06d}"
    return Clip(cid, p.prompt, p.motion, p.identity, frames, p.audio, render_reference(p.identity, cfg.size),
                tracks, p.text)


def build_tracks(state: FaceState, viseme: np.ndarray, speaking: np.ndarray, motion: str, idt: Identity,
                 energy_driven: bool) -> dict[str, np.ndarray]:
    """Ground-truth arrays saved beside each clip (npz): per-frame [T] tracks and scalar metadata."""
    tr = state.as_dict()
    tr["viseme"] = viseme.astype(np.int64)
    tr["speaking"] = speaking.astype(np.float32)
    tr["motion_label"] = np.array(MOTIONS.index(motion), np.int64)
    tr["identity_seed"] = np.array(idt.seed, np.int64)
    tr["identity_labels"] = np.array(list(idt.labels().values()), np.int64)
    tr["fps"] = np.array(FPS, np.int64)
    tr["mouth_from_energy"] = np.array(int(energy_driven), np.int64)
    return tr
