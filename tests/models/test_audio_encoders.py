"""Audio encoders: log-mel (tiny) and wav2vec2 custom forward (full), random weights, CPU."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from livetalk.models.audio_encoder import (AudioInputError, LogMelAudioEncoder, Wav2VecAudioEncoder,
                                           build_audio_encoder, wav2vec2_base_config)

transformers = pytest.importorskip("transformers")


def small_w2v_config(**kw):
    return wav2vec2_base_config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                                num_conv_pos_embedding_groups=2, **kw)


def speechlike(n, seed=0):
    """Amplitude-modulated harmonics + noise, float32 [n] at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * env * x + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def w2v():
    torch.manual_seed(0)
    return Wav2VecAudioEncoder(small_w2v_config())


# ---------------------------------------------------------------- log-mel (tiny)
def test_logmel_shape_pad_not_stretch():
    enc = LogMelAudioEncoder()
    wave = speechlike(5000)  # 5 frames of audio
    f = enc.encode(wave, num_frames=9)
    assert f.shape == (9, 80) and f.dtype == torch.float32
    # padded with zeros, not stretched: the first 4 frames are those of the 5-frame clip
    assert torch.allclose(f[:4], enc.encode(wave, num_frames=5)[:4])
    # frames 6.. are pure padding -> the silence floor (log10(1e-8) + 4) / 4 = -1
    assert torch.allclose(f[6:], torch.full_like(f[6:], -1.0))
    # longer audio is trimmed to T·1000 samples
    assert torch.allclose(enc.encode(speechlike(20000), 5), enc.encode(speechlike(20000)[:5000], 5))
    assert enc.encode(wave).shape == (5, 80)  # default T = ceil(N/1000)


def test_logmel_batch_and_dtype():
    enc = LogMelAudioEncoder(dtype=torch.bfloat16)
    batch = np.stack([speechlike(8000, 0), speechlike(8000, 1)])
    fb = enc.encode(batch, 8)
    assert fb.shape == (2, 8, 80) and fb.dtype == torch.bfloat16
    assert torch.equal(fb[1], enc.encode(batch[1], 8))


def test_logmel_clip_normalisation():
    f = LogMelAudioEncoder(normalize="clip").encode(speechlike(16000), 16)
    assert f.mean(0).abs().max() < 1e-4
    assert (f.std(0, unbiased=False) - 1).abs().max() < 1e-2


def test_logmel_frame_is_centred():
    """A click inside frame 3 only shows up in frame 3 (window 1024 centred on the frame)."""
    enc = LogMelAudioEncoder()
    wave = np.zeros(8000, np.float32)
    wave[3500] = 1.0
    f = enc.encode(wave, 8)
    loud = (f > -0.99).any(dim=1)
    assert loud.tolist() == [False, False, False, True, False, False, False, False]


# ---------------------------------------------------------------- wav2vec2 (full)
def reference_w2v_features(model, wave, num_frames):
    """Independent reference: HF's normaliser + HF's own forward with the CNN output interpolated."""
    fe = transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True)
    x = torch.from_numpy(np.asarray(fe(wave, sampling_rate=16000).input_values[0], np.float32))[None]
    orig = model.feature_extractor

    class Interp(torch.nn.Module):
        def forward(self, v):
            return F.interpolate(orig(v), size=num_frames, mode="linear", align_corners=True)

    model.feature_extractor = Interp()
    try:
        out = model(x, output_hidden_states=True)
    finally:
        model.feature_extractor = orig
    return torch.cat([out.last_hidden_state, *out.hidden_states], -1)[0]


def test_w2v_custom_forward_matches_reference():
    torch.manual_seed(1)
    enc = Wav2VecAudioEncoder(small_w2v_config())
    wave = speechlike(9000)
    f = enc.encode(wave, num_frames=9)
    assert f.shape == (9, 5 * 32) and enc.feature_dim == 5 * 32
    ref = reference_w2v_features(enc.model, wave, 9)
    assert torch.allclose(f, ref, atol=1e-5), (f - ref).abs().max()
    # order [last, h0..hL]: the first block equals the last one (h_L == last_hidden_state)
    assert torch.equal(f[:, :32], f[:, -32:])


def test_w2v_stable_layer_norm_refused():
    with pytest.raises(NotImplementedError):
        Wav2VecAudioEncoder(small_w2v_config(do_stable_layer_norm=True, feat_extract_norm="layer"))


