"""World clips → the latent training file (all variants) → `LatentClips` batches."""

import pytest
import torch

from livetalk.models.vae_tiny import TINY_VAE_PATH

pytestmark = pytest.mark.skipif(not TINY_VAE_PATH.exists(), reason="shipped tiny VAE not present")


def test_prepare_latents_variants_round_trip(tmp_path, one_thread):
    from livetalk.data.clip import ClipConfig
    from livetalk.data.synth import synth_dataset
    from livetalk.distill.data import LatentClips
    from livetalk.distill.prepare import prepare_latents

    synth_dataset(tmp_path / "world", 3, ClipConfig(duration_s=1.25), start_seed=7)
    summary = prepare_latents(tmp_path / "world", tmp_path / "lat.pt", latent_frames=3, degrade=0.5, progress=False)
    assert summary["windows"] == 6  # 20 frames per clip → two windows of 9 frames
    raw = LatentClips.load(f"{tmp_path / 'lat.pt'}:raw")
    curated = LatentClips.load(f"{tmp_path / 'lat.pt'}:curated")
    assert raw.latents.shape == (6, 3, 16, 8, 8) and raw.audio.shape == (6, 3, 4, 80)
    assert raw.context.shape == (6, 32, 384)
    # frame 0 carries each variant's reference latent; clip 0 is degraded in raw, repaired in curated
    assert torch.equal(raw.latents[:, 0], raw.ref)
    assert not torch.allclose(raw.ref[0], curated.ref[0])
    assert all(p.startswith("A person ") for p in curated.prompts)
    b = curated.batch([0, 5])
    assert b.latents.shape == (2, 3, 16, 8, 8) and b.cond.shape == (2, 3, 17, 8, 8)
