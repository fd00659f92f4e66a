"""Offline file mode: image + speech → mp4 with the audio muxed (the same streaming code path as live)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .avatar import SAMPLES_PER_FRAME


@dataclass
class GenerationReport:
    frames: int
    seconds_of_video: float
    first_chunk_s: float  # session start → first frames available
    wall_s: float
    fps: float  # generated frames per wall-clock second
    realtime_factor: float  # wall time / video duration (< 1: faster than real time)


def generate_video(performer, image: np.ndarray, audio: np.ndarray, prompt: str) -> tuple[np.ndarray, np.ndarray, GenerationReport]:
    """Run a session over the whole `audio` (16 kHz float32); returns (frames uint8 [T, H, W, 3], audio, report).

    T = ceil(len(audio) / 1000) video frames (at least one block); the returned audio is padded to T·1000.
    """
    t0 = time.perf_counter()
    session = performer.new_session(image, prompt)
    try:
        session.push_audio(audio)
        session.end_of_speech()
        n_frames = max(1, math.ceil(len(audio) / SAMPLES_PER_FRAME))
        frames, sound, first = [], [], None
        produced = 0
        while produced < n_frames:
            chunk = session.next_chunk()
            first = first if first is not None else time.perf_counter() - t0
            frames.append(chunk.frames)
            sound.append(chunk.audio)
            produced += len(chunk.frames)
    finally:
        session.close()
    wall = time.perf_counter() - t0
    video = np.concatenate(frames)[:n_frames]
    sound = np.concatenate(sound)[: n_frames * SAMPLES_PER_FRAME]
    report = GenerationReport(len(video), len(video) / 16, first, wall, len(video) / wall, wall / (len(video) / 16))
    return video, sound, report