def test_w2v_interpolation_happens_before_transformer(w2v):
    """Interpolating the 50 Hz outputs afterwards gives different numbers (pitfall 4)."""
    wave = speechlike(9000)
    f = w2v.encode(wave, 9)
    n_cnn = w2v.model.feature_extractor(torch.zeros(1, 9000)).shape[-1]
    last50, _ = w2v.hidden_states(torch.from_numpy(wave)[None], n_cnn)  # no-op interpolation
    after = F.interpolate(last50.transpose(1, 2), size=9, mode="linear", align_corners=True)
    assert not torch.allclose(f[:, :32], after.transpose(1, 2)[0], atol=1e-3)


def test_w2v_pads_with_zeros_and_batches(w2v):
    wave = speechlike(7000)
    f = w2v.encode(wave, 9)
    padded = np.concatenate([wave, np.zeros(2000, np.float32)])
    assert torch.allclose(f, w2v.encode(padded, 9), atol=1e-6)
    batch = np.stack([padded, speechlike(9000, 3)])
    fb = w2v.encode(batch, 9)
    assert fb.shape == (2, 9, 160)
    assert torch.allclose(fb[0], f, atol=1e-5)


def test_w2v_full_config_shapes_on_meta():
    enc = Wav2VecAudioEncoder(wav2vec2_base_config(), device="meta")
    assert enc.feature_dim == 10752
    out = enc.encode(torch.zeros(80000), 81)
    assert out.shape == (81, 10752)


def test_w2v_full_config_random_weights_forward():
    """Real wav2vec2-base-960h config, random weights: 9 frames -> [9, 10752], [last, h0..h12] order."""
    torch.manual_seed(0)
    enc = build_audio_encoder("full", random_weights=True)
    f = enc.encode(speechlike(8500), 9)
    assert f.shape == (9, 10752) and torch.isfinite(f).all()
    assert torch.equal(f[:, :768], f[:, -768:])


def test_w2v_from_pretrained_ctc_folder(tmp_path):
    """A Wav2Vec2ForCTC folder (keys prefixed 'wav2vec2.', plus lm_head) loads with local_files_only."""
    torch.manual_seed(2)
    ctc = transformers.Wav2Vec2ForCTC(small_w2v_config())
    ctc.save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000,
                                          do_normalize=True).save_pretrained(tmp_path)
    enc = Wav2VecAudioEncoder.from_pretrained(tmp_path)
    direct = Wav2VecAudioEncoder(model=ctc.wav2vec2)
    wave = speechlike(5000)
    assert torch.allclose(enc.encode(wave, 5), direct.encode(wave, 5), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        Wav2VecAudioEncoder.from_pretrained(tmp_path / "missing")


def test_w2v_bf16(w2v):
    enc = Wav2VecAudioEncoder(model=w2v.model, dtype=torch.bfloat16)
    f = enc.encode(speechlike(4000), 4)
    assert f.dtype == torch.bfloat16 and torch.isfinite(f.float()).all()
    w2v.model.float()


# ---------------------------------------------------------------- input validation
def test_bad_inputs_raise_clear_errors():
    enc = LogMelAudioEncoder()
    with pytest.raises(AudioInputError, match="empty"):
        enc.encode(np.zeros(0, np.float32))
    with pytest.raises(AudioInputError, match="NaN"):
        enc.encode(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioInputError, match="NaN or inf"):
        enc.encode(torch.tensor([0.0, float("inf")]))
    with pytest.raises(AudioInputError, match="integer"):
        enc.encode(np.zeros(100, np.int16))
    with pytest.raises(AudioInputError, match="mono"):
        enc.encode(np.zeros((1, 2, 100), np.float32))
    with pytest.raises(AudioInputError, match="num_frames"):
        enc.encode(np.zeros(100, np.float32), num_frames=0)


def test_other_sample_rate_is_resampled_explicitly():
    from livetalk.models.media_io import resample

    enc = LogMelAudioEncoder()
    wave16 = speechlike(16000)
    wave48 = resample(wave16, 16000, 48000)
    f48 = enc.encode(wave48, 16, sample_rate=48000)
    f16 = enc.encode(resample(wave48, 48000, 16000), 16)
    assert torch.allclose(f48, f16)
    assert (f48 - enc.encode(wave16, 16)).abs().mean() < 0.02  # round trip 16k->48k->16k is near lossless


def test_silence_is_fine():
    for enc in (LogMelAudioEncoder(), build_audio_encoder("tiny")):
        f = enc.encode(np.zeros(3000, np.float32), 3)
        assert torch.isfinite(f).all()
    torch.manual_seed(0)
    f = Wav2VecAudioEncoder(small_w2v_config()).encode(np.zeros(3000, np.float32), 3)
    assert torch.isfinite(f).all()


def test_factory():
    assert build_audio_encoder("tiny").feature_dim == 80
    with pytest.raises(ValueError, match="path"):
        build_audio_encoder("full")
    with pytest.raises(ValueError, match="scale"):
        build_audio_encoder("huge")
