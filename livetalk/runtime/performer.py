"""The contract between the streaming runtime (the Performer) and the interactive system.

A `Performer` turns one avatar identity plus streaming speech audio and a motion prompt into synchronised
video + audio chunks. The system layer (`livetalk.system`) only talks to this protocol, so it can be driven
by the real causal-DiT runtime or by a light stand-in in tests.

Timing units: video at `fps` (16) frames per second; audio 16 kHz mono float32; one chunk = one block =
12 video frames (the first chunk of a session: 9) and exactly the audio samples of those frames
(1000 per frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np


@dataclass
class AVChunk:
    """One block of output.

    frames: uint8 `[T, H, W, 3]`; audio: float32 `[T·1000]` (16 kHz) aligned with the frames;
    start_frame: index of frames[0] in the session's video; stats: timings in seconds (e.g. `denoise_s`,
    `decode_s`, `latency_s`) and flags (`late`: generation fell behind playback).
    """

    frames: np.ndarray
    audio: np.ndarray
    start_frame: int
    stats: dict = field(default_factory=dict)


class PerformerSession(Protocol):
    """One streaming avatar. Not thread-safe: one producer thread drives it."""

    fps: int
    sample_rate: int

    def push_audio(self, samples: np.ndarray) -> None:
        """Append speech samples (float32 [N], 16 kHz) to be lip-synced, in order, any chunk size."""

    def set_prompt(self, prompt: str) -> None:
        """Change the motion prompt from the next block on."""

    def end_of_speech(self) -> None:
        """No more speech for this turn: once pushed audio is consumed, idle (silence) blocks follow."""

    def interrupt(self) -> None:
        """Barge-in: drop pushed audio not yet rendered; the avatar goes back to idle at the next block."""

    def next_chunk(self) -> AVChunk:
        """Generate the next block (speech if available, else idle/listening with silence)."""

    def close(self) -> None:
        """Free the session's memory (KV cache, encoder state)."""


class Performer(Protocol):
    """Factory of sessions; holds the shared models."""

    def new_session(self, reference_image: np.ndarray, prompt: str) -> PerformerSession:
        """Start an avatar from an RGB uint8 image `[H, W, 3]` (any size; centre-cropped) and a prompt."""


def chunk_stream(session: PerformerSession, max_chunks: int | None = None) -> Iterator[AVChunk]:
    """Yield chunks forever (or `max_chunks`)."""
    n = 0
    while max_chunks is None or n < max_chunks:
        yield session.next_chunk()
        n += 1
