"""StreamingAudioFeatures: readiness, bounded memory, and drift against whole-clip features."""

import numpy as np
import pytest
import torch

from livetalk.models.audio_drift import drift, stream_features
from livetalk.models.audio_logmel import LogMelAudioEncoder


def speechlike(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 6))
    env = (np.sin(2 * np.pi * 1.3 * t) > 0) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)  # pauses
    return torch.from_numpy((0.2 * env * x + 0.003 * rng.standard_normal(n)).astype(np.float32))


def push_randomly(stream, wave, seed=0):
    g = np.random.default_rng(seed)
    outs, i = [], 0
    while i < wave.numel():
        n = int(g.integers(1, 2500))
        outs.append(stream.push(wave[i:i + n]))
        i += n
    outs.append(stream.flush())
    return torch.cat(outs)


def test_logmel_fixed_streaming_is_exact():
    enc = LogMelAudioEncoder()
    wave = speechlike(23_456)
    streamed = push_randomly(enc.encode_stream(), wave)
    whole = enc.encode(wave)
    assert streamed.shape == whole.shape == (24, 80)
    assert torch.allclose(streamed, whole, atol=1e-5)


def test_frames_emitted_only_with_lookahead():
    enc = LogMelAudioEncoder()
    s = enc.encode_stream(lookahead_ms=62.5)  # one frame of look-ahead = 1000 samples
    assert s.lookahead_ms == 62.5 and s.context_ms == 62.5
    assert s.push(torch.zeros(1999)).shape == (0, 80)
    assert s.push(torch.zeros(1)).shape == (1, 80)  # frame 0 + 1000 samples look-ahead
    assert s.push(torch.zeros(3000)).shape == (3, 80)
    assert s.frames_emitted == 4 and s.frames_ready() == 4
    assert s.flush().shape == (1, 80)  # 5000 samples -> 5 frames in total
    with pytest.raises(RuntimeError):
        s.push(torch.zeros(10))
    from livetalk.models.audio_base import AudioInputError

    with pytest.raises(AudioInputError, match="16000"):
        enc.encode_stream().push(torch.zeros(480), sample_rate=48000)
    with pytest.raises(AudioInputError, match="NaN"):
        enc.encode_stream().push(torch.tensor([float("nan")]))
    assert enc.encode_stream().flush().shape == (0, 80)


def test_memory_is_bounded():
    enc = LogMelAudioEncoder()
    s = enc.encode_stream(context_ms=250)  # 4 frames of context
    for _ in range(50):
        s.push(torch.randn(1000) * 0.1)
    assert s._buf.numel() <= (4 + 2) * 1000


def test_logmel_clip_norm_converges_with_full_context():
    """Per-window normalisation: with look-ahead and context spanning the clip, streaming == whole clip."""
    enc = LogMelAudioEncoder(normalize="clip")
    wave = speechlike(16_000)
    full = stream_features(enc, wave, chunk=777, lookahead_ms=2000, context_ms=2000)
    assert torch.allclose(full, enc.encode(wave), atol=1e-4)


def test_logmel_clip_norm_drift_within_tolerance():
    """Bounded window: drift shrinks as context/look-ahead grow (numbers in docs/encoders.md)."""
    enc = LogMelAudioEncoder(normalize="clip")
    wave = speechlike(96_000)  # 6 s
    whole = enc.encode(wave)
    small = drift(stream_features(enc, wave, 12_000, lookahead_ms=250, context_ms=1000), whole)
    large = drift(stream_features(enc, wave, 12_000, lookahead_ms=1000, context_ms=4000), whole)
    assert large.rel_l2 < small.rel_l2
    assert large.rel_l2 < 0.25 and large.cos_mean > 0.97


def test_wav2vec_streaming_shapes_and_convergence():
    from livetalk.models.audio_wav2vec import Wav2VecAudioEncoder, wav2vec2_base_config

    torch.manual_seed(0)
    enc = Wav2VecAudioEncoder(wav2vec2_base_config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2))
    wave = speechlike(12_500)
    whole = enc.encode(wave)
    bounded = stream_features(enc, wave, chunk=3000, lookahead_ms=250, context_ms=500, block_frames=4)
    assert bounded.shape == whole.shape == (13, 4 * 32)
    full = stream_features(enc, wave, chunk=3000, lookahead_ms=1000, context_ms=1000)
    assert torch.allclose(full, whole, atol=1e-5)
