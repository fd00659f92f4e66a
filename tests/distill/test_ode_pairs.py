"""ODE pairs for a subset of the training clips (`ode_pairs_clips`): which clips, and that they stay aligned."""

import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.stages import ODEStage, _pair_subset
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
