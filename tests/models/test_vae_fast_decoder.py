"""Fast streaming decoder: shapes, causality, streaming == full-sequence, checkpoint round trip."""

import pytest
import torch

from livetalk.models.vae_convert import KeyLayoutError
from livetalk.models.vae_fast_decoder import FULL_FAST_DECODER, FastDecoder, FastDecoderConfig

from .vae_streaming import decode_in_blocks

SMALL = FastDecoderConfig(channels=(16, 12, 8, 8), blocks=1)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py



@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FastDecoder(SMALL).eval()


@torch.no_grad()
def test_shapes_and_frame_counts(model):
    z = torch.randn(2, 4, 16, 3, 5)
    y = model.decode(z)
    assert y.shape == (2, 13, 3, 24, 40)
    assert y.abs().max() <= 1.0


@torch.no_grad()
@pytest.mark.parametrize("blocks", [(3, 3, 3), (1, 2, 3, 1)])
def test_streaming_equals_full(model, blocks):
    z = torch.randn(1, sum(blocks), 16, 2, 2)
    full = model.decode(z)
    dec = model.stream_decoder()
    assert (decode_in_blocks(dec, z, blocks) - full).abs().max().item() < 1e-5


@torch.no_grad()
def test_causal(model):
    """Changing a later latent frame leaves every earlier pixel frame unchanged."""
    z = torch.randn(1, 4, 16, 2, 2)
    z2 = z.clone()
    z2[:, 2] += 1.0
    a, b = model.decode(z), model.decode(z2)
    assert torch.equal(a[:, :5], b[:, :5])  # latent frames 0, 1 -> pixel frames 0..4
    assert not torch.equal(a[:, 5:], b[:, 5:])


def test_full_scale_width_builds():
    m = FastDecoder(FULL_FAST_DECODER)
    assert m.config.channels == (256, 128, 64, 64)


def test_checkpoint_round_trip_and_wrong_layout(tmp_path, model):
    path = tmp_path / "fd.safetensors"
    model.save_file(path, storage_dtype=torch.float32)
    m2 = FastDecoder.from_file(path)
    z = torch.randn(1, 2, 16, 2, 2)
    with torch.no_grad():
        assert torch.equal(model.decode(z), m2.decode(z))
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    sd = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    sd["extra.weight"] = torch.zeros(1)
    sd.pop("conv_out.bias")
    save_file(sd, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(KeyLayoutError, match=r"missing keys: conv_out\.bias.*unexpected keys: extra\.weight"):
        FastDecoder.from_file(tmp_path / "bad.safetensors")


@torch.no_grad()
def test_teacher_pairs_encode_long_clips_window_by_window():
    """Past `window` frames the distillation latents are the DiT's (each window encoded on its own); the teacher
    pixels are the VAE's continuous decode of exactly those latents."""
    from livetalk.models.vae import WanVAE
    from livetalk.models.vae_fast_train import teacher_pairs
    from livetalk.models.vae_long_decoder import window_latents

    class Fixed:  # a data source that always returns the same clips
        def __init__(self, x):
            self.x = x

        def sample(self, n, frames, g):
            return self.x[:n, :frames]

    torch.manual_seed(0)
    vae = WanVAE.from_config({"base_dim": 8, "num_res_blocks": 1}).eval()
    src = Fixed(torch.rand(2, 17, 3, 16, 16) * 2 - 1)
    z, teach, gt = teacher_pairs(vae, src, 2, 17, seed=0, window=9)
    torch.testing.assert_close(z, window_latents(vae, src.x, 9))
    torch.testing.assert_close(teach, vae.decode(z))
    assert not torch.allclose(z, vae.encode(src.x))  # not the whole-clip encoding
    z_short, _, _ = teacher_pairs(vae, src, 2, 9, seed=0, window=9)  # one window: the plain encoding
    torch.testing.assert_close(z_short, vae.encode(src.x[:, :9]))


REF = FastDecoderConfig(channels=(16, 12, 8, 8), blocks=1, reference=True)


@pytest.fixture(scope="module")
def ref_model():
    torch.manual_seed(1)
    m = FastDecoder(REF).eval()
    with torch.no_grad():  # make the reference inputs matter (a zero-initialised copy would hide bugs)
        m.conv_in.weight[:, 16:].normal_(0.0, 0.3)
    return m


@torch.no_grad()
@pytest.mark.parametrize("blocks", [(3, 3, 3), (1, 2, 3, 1)])
def test_reference_streaming_equals_full(ref_model, blocks):
    z = torch.randn(1, sum(blocks), 16, 2, 2)
    full = ref_model.decode(z)
    assert (decode_in_blocks(ref_model.stream_decoder(), z, blocks) - full).abs().max().item() < 1e-5


@torch.no_grad()
def test_reference_reaches_every_frame(model, ref_model):
    """Latent frame 0 changes the last frames of a long stream only in the conditioned decoder; later frames stay
    causal in both."""
    z = torch.randn(1, 12, 16, 2, 2)
    z0 = z.clone()
    z0[:, 0] += 1.0
    assert torch.equal(model.decode(z)[:, -8:], model.decode(z0)[:, -8:])  # 6 MemBlocks: frame 0 is out of reach
    assert (ref_model.decode(z)[:, -8:] - ref_model.decode(z0)[:, -8:]).abs().max() > 1e-3
    z2 = z.clone()
    z2[:, 5] += 1.0
    a, b = ref_model.decode(z), ref_model.decode(z2)
    assert torch.equal(a[:, :17], b[:, :17]) and not torch.equal(a[:, 17:], b[:, 17:])


@torch.no_grad()
def test_with_reference_starts_as_the_original(model):
    ref = FastDecoder.with_reference(model)
    assert ref.config.reference and not model.config.reference
    z = torch.randn(2, 7, 16, 2, 2)
    torch.testing.assert_close(ref.decode(z), model.decode(z), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="already"):
        FastDecoder.with_reference(ref)


@torch.no_grad()
def test_reference_checkpoint_round_trip_and_errors(tmp_path, model, ref_model):
    path = tmp_path / "ref.safetensors"
    ref_model.save_file(path, storage_dtype=torch.float32)
    m2 = FastDecoder.from_file(path)
    assert m2.config.reference
    z = torch.randn(1, 5, 16, 2, 2)
    assert torch.equal(ref_model.decode(z), m2.decode(z))
    # an unconditioned checkpoint's weights do not fit a conditioned decoder (conv_in's input width)
    plain = tmp_path / "plain.safetensors"
    model.save_file(plain, storage_dtype=torch.float32)
    assert not FastDecoder.from_file(plain).config.reference
    with pytest.raises(ValueError, match="not reference-conditioned"):
        model(z, None, z[:, :1])
    with pytest.raises(ValueError, match=r"reference must be \[B, 1, C, h, w\]"):
        ref_model(z, None, z[:, :2])
    _, state = ref_model(z[:, :2])
    with pytest.raises(ValueError, match="needs the stream's latent frame 0"):
        ref_model(z[:, 2:], state)
