"""WanVAE wrapper: shapes, frame counts, normalisation, and streaming decode == whole-video decode."""

import pytest
import torch

from livetalk.models.vae import WAN21_LATENTS_MEAN, WAN21_LATENTS_STD, WanVAE, latent_frames, pixel_frames

from .vae_streaming import decode_in_blocks

TINY = dict(base_dim=8, num_res_blocks=1)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py



@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return WanVAE.from_config(TINY)


def test_frame_count_formula():
    assert [pixel_frames(f) for f in (1, 2, 3, 21)] == [1, 5, 9, 81]
    assert latent_frames(81) == 21
    with pytest.raises(ValueError):
        latent_frames(8)


def test_default_config_is_wan21():
    from livetalk.models.vae import WAN21_CONFIG

    assert WAN21_CONFIG["base_dim"] == 96 and WAN21_CONFIG["z_dim"] == 16
    assert WAN21_CONFIG["dim_mult"] == [1, 2, 4, 4] and WAN21_CONFIG["temperal_downsample"] == [False, True, True]
    assert len(WAN21_LATENTS_MEAN) == len(WAN21_LATENTS_STD) == 16


@torch.no_grad()
def test_encode_decode_shapes_and_range(vae):
    x = torch.rand(2, 9, 3, 16, 24) * 2 - 1
    z = vae.encode(x)
    assert z.shape == (2, 3, 16, 2, 3)
    y = vae.decode(z)
    assert y.shape == (2, 9, 3, 16, 24)
    assert y.abs().max() <= 1.0
    with pytest.raises(ValueError):
        vae.encode(x[:, :8])


@torch.no_grad()
def test_normalisation_matches_published_stats(vae):
    """encode = (mu − mean)/std with the Wan2.1 statistics; decode starts from z·std + mean."""
    x = torch.rand(1, 5, 3, 16, 16) * 2 - 1
    mu, _ = vae.encode_moments(x)
    mean = torch.tensor(WAN21_LATENTS_MEAN).view(1, 1, 16, 1, 1)
    std = torch.tensor(WAN21_LATENTS_STD).view(1, 1, 16, 1, 1)
    torch.testing.assert_close(vae.encode(x), (mu - mean) / std)
    z = torch.randn(1, 2, 16, 2, 2)
    ref = vae.model.decode((z * std + mean).permute(0, 2, 1, 3, 4)).sample.permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(vae.decode(z), ref, atol=1e-6, rtol=0)


@torch.no_grad()
@pytest.mark.parametrize("blocks", [(3, 3, 3), (1, 2, 3, 1)])
def test_streaming_decode_equals_full_decode(vae, blocks):
    z = torch.randn(1, sum(blocks), 16, 2, 2)
    full = vae.decode(z)
    assert full.shape[1] == pixel_frames(sum(blocks))
    dec = vae.stream_decoder()
    assert (decode_in_blocks(dec, z, blocks) - full).abs().max().item() < 1e-4
    # the stream's cache is private: an encode in between does not disturb a second stream
    dec2 = vae.stream_decoder()
    a = dec2.decode_block(z[:, :3])
    vae.encode(torch.zeros(1, 5, 3, 16, 16))
    b = dec2.decode_block(z[:, 3:6])
    assert (torch.cat([a, b], 1) - full[:, : pixel_frames(6)]).abs().max().item() < 1e-4
    dec2.reset()
    assert dec2.decode_block(z[:, :3]).shape[1] == 9


def test_dtype_and_device_arguments():
    v = WanVAE.from_config(TINY, dtype=torch.float64)
    z = torch.randn(1, 2, 16, 2, 2)
    with torch.no_grad():
        assert v.decode(z).dtype == torch.float64
