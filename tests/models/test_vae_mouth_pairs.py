"""Mouth pairs for the VAE: spoken and mouth-closed renders differ only at the mouth, the mouth-delta loss is 1 for
a reconstruction that drops the mouth and 0 for one that keeps it, `mouth_kept` scores those two cases 0 and 1, and
a training run with the loss writes a loadable checkpoint."""

import json

import pytest
import torch

from livetalk.models.vae import frames_to_video
from livetalk.models.vae_mouth_pairs import WorldPairSource, mouth_delta_loss, mouth_kept
from livetalk.models.vae_train import VAETrainConfig, region_weights, train_vae
from livetalk.models.vae_tiny import TINY_VAE_PATH, load_tiny_vae

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py


def _world(tmp_path, seeds=(900001, 900002)):
    """A manifest of synthetic-world clips (the pair source re-plans them from their seeds; no media needed)."""
    lines = [json.dumps({"id": str(s), "identity_seed": s, "duration_s": 4.0}) for s in seeds]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_pairs_differ_only_at_the_mouth(tmp_path):
    src = WorldPairSource(_world(tmp_path))
    spoken, closed = src.sample_pairs(3, 9, torch.Generator().manual_seed(0))
    assert spoken.shape == closed.shape == (3, 9, 3, 64, 64)
    assert spoken.min() >= -1 and spoken.max() <= 1
    change = (spoken - closed).abs().sum(dim=(0, 1, 2))  # [H, W]
    assert change.sum() > 0, "no window opened the mouth"
    box = region_weights(64, VAETrainConfig.mouth_box, 1.0) > 1
    assert float(change[box].sum() / change.sum()) > 0.9
    again, _ = WorldPairSource(tmp_path).sample_pairs(3, 9, torch.Generator().manual_seed(0))
    assert torch.equal(again, spoken)  # deterministic: plans come from the seeds


def test_pair_source_refuses_a_folder_that_is_not_a_world(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest"):
        WorldPairSource(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "x", "video": "x.mp4"}) + "\n")
    with pytest.raises(KeyError, match="identity_seed"):
        WorldPairSource(tmp_path)


def test_mouth_delta_loss_bounds():
    g = torch.Generator().manual_seed(0)
    xs, xc = torch.rand(2, 5, 3, 8, 8, generator=g), torch.rand(2, 5, 3, 8, 8, generator=g)
    assert float(mouth_delta_loss(xs, xc, xs, xc)) == pytest.approx(0.0, abs=1e-6)
    dropped = torch.rand(2, 5, 3, 8, 8, generator=g)  # the same frame for both: the mouth is gone
    assert float(mouth_delta_loss(dropped, dropped, xs, xc)) == pytest.approx(1.0, rel=1e-5)
    half = mouth_delta_loss(xc + 0.5 * (xs - xc), xc, xs, xc)  # half the amplitude: (1/2)^2
    assert float(half) == pytest.approx(0.25, rel=1e-5)


class _Identity:
    device = torch.device("cpu")

    def encode(self, x):
        return x

    def decode(self, z):
        return z


class _Blind(_Identity):
    def decode(self, z):
        return torch.zeros_like(z)


def test_mouth_kept_scores_a_perfect_and_a_blind_coder(tmp_path):
    spoken, closed = WorldPairSource(_world(tmp_path)).sample_pairs(2, 17, torch.Generator().manual_seed(1))
    full = mouth_kept(_Identity(), spoken, closed)
    assert full["gain"] == pytest.approx(1.0) and full["corr"] == pytest.approx(1.0)
    assert full["time_course_corr"] == pytest.approx(1.0)
    assert mouth_kept(_Blind(), spoken, closed)["gain"] == pytest.approx(0.0)


def test_training_with_the_mouth_delta_loss_writes_a_loadable_vae(tmp_path):
    out = str(tmp_path / "vae.safetensors")
    logs = []
    s = train_vae(VAETrainConfig(data=str(_world(tmp_path)), out=out, max_steps=2, batch=1, frames=5, image_steps=1,
                                 image_batch=1, stat_clips=1, heldout_clips=1, crop=0, log_every=1,
                                 save_every_min=1e9, mouth_delta_weight=0.3), log=logs.append)
    assert s["steps"] == 2 and any("mouth=" in line for line in logs)
    assert load_tiny_vae(out).z_dim == 16


