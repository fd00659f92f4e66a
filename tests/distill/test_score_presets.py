"""A teacher and critic of another preset than the student (`teacher_preset`, `critic_preset`), as in the published
recipe (14B real score, 1.3B critic): layouts checked strictly, inputs checked to match, and ODE / DMD run."""

import dataclasses

import pytest
import torch

from livetalk.distill.config import load_train_config
from livetalk.distill.stages import DMDStage, ODEStage
from livetalk.distill.trainer import train
from livetalk.models.checkpoint import CheckpointLayoutError, save_dit
from livetalk.models.config import PRESETS, get_preset
from livetalk.models.dit import build_dit
from livetalk.models.grow import grow_depth, grown_config

COMMON = ["preset=micro", "frames=6", "latent_size=4", "random_clips=4", "batch_size=2", "log_every=1"]


@pytest.fixture
def teachers(tmp_path, monkeypatch):
    """(micro teacher file, the same teacher grown to `micro-deep`: 8 blocks computing the same function)."""
    monkeypatch.setitem(PRESETS, "micro-deep", grown_config(get_preset("micro"), 2, name="micro-deep"))
    src = build_dit("micro", seed=1)
    deep = grow_depth(src, 2, cfg=get_preset("micro-deep"))
    return save_dit(src, tmp_path / "micro.safetensors"), save_dit(deep, tmp_path / "deep.safetensors")


def _cfg(tmp_path, stage, *extra):
    return load_train_config(None, COMMON + [f"out_dir={tmp_path / stage}"] + list(extra), stage=stage)


def test_ode_pairs_from_a_deeper_teacher_of_the_same_function_are_the_same(tmp_path, teachers):
    micro, deep = teachers
    pairs = ["teacher_steps=4", "ode_pairs_clips=2"]
    same = ODEStage(_cfg(tmp_path / "a", "ode", f"teacher={micro}", *pairs))
    other = ODEStage(_cfg(tmp_path / "b", "ode", f"teacher={deep}", "teacher_preset=micro-deep", f"init={micro}",
                          *pairs))
    assert torch.equal(same.pairs, other.pairs)
    assert other.student.cfg.num_layers == 4
    assert other.train_step(0, torch.Generator().manual_seed(0))["loss"] > 0


def test_dmd_with_a_deeper_real_score_and_a_critic_of_either_size(tmp_path, teachers):
    micro, deep = teachers
    base = [f"teacher={deep}", "teacher_preset=micro-deep", f"init={micro}", "steps=3", "gen_update_every=2",
            "ema_start=0"]
    stage = DMDStage(_cfg(tmp_path, "dmd", *base))
    assert (stage.real.cfg.num_layers, stage.fake.cfg.num_layers, stage.student.cfg.num_layers) == (8, 8, 4)
    published = _cfg(tmp_path / "p", "dmd", *base, f"critic_init={micro}")  # 14B real, 1.3B critic
    stage = DMDStage(published)
    assert (stage.real.cfg.num_layers, stage.fake.cfg.num_layers) == (8, 4)
    logs = train(published, progress=False)["logs"]
    assert {"critic_loss", "gen_loss"} <= set(logs)


def test_wrong_presets_are_clear_errors(tmp_path, teachers):
    micro, deep = teachers
    with pytest.raises(CheckpointLayoutError):  # the file is micro, the config says micro-deep: no fallback
        DMDStage(_cfg(tmp_path, "dmd", f"teacher={micro}", "teacher_preset=micro-deep", f"init={micro}"))
    with pytest.raises(ValueError, match="set `init`"):
        ODEStage(_cfg(tmp_path, "ode", f"teacher={deep}", "teacher_preset=micro-deep"))
    with pytest.raises(ValueError, match="does not take the inputs .* text_dim 384"):
        DMDStage(_cfg(tmp_path, "dmd", f"teacher={deep}", "teacher_preset=tiny", f"init={micro}"))
    with pytest.raises(ValueError, match="critic preset 'tiny'"):
        DMDStage(_cfg(tmp_path, "dmd", f"teacher={micro}", f"init={micro}", "critic_preset=tiny"))
    with pytest.raises(ValueError, match="apply to the ode and dmd stages"):
        _cfg(tmp_path, "teacher", "teacher_preset=micro-deep")
    cfg = _cfg(tmp_path, "dmd", f"teacher={deep}", "teacher_preset=micro-deep", f"init={micro}")
    assert (cfg.teacher_preset_name, cfg.critic_preset_name) == ("micro-deep", "micro-deep")
    assert dataclasses.replace(cfg, critic_init=str(micro)).critic_preset_name == "micro"


def test_the_published_full_scale_config_fits_together():
    """configs/livetalk_1.3b_dmd.yaml: 1.3B student, 14B real score, 1.3B critic (nothing loaded)."""
    from pathlib import Path

    from livetalk.distill.stages import check_score_presets

    cfg = load_train_config(Path(__file__).parents[2] / "configs" / "livetalk_1.3b_dmd.yaml", stage="dmd")
    assert (cfg.preset, cfg.teacher_preset_name, cfg.critic_preset_name) == \
        ("livetalk-1.3b", "omniavatar-14b", "livetalk-1.3b")
    assert (cfg.lr, cfg.critic_lr, cfg.guidance, cfg.audio_guidance) == (4e-6, 8e-7, 5.0, 5.0)
    assert cfg.parallel.meta_init and cfg.grad_checkpointing
    check_score_presets(cfg)
