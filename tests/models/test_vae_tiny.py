"""The shipped tiny checkpoints load and reconstruct a face-like 64×64 clip above a measured PSNR."""

import pytest
import torch

from livetalk.models.vae_metrics import psnr_per_clip
from livetalk.models.vae_tiny import TINY_FAST_DECODER_PATH, TINY_VAE_PATH, load_tiny_fast_decoder, load_tiny_vae
from livetalk.models.vae_toy_data import ToyFaceSource

# Measured on these 3 clips (toy seed 123, world seed 90001) with the shipped checkpoints, minus a margin.
# The shipped tiny VAE is "T49" (docs/vae.md): T21's encoder and latent normalisation, its decoder fine-tuned on
# 49-frame world clips; the shipped DiTs were trained on its latents. All frames 18.8 dB (toy 22.2 / 22.2; this
# world clip 12.0), 18.0 dB after pixel frame 9. (The earlier T9 measured 12.8 / 10.9 here.)
VAE_MIN_PSNR_DB = 17.5  # measured 18.8
VAE_LATE_MIN_PSNR_DB = 16.5  # measured 18.0 (pixel frames 9..20)
FAST_VS_VAE_MIN_PSNR_DB = 22.0  # measured 23.4 (fast decoder vs the VAE decoder; 21.5 before session 23's)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py



@pytest.fixture(scope="module")
def clip():
    """2 built-in procedural heads + (when livetalk.data is present) 1 clip of the synthetic world, 21 frames."""
    toy = ToyFaceSource(64).sample(2, 21, torch.Generator().manual_seed(123))
    try:
        from livetalk.data.clip import ClipConfig, make_clip
    except ImportError:
        return toy
    frames = make_clip(90001, ClipConfig(duration_s=21 / 16)).frames[:21]  # uint8 [21, 64, 64, 3]
    world = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1).unsqueeze(0)
    return torch.cat([toy, world])


@pytest.fixture(scope="module")
def vae():
    return load_tiny_vae()


@torch.no_grad()
def test_tiny_vae_reconstructs(vae, clip):
    z = vae.encode(clip)
    assert z.shape == (clip.shape[0], 6, 16, 8, 8)
    # normalised latents are roughly standardised
    assert abs(z.mean().item()) < 0.5 and 0.5 < z.std().item() < 2.0
    rec = vae.decode(z)
    assert rec.shape == clip.shape
    assert psnr_per_clip(rec, clip) > VAE_MIN_PSNR_DB
    # quality after the first blocks (pixel frames 9..20)
    assert psnr_per_clip(rec[:, 9:], clip[:, 9:]) > VAE_LATE_MIN_PSNR_DB

@torch.no_grad()
def test_tiny_fast_decoder_matches_vae(vae, clip):
    fast = load_tiny_fast_decoder()
    z = vae.encode(clip)
    ref = vae.decode(z)
    y = fast.decode(z)
    assert y.shape == ref.shape
    assert psnr_per_clip(y, ref) > FAST_VS_VAE_MIN_PSNR_DB


@torch.no_grad()
def test_tiny_fast_decoder_is_reference_conditioned(vae, clip):
    """The shipped fast decoder sees latent frame 0 (the reference image latent) at every frame (session 23,
    docs/vae.md): changing it changes the last frames of a clip, which 6 MemBlocks alone cannot reach."""
    fast = load_tiny_fast_decoder()
    assert fast.config.reference
    z = vae.encode(clip[:1])
    z0 = z.clone()
    z0[:, 0] = vae.encode(clip[1:2, :1])[:, 0]
    assert (fast.decode(z)[:, -8:] - fast.decode(z0)[:, -8:]).abs().mean() > 1e-3


def test_shipped_files_are_small():
    for p in (TINY_VAE_PATH, TINY_FAST_DECODER_PATH):
        assert p.stat().st_size < 8 * 2**20, p


def test_wrong_checkpoint_kind_raises(tmp_path):
    from livetalk.models.vae_convert import KeyLayoutError

    with pytest.raises(KeyLayoutError, match="vae_config"):
        load_tiny_vae(TINY_FAST_DECODER_PATH)
    with pytest.raises(KeyLayoutError, match="fast_decoder_config"):
        load_tiny_fast_decoder(TINY_VAE_PATH)


def test_latent_space_id_follows_the_encoder_not_the_decoder_or_dtype(vae, tmp_path):
    """`WanVAE.latent_space_id`: the same for an fp16 copy and for a decoder-only change (the space is the
    encoder's and the normalisation's), different when the encoder or the latent statistics change."""
    sid = vae.latent_space_id()
    assert len(sid) == 16 and load_tiny_vae(dtype=torch.float64).latent_space_id() == sid
    other = load_tiny_vae()
    with torch.no_grad():
        other.model.decoder.conv_in.weight.add_(0.1)
    assert other.latent_space_id() == sid
    with torch.no_grad():
        other.model.encoder.conv_in.weight.add_(0.1)
    assert other.latent_space_id() != sid
    stats = load_tiny_vae()
    stats.set_latent_stats(torch.zeros(16), torch.ones(16))
    assert stats.latent_space_id() != sid