def test_mouth_crops_hold_the_mouth_box():
    from livetalk.models.vae_train import mouth_crop_corner

    cfg = VAETrainConfig(crop=32, crop_mouth=True)
    g = torch.Generator().manual_seed(0)
    top, bottom, left, right = (round(f * 64) for f in cfg.mouth_box)
    corners = {mouth_crop_corner(cfg, g) for _ in range(300)}
    assert len(corners) > 20  # jittered
    for i, j in corners:
        assert 0 <= i <= 32 and 0 <= j <= 32
        assert i <= top and i + 32 >= bottom  # every crop holds the box's rows
        assert (min(right, j + 32) - max(left, j)) / (right - left) > 0.9  # and nearly all of its columns


def test_pair_bank_draws_the_same_windows_as_rendering_on_demand(tmp_path):
    """The bank (every clip rendered once, in worker processes) is a faster `WorldPairSource`, not a different one:
    the same generator gives the same windows, byte for byte, and it refuses windows longer than a clip."""
    from livetalk.models.vae_mouth_pairs import WorldPairBank

    world = _world(tmp_path, seeds=(900001, 900002, 900003))
    bank = WorldPairBank(world, workers=2)
    assert len(bank.clips) == 3 and bank.clips[0][0].shape == (64, 64, 64, 3)  # 4 s at 16 fps
    for seed in (0, 1):
        want = WorldPairSource(world).sample_pairs(4, 13, torch.Generator().manual_seed(seed))
        got = bank.sample_pairs(4, 13, torch.Generator().manual_seed(seed))
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert (WorldPairBank(world, max_clips=1).clips[0][1] == bank.clips[0][1]).all()  # serial = parallel
    with pytest.raises(ValueError, match="fewer than"):
        bank.sample_pairs(1, 65)


def test_saved_plans_render_the_same_windows_without_planning(tmp_path, monkeypatch):
    """`save_plans` lets a machine without espeak-ng (a GPU box) render the world: a source opened on the folder
    takes the plans from plans.pkl and never re-plans; a plans file of other clips is refused."""
    import livetalk.models.vae_mouth_pairs as vmp

    world = _world(tmp_path)
    want = WorldPairSource(world).sample_pairs(3, 9, torch.Generator().manual_seed(0))
    WorldPairSource(world).save_plans()

    def no_planning(*a, **k):
        raise RuntimeError("espeak-ng is not installed")

    monkeypatch.setattr(vmp, "plan_clip", no_planning)
    got = WorldPairSource(world).sample_pairs(3, 9, torch.Generator().manual_seed(0))
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    bank = vmp.WorldPairBank(world, workers=2)
    assert torch.equal(bank.sample_pairs(3, 9, torch.Generator().manual_seed(0))[1], want[1])
    (world / "manifest.jsonl").write_text(json.dumps({"id": "x", "identity_seed": 5, "duration_s": 4.0}) + "\n")
    with pytest.raises(ValueError, match="no plan for clip x"):
        WorldPairSource(world)


T49L = TINY_VAE_PATH.parent / "previous" / "tiny_vae_t49l.safetensors"


@pytest.mark.skipif(not T49L.exists(),
                    reason="the previous VAE lives in the repository checkout, not in an installed wheel")
def test_shipped_vae_keeps_the_mouth_that_the_previous_one_dropped(tmp_path):
    """The shipped VAE (VMH since session 38, docs/vae.md) against the one it replaced (T49-L,
    `weights/previous/tiny_vae_t49l.safetensors`) on three held-out windows past the speech onset: it keeps at least
    3x the mouth's amplitude and its time course (40 windows: gain 0.59 against 0.14, time course 0.88 against
    0.11)."""
    src = WorldPairSource(_world(tmp_path, seeds=(900003, 900004, 900005)))
    windows = [src.window_pair(i, 28, 33) for i in range(3)]  # 33 frames of a 4 s clip, past the speech onset
    spoken = torch.cat([frames_to_video(s) for s, _ in windows])
    closed = torch.cat([frames_to_video(c) for _, c in windows])
    previous = mouth_kept(load_tiny_vae(T49L), spoken, closed)
    kept = mouth_kept(load_tiny_vae(TINY_VAE_PATH), spoken, closed)
    assert kept["gain"] > 0.3 and kept["gain"] > 3 * previous["gain"], (kept, previous)
    assert kept["time_course_corr"] > 0.6 > previous["time_course_corr"], (kept, previous)
