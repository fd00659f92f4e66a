"""The shipped tiny checkpoints load and reconstruct a face-like 64×64 clip above a measured PSNR."""

import pytest
import torch

from livetalk.models.vae_metrics import psnr_per_clip
from livetalk.models.vae_tiny import TINY_FAST_DECODER_PATH, TINY_VAE_PATH, load_tiny_fast_decoder, load_tiny_vae
from livetalk.models.vae_toy_data import ToyFaceSource

# Measured on these 3 clips (toy seed 123, world seed 90001) with the shipped checkpoints, minus a margin.
# The shipped tiny VAE is the one the shipped DiTs were trained against, and it is WEAK: 12.8 dB over all
# frames (toy 16.0 / 10.8, world 11.6) and 10.9 dB after pixel frame 9 (its causal cache drifts). A better VAE
# needs the DiT pipeline retrained on its latents (docs/results.md). These bounds guard against regressions.
# (The fine-tuned candidate `weights/tiny_vae_t21_candidate.safetensors` measures 18.7 / 18.0 dB here, but it
# changes the latent space, so it ships only as the starting point of the next DiT training.)
VAE_MIN_PSNR_DB = 11.5  # measured 12.8
VAE_LATE_MIN_PSNR_DB = 9.5  # measured 10.9 (pixel frames 9..20)
FAST_VS_VAE_MIN_PSNR_DB = 18.0  # measured 20.5 (fast decoder vs the VAE decoder)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Conv3d on a shared 2-core box is far faster single-threaded (no OpenMP oversubscription)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)



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


def test_shipped_files_are_small():
    for p in (TINY_VAE_PATH, TINY_FAST_DECODER_PATH):
        assert p.stat().st_size < 8 * 2**20, p


def test_wrong_checkpoint_kind_raises(tmp_path):
    from livetalk.models.vae_convert import KeyLayoutError

    with pytest.raises(KeyLayoutError, match="vae_config"):
        load_tiny_vae(TINY_FAST_DECODER_PATH)
    with pytest.raises(KeyLayoutError, match="fast_decoder_config"):
        load_tiny_fast_decoder(TINY_VAE_PATH)
