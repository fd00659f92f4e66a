"""Audio encoders on CUDA in bf16 (skipped without a GPU)."""

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from livetalk.models.audio_drift import drift  # noqa: E402
from livetalk.models.audio_logmel import LogMelAudioEncoder  # noqa: E402
from livetalk.models.audio_wav2vec import Wav2VecAudioEncoder, wav2vec2_base_config  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def wave(n=81_000):
    t = np.arange(n) / 16000
    return torch.from_numpy((0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
                             + 0.01 * np.random.default_rng(0).standard_normal(n)).astype(np.float32))


def test_wav2vec_bf16_cuda_close_to_fp32():
    torch.manual_seed(0)
    e32 = Wav2VecAudioEncoder(wav2vec2_base_config(), device="cuda")
    f32 = e32.encode(wave(), 81)
    e16 = Wav2VecAudioEncoder(model=e32.model, device="cuda", dtype=torch.bfloat16)
    f16 = e16.encode(wave(), 81)
    assert f16.shape == (81, 10752) and f16.dtype == torch.bfloat16 and f16.device.type == "cuda"
    assert drift(f16.float().cpu(), f32.float().cpu()).rel_l2 < 0.05


def test_logmel_cuda_matches_cpu():
    a = LogMelAudioEncoder(device="cuda").encode(wave(), 81)
    b = LogMelAudioEncoder().encode(wave(), 81)
    assert a.device.type == "cuda" and torch.allclose(a.cpu(), b, atol=1e-4)
    s = LogMelAudioEncoder(device="cuda").encode_stream()
    out = torch.cat([s.push(wave()[i:i + 12000]) for i in range(0, 81000, 12000)] + [s.flush()])
    assert torch.allclose(out.cpu(), b, atol=1e-4)
