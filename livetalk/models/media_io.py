"""Audio file loading and validation (PyAV decode, downmix, resample).

``load_audio(path)`` returns 16 kHz mono float32 samples in [-1, 1] as a numpy array ``[N]``.
Errors are :class:`AudioFileError` (unreadable / corrupt / no audio stream) or
:class:`livetalk.models.audio_base.AudioInputError` (empty, NaN/inf). Silence is legitimate (an idle avatar):
it only triggers a ``SilentAudioWarning`` and ``AudioReport.is_silent``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from livetalk.models.audio_base import SAMPLE_RATE, AudioInputError

SILENCE_PEAK = 1e-4  # |x| below this everywhere (-80 dBFS) counts as silent


class AudioFileError(IOError):
    """The file cannot be decoded as audio (missing, corrupt, no audio stream)."""


class SilentAudioWarning(UserWarning):
    """The audio is (digitally) silent. Not an error: silence is a valid idle-avatar input."""


@dataclass(frozen=True)
class AudioReport:
    """Summary of a mono waveform: ``num_samples``, ``duration_s`` (at ``sample_rate``), ``peak`` |x|,
    ``rms``, ``is_silent`` (peak < SILENCE_PEAK) and ``clipped`` (peak > 1)."""

    num_samples: int
    sample_rate: int
    duration_s: float
    peak: float
    rms: float
    is_silent: bool
    clipped: bool


def check_audio(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, warn: bool = True) -> AudioReport:
    """Validate a mono float waveform ``[N]``; raise on empty / NaN / inf, warn on silence.

    Raises:
        AudioInputError: empty, non-finite, not 1-D, or not floating point.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise AudioInputError(f"expected mono audio [N], got shape {wave.shape}; use to_mono first")
    if not np.issubdtype(wave.dtype, np.floating):
        raise AudioInputError(f"expected float samples in [-1, 1], got {wave.dtype}")
    if wave.size == 0:
        raise AudioInputError("empty audio (0 samples)")
    if not np.isfinite(wave).all():
        raise AudioInputError("audio contains NaN or inf samples")
    peak = float(np.abs(wave).max())
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    report = AudioReport(wave.size, sample_rate, wave.size / sample_rate, peak, rms,
                         is_silent=peak < SILENCE_PEAK, clipped=peak > 1.0)
    if warn and report.is_silent:
        warnings.warn(f"audio is silent (peak {peak:.2e}); the avatar will idle", SilentAudioWarning,
                      stacklevel=2)
    return report


def to_mono(wave: np.ndarray, channel_axis: int = 0) -> np.ndarray:
    """Average channels: ``[C, N]`` (``channel_axis=0``) or ``[N, C]`` (``channel_axis=1``) -> ``[N]``."""
    wave = np.asarray(wave)
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise AudioInputError(f"expected [C, N] or [N, C] audio, got shape {wave.shape}")
    return wave.mean(axis=channel_axis).astype(wave.dtype if np.issubdtype(wave.dtype, np.floating)
                                                else np.float32)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling along the last axis (``scipy.signal.resample_poly``), float32 out."""
    if orig_sr == target_sr:
        return np.asarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(int(target_sr), int(orig_sr)).limit_denominator(10_000)
    out = resample_poly(np.asarray(wave, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1)
    return out.astype(np.float32)


def load_audio(path: str | os.PathLike, target_sr: int = SAMPLE_RATE, warn_silent: bool = True,
               return_report: bool = False):
    """Decode any audio/video file with PyAV to mono float32 at ``target_sr``.

    Stereo/multichannel is downmixed by averaging; the sample rate is converted with
    :func:`resample` (scipy polyphase, exact for integer ratios such as 44.1k/48k -> 16k).

    Args:
        path: audio or video file (wav, mp3, flac, m4a, mp4, ...).
        target_sr: output rate in Hz (16000 for all livetalk encoders).
        warn_silent: emit ``SilentAudioWarning`` for a silent file.
        return_report: also return the :class:`AudioReport`.
    Returns:
        ``wave [N] float32`` (and the report when ``return_report``).
    Raises:
        AudioFileError: missing file, not decodable, no audio stream, decode error mid-file.
        AudioInputError: the decoded audio is empty or non-finite.
    """
    import av

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioFileError(f"audio file not found: {path}")
    try:
        container = av.open(path)
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise AudioFileError(f"cannot open {path!r} as audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"{path!r} has no audio stream")
        stream = container.streams.audio[0]
        chunks: list[np.ndarray] = []
        src_rate = None
        try:
            for frame in container.decode(stream):
                src_rate = frame.sample_rate
                chunks.append(_frame_to_channels_first(frame))
        except Exception as exc:
            raise AudioFileError(f"corrupt audio in {path!r}: {exc}") from exc
    if not chunks:
        raise AudioInputError(f"{path!r} decoded to empty audio (0 samples)")
    wave = to_mono(np.concatenate(chunks, axis=1), channel_axis=0).astype(np.float32)
    wave = resample(wave, int(src_rate), int(target_sr))
    report = check_audio(wave, target_sr, warn=warn_silent)
    return (wave, report) if return_report else wave


def _frame_to_channels_first(frame) -> np.ndarray:
    """PyAV AudioFrame -> float32 ``[C, n]`` in [-1, 1] whatever the sample format."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:  # packed: [1, n·C] interleaved
        arr = arr.reshape(-1, channels).T
    if np.issubdtype(arr.dtype, np.integer):
        bits = arr.dtype.itemsize * 8
        if arr.dtype == np.uint8:
            arr = (arr.astype(np.float32) - 128.0) / 128.0
        else:
            arr = arr.astype(np.float32) / float(2 ** (bits - 1))
    return arr.astype(np.float32, copy=False)


def write_wav(path: str | os.PathLike, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio ``[N]`` (or ``[C, N]``) as 16-bit PCM WAV with scipy (tests, demos)."""
    from scipy.io import wavfile

    wave = np.asarray(wave, dtype=np.float32)
    pcm = (np.clip(wave, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    wavfile.write(os.fspath(path), int(sample_rate), pcm.T if pcm.ndim == 2 else pcm)


__all__ = ["AudioFileError", "AudioReport", "SilentAudioWarning", "SILENCE_PEAK", "check_audio",
           "load_audio", "resample", "to_mono", "write_wav"]
