"""Common interface of the audio conditioning encoders.

Conventions (docs/conventions.md, spec §1.2 and pitfall 4):

* audio is 16 kHz mono float32 in [-1, 1];
* video is 16 fps, so one video (pixel) frame owns ``SAMPLES_PER_FRAME = 1000`` audio samples:
  frame ``t`` covers samples ``[1000·t, 1000·(t+1))``;
* a clip of ``T`` frames is encoded from exactly ``T·1000`` samples: longer audio is trimmed, shorter audio
  is **padded with zeros** (never stretched);
* features are ``[T, D]`` for one clip and ``[B, T, D]`` for a batch.

Every encoder implements :class:`AudioEncoder`; ``encode_stream`` returns a
:class:`livetalk.models.audio_streaming.StreamingAudioFeatures` session.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from livetalk.models.audio_streaming import StreamingAudioFeatures

SAMPLE_RATE = 16_000
FPS = 16
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 1000


class AudioInputError(ValueError):
    """Raised for audio that cannot be encoded (empty, NaN/inf, wrong rank, integer samples, ...)."""


def frames_for_samples(num_samples: int) -> int:
    """Number of video frames covered by ``num_samples`` samples (ceil, at least 1)."""
    return max(1, math.ceil(num_samples / SAMPLES_PER_FRAME))


def as_float_wave(wave, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Validate a waveform and return it as float32 torch, resampled to 16 kHz if needed.

    Args:
        wave: ``[N]`` (one clip) or ``[B, N]`` (batch), numpy or torch, float samples in [-1, 1].
            Stereo must be downmixed first (``media_io.to_mono``): a ``[2, N]`` array is read as a batch of 2.
        sample_rate: rate of ``wave`` in Hz; anything other than 16000 is resampled explicitly
            (polyphase, ``scipy.signal.resample_poly``).
    Returns:
        float32 tensor ``[N']`` or ``[B, N']`` on the input's device (CPU for numpy).
    Raises:
        AudioInputError: empty audio, NaN/inf samples, integer samples, rank other than 1 or 2, bad rate.
    """
    if isinstance(wave, np.ndarray):
        if np.issubdtype(wave.dtype, np.integer):
            raise AudioInputError(
                f"integer audio samples ({wave.dtype}); convert to float32 in [-1, 1] first "
                "(e.g. int16 / 32768), or load files with livetalk.models.media_io.load_audio")
        wave = torch.from_numpy(np.ascontiguousarray(wave))
    elif not isinstance(wave, torch.Tensor):
        wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    if not torch.is_floating_point(wave):
        raise AudioInputError(f"integer audio samples ({wave.dtype}); convert to float in [-1, 1] first")
    if wave.dim() not in (1, 2):
        raise AudioInputError(f"audio must be [N] or [B, N] mono, got shape {tuple(wave.shape)}")
    if wave.shape[-1] == 0 or wave.numel() == 0:
        raise AudioInputError("empty audio (0 samples)")
    if not bool(torch.isfinite(wave).all()):
        raise AudioInputError("audio contains NaN or inf samples")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioInputError(f"invalid sample rate {sample_rate!r}")
    wave = wave.to(torch.float32)
    if sample_rate != SAMPLE_RATE:
        from livetalk.models.media_io import resample

        device = wave.device
        wave = torch.from_numpy(resample(wave.cpu().numpy(), int(sample_rate), SAMPLE_RATE)).to(device)
    return wave


def fit_to_frames(wave: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Trim or zero-pad the last axis of ``wave`` to exactly ``num_frames·1000`` samples (pitfall 4)."""
    if num_frames < 1:
        raise AudioInputError(f"num_frames must be >= 1, got {num_frames}")
    n = num_frames * SAMPLES_PER_FRAME
    if wave.shape[-1] >= n:
        return wave[..., :n]
    return torch.nn.functional.pad(wave, (0, n - wave.shape[-1]))


class AudioEncoder(abc.ABC):
    """Maps 16 kHz mono audio to one feature vector per 16 fps video frame.

    Attributes:
        feature_dim: D, size of the per-frame feature (10752 for wav2vec2-base, 80 for log-mel).
        default_lookahead_ms: look-ahead a streaming session uses unless told otherwise.
        default_context_ms: past audio a streaming session feeds the encoder with unless told otherwise.
    """

    feature_dim: int
    default_lookahead_ms: float = 62.5
    default_context_ms: float = 62.5

    @abc.abstractmethod
    def encode_frames(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Core: ``wave [B, num_frames·1000]`` float32 (16 kHz, already fitted) -> ``[B, num_frames, D]``."""

    def encode(self, wave, num_frames: int | None = None, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Encode a whole clip (or a batch of equally long clips).

        Args:
            wave: ``[N]`` or ``[B, N]`` float samples (numpy or torch).
            num_frames: T, number of video frames; default ``ceil(N / 1000)``. The audio is trimmed or
                zero-padded to ``T·1000`` samples.
            sample_rate: rate of ``wave``; other rates than 16 kHz are resampled.
        Returns:
            ``[T, D]`` for ``[N]`` input, ``[B, T, D]`` for ``[B, N]`` input (encoder's device and dtype).
        """
        wave = as_float_wave(wave, sample_rate)
        single = wave.dim() == 1
        if single:
            wave = wave[None]
        if num_frames is None:
            num_frames = frames_for_samples(wave.shape[-1])
        feats = self.encode_frames(fit_to_frames(wave, int(num_frames)), int(num_frames))
        return feats[0] if single else feats

    def encode_stream(self, lookahead_ms: float | None = None,
                      context_ms: float | None = None) -> "StreamingAudioFeatures":
        """Open a streaming session (see :class:`StreamingAudioFeatures`)."""
        from livetalk.models.audio_streaming import StreamingAudioFeatures

        return StreamingAudioFeatures(
            self,
            lookahead_ms=self.default_lookahead_ms if lookahead_ms is None else lookahead_ms,
            context_ms=self.default_context_ms if context_ms is None else context_ms,
        )
