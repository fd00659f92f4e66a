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


def test_clip_encoding_cuts_windows_from_one_encode(tmp_path, one_thread):
    """`encode="clip"`: window k holds latent frames [kF, (k+1)F) of the clip encoded once, its audio from pixel
    frame 4kF (window 0's audio is the per-window file's); latent frames after 0 are those of the whole encode."""
    from livetalk.data.clip import ClipConfig
    from livetalk.data.dataset import TalkingHeadDataset
    from livetalk.data.synth import synth_dataset
    from livetalk.distill.prepare import prepare_latents
    from livetalk.models.vae import frames_to_video
    from livetalk.models.vae_tiny import load_tiny_vae

    synth_dataset(tmp_path / "world", 1, ClipConfig(duration_s=2.5), start_seed=7)  # 40 frames
    s_clip = prepare_latents(tmp_path / "world", tmp_path / "c.pt", latent_frames=3, variants=("clean",),
                             encode="clip", progress=False)
    s_win = prepare_latents(tmp_path / "world", tmp_path / "w.pt", latent_frames=3, variants=("clean",),
                            progress=False)
    assert s_clip["windows"] == 3 and s_clip["encode"] == "clip"  # pixel starts 0, 12, 24 (+9 frames each <= 40)
    assert s_win["windows"] == 4 and s_win["encode"] == "window"  # 0, 9, 18, 27
    clip, win = torch.load(tmp_path / "c.pt"), torch.load(tmp_path / "w.pt")
    assert clip["encode"] == "clip" and win["encode"] == "window"
    from livetalk.distill.data import LatentClips

    loaded = LatentClips.load(f"{tmp_path / 'c.pt'}:clean")
    assert loaded.latents.shape == (3, 3, 16, 8, 8) and torch.equal(loaded.latents[:, 0], loaded.ref)
    frames = TalkingHeadDataset(tmp_path / "world")[0].frames
    with torch.no_grad():
        whole = load_tiny_vae(None).encode(frames_to_video(frames[:37]))[0]  # 37 = 4 * 9 + 1 frames → 10 latents
    for k in range(3):
        torch.testing.assert_close(clip["latents"][k, 1:].float(), whole[3 * k + 1 : 3 * k + 3].half().float())
    assert torch.equal(clip["audio"][0], win["audio"][0])
    assert not torch.equal(clip["audio"][1], win["audio"][1])
    with pytest.raises(ValueError, match="encode must be"):
        prepare_latents(tmp_path / "world", tmp_path / "x.pt", latent_frames=3, encode="frames", progress=False)
