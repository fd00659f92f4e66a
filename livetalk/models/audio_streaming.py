"""Streaming audio features: feed audio chunks of any size, get per-frame features as soon as possible.

A frame ``t`` (samples ``[1000·t, 1000·(t+1))``) is emitted once ``1000·(t+1) + lookahead`` samples have been
received. The frames that become ready together are encoded in one call of the encoder on a bounded window:

    window = samples [1000·max(0, t0 − context_frames), min(received, 1000·t1 + lookahead))

(zero-padded to whole frames by ``AudioEncoder.encode``), and the rows of frames ``t0..t1−1`` are returned.
Normalisation statistics (wav2vec2's zero-mean/unit-variance, log-mel ``"clip"`` mode) therefore come from
that window, not from the whole clip (spec pitfall 4: true streaming changes the features; the measured drift
is in docs/encoders.md). ``flush()`` ends the stream and emits the remaining frames as a whole-clip call would
(audio zero-padded to ``ceil(N/1000)`` frames).

Memory is bounded: only the last ``context_frames`` frames before the next frame to emit are kept.
"""

from __future__ import annotations

import math

import torch

from livetalk.models.audio_base import (SAMPLE_RATE, SAMPLES_PER_FRAME, AudioEncoder, AudioInputError,
                                        as_float_wave)


class StreamingAudioFeatures:
    """Incremental per-frame audio features.

    Args:
        encoder: any :class:`AudioEncoder`.
        lookahead_ms: audio after a frame's end that must be received before the frame is emitted (ms).
            Rounded up to whole samples. Latency added by the audio path = this look-ahead.
        context_ms: past audio (ms) before the first frame of a window that the encoder also sees; rounded
            up to whole frames (62.5 ms each).
        max_frames_per_call: emit at most this many frames per encoder call (bounds the window size);
            ``None`` = all ready frames at once.

    Use: ``feats = s.push(chunk)`` -> ``[k, D]`` (k ≥ 0 newly ready frames, in order), ``s.flush()`` at the end.
    ``s.frames_emitted`` counts emitted frames; concatenating all outputs gives ``[ceil(N/1000), D]``.
    """

    def __init__(self, encoder: AudioEncoder, lookahead_ms: float, context_ms: float,
                 max_frames_per_call: int | None = None):
        if lookahead_ms < 0 or context_ms < 0:
            raise ValueError("lookahead_ms and context_ms must be >= 0")
        self.encoder = encoder
        self.lookahead_samples = math.ceil(lookahead_ms * SAMPLE_RATE / 1000.0 - 1e-9)
        self.context_frames = math.ceil(context_ms * SAMPLE_RATE / 1000.0 / SAMPLES_PER_FRAME - 1e-9)
        self.max_frames_per_call = max_frames_per_call
        self.frames_emitted = 0
        self.samples_received = 0
        self._buf = torch.zeros(0)
        self._buf_start = 0  # absolute sample index of _buf[0]
        self._closed = False

    @property
    def lookahead_ms(self) -> float:
        return 1000.0 * self.lookahead_samples / SAMPLE_RATE

    @property
    def context_ms(self) -> float:
        return 1000.0 * self.context_frames * SAMPLES_PER_FRAME / SAMPLE_RATE

    def frames_ready(self) -> int:
        """Number of frames whose audio and look-ahead have been received (emitted or not)."""
        return max(0, (self.samples_received - self.lookahead_samples) // SAMPLES_PER_FRAME)

    def push(self, chunk, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Append ``chunk [n]`` (16 kHz mono float, any n ≥ 1); return ``[k, D]`` features of new ready frames.

        Raises ``AudioInputError`` for other sample rates: resampling chunk by chunk without filter state
        would click at every chunk boundary; resample the stream upstream (e.g. PyAV's AudioResampler)."""
        if self._closed:
            raise RuntimeError("stream already flushed")
        if sample_rate != SAMPLE_RATE:
            raise AudioInputError(f"streaming expects {SAMPLE_RATE} Hz chunks, got {sample_rate} Hz; "
                                  "resample the stream upstream (stateful resampler)")
        chunk = as_float_wave(chunk, SAMPLE_RATE)
        if chunk.dim() != 1:
            raise ValueError(f"push expects a mono chunk [n], got {tuple(chunk.shape)}")
        self._buf = torch.cat([self._buf, chunk.cpu()])
        self.samples_received += chunk.numel()
        return self._emit(self.frames_ready())

    def flush(self) -> torch.Tensor:
        """End of stream: emit every remaining frame (the last one zero-padded). Returns ``[k, D]``."""
        self._closed = True
        if self.samples_received == 0:
            return self._empty()
        total = math.ceil(self.samples_received / SAMPLES_PER_FRAME)
        return self._emit(total)

    def _empty(self) -> torch.Tensor:
        enc = self.encoder
        return torch.zeros(0, enc.feature_dim, device=getattr(enc, "device", "cpu"),
                           dtype=getattr(enc, "dtype", torch.float32))

    def _emit(self, upto: int) -> torch.Tensor:
        outs = []
        while self.frames_emitted < upto:
            t0 = self.frames_emitted
            t1 = upto if self.max_frames_per_call is None else min(upto, t0 + self.max_frames_per_call)
            w0 = max(0, t0 - self.context_frames)
            stop = min(t1 * SAMPLES_PER_FRAME + self.lookahead_samples, self.samples_received)
            window = self._buf[w0 * SAMPLES_PER_FRAME - self._buf_start: stop - self._buf_start]
            n_frames = max(t1 - w0, math.ceil(window.numel() / SAMPLES_PER_FRAME))
            feats = self.encoder.encode(window, num_frames=n_frames)
            outs.append(feats[t0 - w0: t1 - w0])
            self.frames_emitted = t1
            self._trim()
        return torch.cat(outs) if outs else self._empty()

    def _trim(self) -> None:
        keep_from = max(0, self.frames_emitted - self.context_frames) * SAMPLES_PER_FRAME
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start:].clone()
            self._buf_start = keep_from
