"""ODE pairs for a subset of the training clips (`ode_pairs_clips`): which clips, and that they stay aligned."""

import json

import pytest
import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.stages import ODEStage, _pair_subset, read_pairs
from livetalk.distill.trainer import train

COMMON = ["preset=micro", "frames=6", "latent_size=4", "random_clips=6", "batch_size=2", "log_every=1"]


def test_pair_subset_spreads_over_the_file():
    assert _pair_subset(6, 0).tolist() == list(range(6))
    assert _pair_subset(6, 9).tolist() == list(range(6))
    assert _pair_subset(960, 4).tolist() == [0, 320, 639, 959]


def test_ode_pairs_for_a_subset_match_their_clips(tmp_path):
    cfg = lambda *extra: load_train_config(None, COMMON + list(extra), stage=None, recipe="teacher")
    teacher = train(cfg("steps=1", f"out_dir={tmp_path / 't'}"), progress=False)["exported"][0]
    ode = load_train_config(None, COMMON + [f"out_dir={tmp_path / 'o'}", f"teacher={teacher}", "teacher_steps=4",
                                            "ode_pairs_clips=3"], recipe="ode")
    stage = ODEStage(ode)
    assert stage.pair_index.tolist() == [0, 2, 5]
    assert stage.pairs.shape[:2] == (3, 5)
    # the clean end of each trajectory carries its own clip's reference latent in frame 0
    for k, i in enumerate(stage.pair_index.tolist()):
        ref = stage.train_data.ref[i]
        assert torch.allclose(stage.pairs[k, -1, 0].float(), ref, atol=1e-2)
        others = [j for j in range(6) if j != i]
        assert all(not torch.allclose(stage.pairs[k, -1, 0].float(), stage.train_data.ref[j], atol=1e-2) for j in others)
    loss = stage.train_step(0, torch.Generator().manual_seed(0))["loss"]
    assert loss > 0
    # a cached pair file of the right length is reused, not regenerated
    again = ODEStage(ode)
    assert torch.equal(again.pairs, stage.pairs)


def test_a_cached_pair_file_is_checked_never_silently_replaced(tmp_path, capsys):
    cfg = lambda *extra: load_train_config(None, COMMON + list(extra), stage=None, recipe="teacher")
    teacher = train(cfg("steps=1", f"out_dir={tmp_path / 't'}"), progress=False)["exported"][0]
    other = train(cfg("steps=2", f"out_dir={tmp_path / 't2'}"), progress=False)["exported"][0]
    base = COMMON + [f"out_dir={tmp_path / 'o'}", f"teacher={teacher}", "teacher_steps=4", "ode_pairs_clips=3"]
    ode = lambda *extra: load_train_config(None, base + list(extra), recipe="ode")
    stage = ODEStage(ode())
    made = tmp_path / "o" / "ode_pairs.pt"
    pairs, recorded = read_pairs(made)
    assert torch.equal(pairs, stage.pairs) and recorded["teacher_steps"] == 4 and recorded["noise_seed"] == 42 + 7
    before = made.read_bytes()
    # another batch size or learning rate reuses the same file (so does another training seed on prepared data:
    # the noise seed is recorded, not compared; these random test clips are drawn from the seed, so it changes them)
    assert torch.equal(ODEStage(ode("batch_size=1", "lr=1e-3", f"ode_pairs={made}")).pairs, stage.pairs)
    with pytest.raises(ValueError, match="3 of 3 trajectories do not end on"):
        ODEStage(ode("seed=5", f"ode_pairs={made}"))
    # another teacher, another sampler, other clips: a clear error, and the file is left as it was
    with pytest.raises(ValueError, match="teacher_sha256"):
        ODEStage(ode(f"teacher={other}", f"ode_pairs={made}"))
    with pytest.raises(ValueError, match="teacher_steps 4 in the file, 8 here"):
        ODEStage(ode("teacher_steps=8", f"ode_pairs={made}"))
    with pytest.raises(ValueError, match="holds pairs of shape"):
        ODEStage(ode("ode_pairs_clips=2", f"ode_pairs={made}"))
    swapped = tmp_path / "swapped.pt"
    torch.save({"pairs": pairs[[1, 0, 2]], "provenance": json.dumps(recorded)}, swapped)
    with pytest.raises(ValueError, match="2 of 3 trajectories do not end on"):
        ODEStage(ode(f"ode_pairs={swapped}"))
    assert made.read_bytes() == before
    # a file from before provenance was recorded (a bare tensor) still loads when its clips match, with a note
    legacy = tmp_path / "legacy.pt"
    torch.save(pairs, legacy)
    assert torch.equal(ODEStage(ode(f"ode_pairs={legacy}")).pairs, pairs)
    assert "no provenance recorded" in capsys.readouterr().out
