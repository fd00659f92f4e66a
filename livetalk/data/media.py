"""File I/O at the dataset boundary: mp4 (PyAV), wav (16-bit PCM), png, npz.

Frames are uint8 [T, H, W, 3]; audio float32 [N] in [-1, 1] at 16 kHz mono.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile
from scipy.signal import resample_poly

SAMPLE_RATE = 16000


def write_video(path: str | Path, frames: np.ndarray, fps: int = 16, audio: np.ndarray | None = None,
                crf: int = 16) -> None:
    """Write frames uint8 [T, H, W, 3] as H.264 (yuv420p) mp4; mux `audio` [N] (16 kHz) as AAC if given.
    Falls back to mpeg4 when libx264 is unavailable."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frame height/width must be even for yuv420p, got {frames.shape[1:3]}")
    with av.open(str(path), "w", format="mp4") as box:
        try:
            vs = box.add_stream("libx264", rate=fps)
            vs.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
        except Exception:  # noqa: BLE001 - codec missing in this ffmpeg build
            vs = box.add_stream("mpeg4", rate=fps)
            vs.bit_rate = 4_000_000
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vs.thread_count = 1  # deterministic bytes
        astream = None
        if audio is not None and len(audio):
            try:
                astream = box.add_stream("aac", rate=SAMPLE_RATE)
                astream.layout = "mono"
            except Exception:  # noqa: BLE001
                astream = None
        for f in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                box.mux(pkt)
        for pkt in vs.encode():
            box.mux(pkt)
        if astream is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            step = 1024
            for i in range(0, len(pcm), step):
                af = av.AudioFrame.from_ndarray(pcm[None, i:i + step], format="s16", layout="mono")
                af.sample_rate = SAMPLE_RATE
                af.pts = i
                af.time_base = Fraction(1, SAMPLE_RATE)
                for pkt in astream.encode(af):
                    box.mux(pkt)
            for pkt in astream.encode():
                box.mux(pkt)


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode a video file → (frames uint8 [T, H, W, 3], fps)."""
    import av

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {path}")
    with av.open(str(path)) as box:
        vs = box.streams.video[0]
        fps = float(vs.average_rate) if vs.average_rate else 16.0
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(vs)]
    if not frames:
        raise ValueError(f"no video frames in {path}")
    return np.stack(frames), fps


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write float32 [N] audio as 16-bit PCM wav."""
    wavfile.write(str(path), rate, (np.clip(audio, -1, 1) * 32767).astype(np.int16))


def read_wav(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a wav → float32 [N] mono in [-1, 1], resampled to `rate`."""
    sr, data = wavfile.read(str(path))
    x = np.asarray(data)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float32) / 2147483648.0
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128) / 128.0
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != rate:
        g = np.gcd(sr, rate)
        x = resample_poly(x, rate // g, sr // g).astype(np.float32)
    return x


def write_png(path: str | Path, image: np.ndarray) -> None:
    Image.fromarray(np.asarray(image, np.uint8)).save(str(path))


def read_png(path: str | Path) -> np.ndarray:
    """Image → uint8 [H, W, 3]."""
    return np.asarray(Image.open(str(path)).convert("RGB"))
