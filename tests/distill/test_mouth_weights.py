"""Region-weighted (mouth) losses: the weights, the weighted MSE, the box on the shipped VAE's latents, the config
checks and condition_use's mouth-box report."""

import pytest
import torch
import torch.nn.functional as F

from livetalk.data.clip import ClipConfig, plan_clip
from livetalk.data.render import render_frames
from livetalk.distill.batch import random_batch
from livetalk.distill.config import TrainConfig, load_train_config
from livetalk.distill.diagnostics import condition_use
from livetalk.distill.teacher import box_mask, mouth_weights, teacher_loss, weighted_mse
from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit
from livetalk.models.vae import WanVAE, frames_to_video
from livetalk.runtime.tiny import WEIGHTS

MICRO = get_preset("micro")
BOX = TrainConfig.mouth_box


def test_mouth_weights_on_the_tiny_latent_grid():
    assert mouth_weights((8, 8), BOX, 0.0) is None
    w = mouth_weights((8, 8), BOX, 10.0)
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[4:6, 2:6] = True
    assert torch.equal(w, torch.where(inside, 11.0, 1.0))
    assert mouth_weights((16, 12), BOX, 1.0).shape == (16, 12)


def test_weighted_mse():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 4, 8, 8, generator=g), torch.randn(2, 3, 4, 8, 8, generator=g)
    assert torch.allclose(weighted_mse(a, b), F.mse_loss(a, b))
    assert torch.allclose(weighted_mse(a, b, torch.full((8, 8), 3.0)), F.mse_loss(a, b))
    w = mouth_weights((8, 8), BOX, 10.0)
    outside_only = b.clone()
    outside_only[..., 4:6, 2:6] = a[..., 4:6, 2:6]  # errors outside the box only
    assert weighted_mse(a, outside_only, w) < 0.5 * weighted_mse(a, outside_only)
    box = box_mask((8, 8), BOX)  # a 0/1 mask: the mean inside the box
    assert torch.equal(box, (w - 1) / 10)
    assert torch.allclose(weighted_mse(a, b, box), ((a - b) ** 2)[..., 4:6, 2:6].mean())


def test_the_box_holds_the_mouth_in_the_shipped_vae_latents():
    """Render the same frames with the mouth moving and held closed; > 80 % of the latent change lies in the
    box (measured 92 % over 12 clips: 8 of 64 latent positions)."""
    vae = WanVAE.from_file(WEIGHTS / "tiny_vae.safetensors")
    inside = mouth_weights((8, 8), BOX, 1.0) > 1
    energy = torch.zeros(8, 8)
    for seed in (900000, 900001, 900002):
        p = plan_clip(seed, ClipConfig(duration_s=2.0625))
        st = p.state.slice(0, 33)
        assert st.mouth_open.max() > 0.3  # the clip speaks
        with torch.no_grad():
            za = vae.encode(frames_to_video(render_frames(p.identity, st, 64)))
            zb = vae.encode(frames_to_video(render_frames(p.identity, st.mouth_closed(), 64)))
        energy += ((za - zb)[0, 1:] ** 2).mean((0, 1))
    assert energy[inside].sum() / energy.sum() > 0.8


def test_teacher_loss_with_weights_trains_and_plain_is_unchanged():
    torch.manual_seed(0)
    m = build_dit(MICRO)
    b = random_batch(MICRO, batch=2, frames=3, lat=4, seed=1)
    sched = FlowMatchSchedule(1000, 5.0)
    plain = teacher_loss(m, b, sched, generator=torch.Generator().manual_seed(3))
    uniform = teacher_loss(m, b, sched, generator=torch.Generator().manual_seed(3), weights=torch.ones(4, 4))
    assert torch.allclose(plain, uniform)
    weighted = teacher_loss(m, b, sched, generator=torch.Generator().manual_seed(3),
                            weights=mouth_weights((4, 4), BOX, 10.0))
    weighted.backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_config_checks_the_box_and_weight():
    cfg = load_train_config(None, ["mouth_weight=10"], stage="teacher")
    assert cfg.mouth_weight == 10.0 and cfg.mouth_box == BOX
    with pytest.raises(ValueError, match="mouth_weight"):
        TrainConfig(mouth_weight=-1.0)
    with pytest.raises(ValueError, match="mouth_box"):
        TrainConfig(mouth_box=(0.7, 0.5, 0.3, 0.7))


def test_condition_use_reports_the_box():
    torch.manual_seed(0)
    m = build_dit(MICRO).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    b = random_batch(MICRO, batch=3, frames=3, lat=4, seed=1)
    whole = condition_use(m, b, timesteps=(500.0,), box=(0.0, 1.0, 0.0, 1.0))
    assert whole["mouth"]["audio"] == pytest.approx(whole["audio"])
    assert whole["mouth"]["text"] == pytest.approx(whole["text"])
    part = condition_use(m, b, timesteps=(500.0,), box=BOX)
    assert part["audio"] == whole["audio"] and part["mouth"]["audio"]["true"] != whole["audio"]["true"]
    assert "mouth" not in condition_use(m, b, timesteps=(500.0,))
