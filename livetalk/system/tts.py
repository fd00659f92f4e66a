"""Speech helpers for the system layer: espeak-ng synthesis, resampling to 16 kHz, sentence splitting."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from typing import Iterator

import numpy as np

SAMPLE_RATE = 16000
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


class SpeechError(RuntimeError):
    """Speech synthesis failed (espeak-ng missing or crashed, TTS endpoint error...)."""


def split_sentences(text: str) -> list[str]:
    """Split a reply into sentences (kept short so the first one can be spoken early)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Whole-signal resampling (polyphase with scipy when available, else linear interpolation)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if rate_in == rate_out or len(audio) == 0:
        return audio
    try:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(rate_in, rate_out)
        return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)
    except ImportError:
        return StreamingResampler(rate_in, rate_out).process(audio)


class StreamingResampler:
    """Linear-interpolation resampler that keeps its phase across calls (for streamed TTS audio)."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        self.step = rate_in / rate_out
        self.pos = 0.0  # position of the next output sample, in input samples relative to `self.prev`'s index
        self.prev = np.zeros(0, np.float32)

    def process(self, audio: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.prev, np.asarray(audio, np.float32).reshape(-1)])
        if self.step == 1.0:
            self.prev = np.zeros(0, np.float32)
            return x
        if len(x) < 2:
            self.prev = x
            return np.zeros(0, np.float32)
        n = int(np.floor((len(x) - 1 - self.pos) / self.step)) + 1
        if n <= 0:
            self.prev = x
            return np.zeros(0, np.float32)
        t = self.pos + self.step * np.arange(n)
        out = np.interp(t, np.arange(len(x)), x).astype(np.float32)
        nxt = self.pos + self.step * n
        keep = int(np.floor(nxt))
        self.prev = x[keep:]
        self.pos = nxt - keep
        return out


def pcm16_to_float(data: bytes) -> np.ndarray:
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and sample rate of a 16-bit PCM WAV file."""
    with wave.open(io.BytesIO(data), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise SpeechError(f"unsupported WAV sample width {width * 8} bits")
    audio = pcm16_to_float(raw)
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1)
    return audio.astype(np.float32), rate


def encode_wav(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono WAV bytes of float32 samples."""
    pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_tts(text: str, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50,
               timeout_s: float = 20.0) -> np.ndarray:
    """Speak `text` with the espeak-ng command line; float32 mono 16 kHz. Text goes through stdin, so it
    is never parsed as options."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechError("espeak-ng is not installed (apt-get install espeak-ng)")
    if not text.strip():
        return np.zeros(0, np.float32)
    try:
        proc = subprocess.run([exe, "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "--stdout"],
                              input=text.encode("utf-8"), capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise SpeechError(f"espeak-ng timed out after {timeout_s:.0f} s") from err
    if proc.returncode != 0 or not proc.stdout:
        raise SpeechError(f"espeak-ng failed (rc={proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
    audio, rate = decode_wav(proc.stdout)
    audio = resample(audio, rate, SAMPLE_RATE)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return audio.astype(np.float32)


def chunk_audio(audio: np.ndarray, chunk: int = 4000) -> Iterator[np.ndarray]:
    """Split audio into pieces of `chunk` samples (the last may be shorter)."""
    for i in range(0, len(audio), chunk):
        yield audio[i:i + chunk]
