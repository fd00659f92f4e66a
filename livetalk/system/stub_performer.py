"""`StubPerformer`: a light, deterministic stand-in for the causal-DiT runtime.

It implements the `livetalk.runtime.performer` protocol exactly (chunk sizes 9 then 12 frames, 1000 audio
samples per frame, barge-in, idle blocks of silence) and draws the reference image (centre-cropped,
resized) with a mouth ellipse whose opening follows the RMS of each frame's audio, plus a slow head sway.
Used by the tests and by `livetalk serve --performer stub`.
"""

from __future__ import annotations

import time

import numpy as np

from ..runtime.performer import AVChunk
from .image_io import resize_square

FPS = 16
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 1000
FIRST_BLOCK_FRAMES = 9
BLOCK_FRAMES = 12


class StubSession:
    """One stub avatar; see `PerformerSession`."""

    fps = FPS
    sample_rate = SAMPLE_RATE

    def __init__(self, reference_image: np.ndarray, prompt: str, size: int = 256, delay_s: float = 0.0) -> None:
        if reference_image.ndim != 3 or reference_image.shape[2] != 3 or reference_image.dtype != np.uint8:
            raise ValueError(f"reference_image must be uint8 [H, W, 3], got {reference_image.dtype} "
                             f"{tuple(reference_image.shape)}")
        self.size = size
        self.delay_s = delay_s
        self.reference = resize_square(reference_image, size)
        self.prompt = prompt
        self.frame_index = 0
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._end_of_speech = False
        self._closed = False
        self.blocks = 0

    # --- protocol -----------------------------------------------------------------------------------------
    def push_audio(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(samples):
            self._pending.append(samples)
            self._pending_len += len(samples)
            self._end_of_speech = False

    def set_prompt(self, prompt: str) -> None:
        self.prompt = prompt

    def end_of_speech(self) -> None:
        self._end_of_speech = True

    def interrupt(self) -> None:
        self._pending.clear()
        self._pending_len = 0
        self._end_of_speech = True

    def next_chunk(self) -> AVChunk:
        if self._closed:
            raise RuntimeError("session is closed")
        t0 = time.perf_counter()
        n = FIRST_BLOCK_FRAMES if self.blocks == 0 else BLOCK_FRAMES
        audio = self._take(n * SAMPLES_PER_FRAME)
        frames = self._draw(audio, n)
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        chunk = AVChunk(frames=frames, audio=audio, start_frame=self.frame_index,
                        stats={"denoise_s": 0.0, "decode_s": time.perf_counter() - t0,
                               "latency_s": time.perf_counter() - t0, "late": False,
                               "speech": bool(np.any(audio != 0.0))})
        self.frame_index += n
        self.blocks += 1
        return chunk

    def close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._pending_len = 0

    # --- internals ----------------------------------------------------------------------------------------
    def _take(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        got = 0
        while got < n and self._pending:
            head = self._pending[0]
            k = min(n - got, len(head))
            out[got:got + k] = head[:k]
            got += k
            if k == len(head):
                self._pending.pop(0)
            else:
                self._pending[0] = head[k:]
        self._pending_len -= got
        return out

    def _draw(self, audio: np.ndarray, n: int) -> np.ndarray:
        from PIL import Image, ImageDraw

        s = self.size
        frames = np.empty((n, s, s, 3), np.uint8)
        rms = np.sqrt(np.mean(audio.reshape(n, SAMPLES_PER_FRAME) ** 2, axis=1))
        base = Image.fromarray(self.reference)
        for i in range(n):
            f = self.frame_index + i
            # slow sway: a couple of pixels left/right and up/down (deterministic in the frame index)
            dx = int(round(2.0 * np.sin(2 * np.pi * f / 48.0)))
            dy = int(round(1.5 * np.sin(2 * np.pi * f / 32.0)))
            img = base.copy() if (dx == 0 and dy == 0) else base.transform(
                (s, s), Image.AFFINE, (1, 0, -dx, 0, 1, -dy), resample=Image.NEAREST, fillcolor=tuple(self.reference[0, 0]))
            draw = ImageDraw.Draw(img)
            cx, cy = s * 0.5 + dx, s * 0.72 + dy
            w = s * 0.17
            opening = float(min(1.0, rms[i] * 6.0))  # speech RMS ~0.05..0.2 -> 0.3..1
            h = s * (0.012 + 0.085 * opening)
            if opening < 0.02:
                draw.line([(cx - w / 2, cy), (cx + w / 2, cy)], fill=(120, 40, 50), width=max(2, s // 90))
            else:
                draw.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=(70, 15, 25),
                             outline=(150, 50, 60), width=max(1, s // 128))
                if h > s * 0.04 and h * 0.18 > 1.5:  # teeth
                    draw.rectangle([cx - w * 0.3, cy - h / 2 + 1, cx + w * 0.3, cy - h / 2 + h * 0.18],
                                   fill=(235, 235, 230))
            frames[i] = np.asarray(img, dtype=np.uint8)
        return frames


class StubPerformer:
    """Factory of `StubSession`s. `size`: output frames are `size`×`size`; `delay_s`: simulated compute per
    block (to emulate a slower model in load tests)."""

    fps = FPS
    sample_rate = SAMPLE_RATE

    def __init__(self, size: int = 256, delay_s: float = 0.0) -> None:
        self.size = size
        self.delay_s = delay_s

    def new_session(self, reference_image: np.ndarray, prompt: str) -> StubSession:
        return StubSession(reference_image, prompt, size=self.size, delay_s=self.delay_s)
