"""Synthetic speech from espeak-ng with exact per-phoneme timing.

The primary path loads `libespeak-ng.so.1` with ctypes (in a worker process, `_espeak_worker.py`) and
asks for phoneme events: every phoneme comes with the audio sample where it starts, so the mouth track
derived from it is exactly aligned with the waveform. If the library cannot be loaded, we fall back to the `espeak-ng` command line (`-w out.wav`)
and return no phonemes; callers then drive the mouth from the audio envelope (see `visemes.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import sys
from dataclasses import dataclass

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

SAMPLE_RATE = 16000  # Hz, the project's audio rate
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_espeak_worker.py")


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: espeak mnemonic (e.g. 'aI', '_:' for a pause) and its span in seconds."""

    symbol: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Utterance:
    """Audio float32 [N] at 16 kHz in [-1, 1], and its phonemes (empty when timing was unavailable)."""

    audio: np.ndarray
    phonemes: tuple[Phoneme, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SpeechSession:
    """A private espeak-ng worker process (see `_espeak_worker.py`); use as a context manager.

    Synthesis is a pure function of the sequence of requests made in one session, so one session per clip
    makes clips reproducible. If libespeak-ng cannot be loaded, `available` is False and `say` falls back
    to the command line without phoneme timing.
    """

    def __init__(self, use_library: bool = True):
        self.proc: subprocess.Popen | None = None
        self.available = False
        if use_library:
            try:
                self.proc = subprocess.Popen([sys.executable, "-I", "-S", _WORKER], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                head = json.loads(self.proc.stdout.readline() or b"{}")
                self.available = bool(head.get("ready"))
            except (OSError, ValueError):
                self.available = False
            if not self.available:
                self.close()

    def __enter__(self) -> "SpeechSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
            self.proc = None

    def say(self, text: str, voice: str = "en-us", rate_wpm: int = 160, pitch: int = 50) -> Utterance:
        """Speak `text` → 16 kHz float32 audio [N] and timed phonemes (seconds)."""
        if not text.strip():
            raise ValueError("synthesize: empty text")
        if not self.available or self.proc is None:
            return _synth_cli(text, voice, rate_wpm, pitch)
        req = {"text": text, "voice": voice, "rate": int(rate_wpm), "pitch": int(pitch)}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        head = json.loads(self.proc.stdout.readline())
        if "error" in head:
            raise ValueError(f"espeak-ng: {head['error']}")
        raw = np.frombuffer(_read_exact(self.proc.stdout, 2 * head["n"]), "<i2")
        rate = head["rate"]
        audio = _to_16k(raw, rate)
        dur = len(audio) / SAMPLE_RATE
        events = head["events"]
        phonemes = []
        for i, (sample, sym) in enumerate(events):
            start = sample / rate
            end = events[i + 1][0] / rate if i + 1 < len(events) else dur
            if end > start:
                phonemes.append(Phoneme(sym, start, min(end, dur)))
        return Utterance(audio, tuple(phonemes))


def _read_exact(stream, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            raise RuntimeError("espeak-ng worker exited early")
        buf += part
    return buf


def _to_16k(audio_int16: np.ndarray, rate: int) -> np.ndarray:
    x = audio_int16.astype(np.float32) / 32768.0
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return np.clip(x, -1.0, 1.0)


def _synth_cli(text: str, voice: str, rate_wpm: int, pitch: int) -> Utterance:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.wav")
        subprocess.run([exe, "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "-w", path, text],
                       check=True, capture_output=True)
        rate, data = wavfile.read(path)
    return Utterance(_to_16k(np.asarray(data, np.int16), rate), ())


def synthesize(text: str, voice: str = "en-us", rate_wpm: int = 160, pitch: int = 50,
               use_library: bool = True) -> Utterance:
    """Speak `text` in a fresh session; returns 16 kHz float32 audio [N] and phonemes (start/end seconds).

    Deterministic for given arguments. With `use_library=False` (or no libespeak-ng) the command line is
    used and `phonemes` is empty.
    """
    with SpeechSession(use_library) as session:
        return session.say(text, voice, rate_wpm, pitch)
