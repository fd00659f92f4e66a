"""Tiny-scale audio front end: weight-free log-mel features, one 80-d vector per 16 fps video frame.

Pure torch (framing + Hann window + rFFT + triangular HTK mel filterbank built in code), no weights, no
download. Frame ``t`` (samples ``[1000·t, 1000·(t+1))``) is described by one ``n_fft = 1024``-sample window
centred on its middle sample ``1000·t + 500``: it reads 12 samples of the previous frame and 12 samples of
the next one (zeros beyond the clip), so the streaming look-ahead it needs is 12 samples = 0.75 ms.

Normalisation:
* ``"fixed"`` (default): ``(log10(mel + 1e-8) + 4) / 4``, a constant affine map, roughly [-1, 1] for
  speech. Independent of the rest of the clip, so streaming features equal whole-clip features exactly.
* ``"clip"``: zero mean / unit variance per mel bin over the encoded clip (like wav2vec2's whole-clip
  normalisation); streaming then depends on the window (see docs/encoders.md for the drift).
"""

from __future__ import annotations

import math

import torch

from livetalk.models.audio_base import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioEncoder


def hz_to_mel(f):
    """HTK mel scale: ``2595·log10(1 + f/700)``."""
    return 2595.0 * math.log10(1.0 + f / 700.0) if isinstance(f, (int, float)) else \
        2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = 80, n_fft: int = 1024, sample_rate: int = SAMPLE_RATE,
                   f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK mel filters ``[n_mels, n_fft//2 + 1]`` (float64), peak 1, on the rFFT bin grid."""
    f_max = sample_rate / 2 if f_max is None else f_max
    bins = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    hz = mel_to_hz(mels)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None] - lo) / (mid - lo)
    down = (hi - bins[None]) / (hi - mid)
    return torch.clamp(torch.minimum(up, down), min=0.0)


class LogMelAudioEncoder(AudioEncoder):
    """``encode(wave [N] 16 kHz, T) -> [T, 80]`` log-mel features per video frame (see module doc).

    Args:
        n_mels: feature size D (80 at tiny scale).
        n_fft: window length in samples (1024 = 64 ms), centred on each frame.
        normalize: ``"fixed"`` or ``"clip"``.
        device, dtype: where/what the output features are (computation is float32 on ``device``).
    """

    def __init__(self, n_mels: int = 80, n_fft: int = 1024, normalize: str = "fixed",
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        if normalize not in ("fixed", "clip"):
            raise ValueError(f"normalize must be 'fixed' or 'clip', got {normalize!r}")
        if n_fft < SAMPLES_PER_FRAME:
            raise ValueError(f"n_fft must be >= {SAMPLES_PER_FRAME} so frames cover all samples")
        self.feature_dim = n_mels
        self.n_fft = n_fft
        self.normalize = normalize
        self.device = torch.device(device)
        self.dtype = dtype
        self.pad = (n_fft - SAMPLES_PER_FRAME) // 2  # 12 samples each side for n_fft = 1024
        self.pad_right = n_fft - SAMPLES_PER_FRAME - self.pad
        self.window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32, device=self.device)
        self.fbank = mel_filterbank(n_mels, n_fft).to(torch.float32).to(self.device)
        self.default_lookahead_ms = 1000.0 * self.pad_right / SAMPLE_RATE  # 0.75 ms
        self.default_context_ms = 1000.0 * SAMPLES_PER_FRAME / SAMPLE_RATE  # one frame (62.5 ms)
        self._scale = 1.0 / float(self.window.sum())  # full-scale sine -> magnitude ~0.5

    @torch.no_grad()
    def encode_frames(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``wave [B, T·1000]`` float32 -> ``[B, T, n_mels]`` in ``self.dtype`` on ``self.device``."""
        wave = wave.to(self.device, torch.float32)
        padded = torch.nn.functional.pad(wave, (self.pad, self.pad_right))
        frames = padded.unfold(-1, self.n_fft, SAMPLES_PER_FRAME)[:, :num_frames]  # [B, T, n_fft]
        spec = torch.fft.rfft(frames * self.window, dim=-1).abs().pow(2) * self._scale ** 2
        mel = spec @ self.fbank.T  # [B, T, n_mels]
        feats = torch.log10(mel + 1e-8)
        if self.normalize == "fixed":
            feats = (feats + 4.0) / 4.0
        else:
            mean = feats.mean(dim=1, keepdim=True)
            std = feats.std(dim=1, keepdim=True, unbiased=False)
            feats = (feats - mean) / (std + 1e-5)
        return feats.to(self.dtype)
