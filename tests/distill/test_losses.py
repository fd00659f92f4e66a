"""Distillation math: guidance, teacher sampler, ODE regression, Self-Forcing rollout, DMD and critic losses."""

import torch

from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.distill.batch import make_cond, random_batch
from livetalk.distill.dmd import critic_loss, dmd_generator_loss, real_x0, self_forcing_rollout
from livetalk.distill.ode import STUDENT_TIMESTEPS, generate_ode_pairs, ode_regression_loss
from livetalk.distill.stages import converged
from livetalk.distill.teacher import guided_velocity, sample_teacher, teacher_loss, teacher_nfe
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

MICRO = get_preset("micro")
SCHED = FlowMatchSchedule(1000, 5.0)


class Recorder(torch.nn.Module):
    """A stand-in DiT: velocity = a fixed function of (x, t, conditions); records calls."""

    def __init__(self, cfg=MICRO):
        super().__init__()
        self.cfg = cfg
        self.w = torch.nn.Parameter(torch.tensor(0.5))
        self.calls = []

    dtype = torch.float32

    def new_cache(self, *a, **k):
        return None

    def forward(self, x, t, context, cond=None, audio=None, **kw):
        self.calls.append({"t": t.clone(), "ctx": context[0, 0, 0].item(),
                           "audio": None if audio is None else audio.abs().sum().item(), **kw})
        a = 0.0 if audio is None else audio.mean()
        return self.w * x + context.mean() + a


def test_make_cond_mask_and_reference():
    ref = torch.randn(2, 16, 4, 4)
    cond = make_cond(ref, 6)
    assert cond.shape == (2, 6, 17, 4, 4)
    assert (cond[:, 0, 16] == 0).all() and (cond[:, 1:, 16] == 1).all()
    assert torch.equal(cond[:, 3, :16], ref)


def test_guided_velocity_separate_scales():
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    m = Recorder()
    x, t = torch.randn(1, 3, 16, 4, 4), torch.full((1,), 500.0)
    assert torch.equal(guided_velocity(m, x, t, b, 1.0, 1.0), m(x, t, b.context, audio=b.audio))
    vc = m(x, t, b.context, audio=b.audio)
    vt = m(x, t, b.context, audio=torch.zeros_like(b.audio))
    vu = m(x, t, b.neg_context, audio=torch.zeros_like(b.audio))
    want = vu + 4.0 * (vt - vu) + 2.0 * (vc - vt)
    assert torch.allclose(guided_velocity(m, x, t, b, 4.0, 2.0), want, atol=1e-6)


def test_guided_velocity_skips_only_cancelling_passes():
    """Each shortcut equals the full three-pass formula, and its passes are what `teacher_nfe` counts."""
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    m = Recorder()
    x, t = torch.randn(1, 3, 16, 4, 4), torch.full((1,), 500.0)
    vc = m(x, t, b.context, audio=b.audio)
    vt = m(x, t, b.context, audio=torch.zeros_like(b.audio))
    vu = m(x, t, b.neg_context, audio=torch.zeros_like(b.audio))
    for ts, au in [(1.0, 1.0), (3.0, 3.0), (1.0, 3.0), (4.0, 2.0), (2.0, 1.0)]:
        m.calls.clear()
        got = guided_velocity(m, x, t, b, ts, au)
        assert len(m.calls) == teacher_nfe(1, ts, au), (ts, au)
        assert torch.allclose(got, vu + ts * (vt - vu) + au * (vc - vt), atol=1e-5), (ts, au)
    assert [teacher_nfe(48, *s) for s in [(1.0, 1.0), (3.0, 3.0), (1.0, 3.0), (4.5, 2.0)]] == [48, 96, 96, 144]
    assert teacher_nfe(48, 4.5, 2.0, has_audio=False) == 96


def test_real_score_guidance_branches_as_published():
    """Spec §4.3 / pitfall 16: the published 5 / 5 takes the standard branch (CFG 6, not 5); unequal scales take the
    separate branch with full scales; guidance 0 without audio guidance is the conditional prediction alone."""
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    m = Recorder()
    x, t = torch.randn(1, 3, 16, 4, 4), torch.full((1,), 500.0)
    x0 = lambda batch: SCHED.x0_from_velocity(x, m(x, t, batch.context, audio=batch.audio), t)
    c, u, txt = x0(b), x0(b.unconditional()), x0(b.text_only())
    assert not torch.allclose(c, u) and not torch.allclose(c, txt)
    cfg6 = c + 5.0 * (c - u)
    assert torch.allclose(real_x0(m, x, t, b, SCHED, 5.0, 5.0), cfg6, atol=1e-5)
    assert torch.allclose(real_x0(m, x, t, b, SCHED, 5.0, None), cfg6, atol=1e-5)
    assert not torch.allclose(real_x0(m, x, t, b, SCHED, 5.0, 5.0), u + 5.0 * (c - u), atol=1e-3)  # CFG 5
    m.calls.clear()
    assert torch.allclose(real_x0(m, x, t, b, SCHED, 1.0, 3.0), txt + 3.0 * (c - txt), atol=1e-5)
    assert len(m.calls) == 2  # the unconditional pass cancels at text scale 1
    assert torch.allclose(real_x0(m, x, t, b, SCHED, 2.0, 3.0), u + 2.0 * (txt - u) + 3.0 * (c - txt), atol=1e-5)
    assert torch.allclose(real_x0(m, x, t, b, SCHED, 1.0, 1.0), c + (c - u), atol=1e-5)
    m.calls.clear()
    assert torch.equal(real_x0(m, x, t, b, SCHED, 0.0, None), c) and len(m.calls) == 1


def test_teacher_sampler_keeps_student_timesteps_and_fixes_frame0():
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    m = Recorder()
    x0, kept = sample_teacher(m, b, steps=8, text_scale=1.0, audio_scale=1.0, keep=[0, 2, 4, 6])
    seen_t = [c["t"][0].item() for c in m.calls]
    assert [seen_t[i] for i in (0, 2, 4, 6)] == list(STUDENT_TIMESTEPS)
    assert len(kept) == 4 and all(torch.equal(k[:, 0], b.ref) for k in kept)
    assert torch.equal(x0[:, 0], b.ref)
    traj = generate_ode_pairs(m, b, steps=8, text_scale=1.0, audio_scale=1.0)
    assert traj.shape == (5, 1, 3, 16, 4, 4)


def test_ode_regression_per_block_noise_levels():
    b = random_batch(MICRO, batch=2, frames=9, lat=4)
    traj = torch.randn(5, 2, 9, 16, 4, 4)
    m = Recorder()
    ode_regression_loss(m, b, traj, SCHED, generator=torch.Generator().manual_seed(3))
    t = m.calls[-1]["t"]
    assert t.shape == (2, 9) and m.calls[-1]["causal_block"] == 3
    for blk in range(3):
        vals = t[:, 3 * blk : 3 * blk + 3]
        assert (vals == vals[:, :1]).all()  # one level per block
    assert set(t.flatten().tolist()) <= set(STUDENT_TIMESTEPS)  # the clean entry is never an input


def test_teacher_overfits_one_batch():
    model = build_dit("micro", seed=0)
    b = random_batch(MICRO, batch=2, frames=3, lat=4)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for step in range(60):
        loss = teacher_loss(model, b, SCHED, generator=torch.Generator().manual_seed(step % 4), p_drop_text=0, p_drop_audio=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-4:]) < 0.7 * sum(losses[:4])


def test_rollout_gradients_only_through_exit_step():
    model = build_dit("micro", seed=0)
    b = random_batch(MICRO, batch=1, frames=6, lat=4)
    g = lambda: torch.Generator().manual_seed(0)
    video = self_forcing_rollout(model, b, SCHED, exit_index=2, generator=g())
    with torch.no_grad():
        video_ng = self_forcing_rollout(model, b, SCHED, exit_index=2, generator=g())
    assert torch.allclose(video, video_ng, atol=1e-6)
    assert torch.equal(video[:, 0], b.ref)
    video[:, 1:].square().mean().backward()
    assert model.blocks[0].self_attn.q.weight.grad.abs().sum() > 0


def test_rollout_exit_step_counts():
    m = Recorder()
    b = random_batch(MICRO, batch=1, frames=6, lat=4)
    self_forcing_rollout(m, b, SCHED, exit_index=1)
    ts = [c["t"][0, 0].item() for c in m.calls]
    # block 0: steps 1000, 936, then context pass 0; block 1: 1000, 936 (no context pass after the last block)
    assert ts == [1000.0, 936.0, 0.0, 1000.0, 936.0]
    assert [c["start_frame"] for c in m.calls] == [0, 0, 0, 3, 3]


class FixedX0(torch.nn.Module):
    """Predicts x0 = target for any input (velocity derived from x_t)."""

    cfg = MICRO
    dtype = torch.float32

    def __init__(self, target, uncond_target=None):
        super().__init__()
        self.target, self.uncond_target = target, uncond_target

    def forward(self, x, t, context, cond=None, audio=None, **kw):
        tgt = self.target if self.uncond_target is None or audio.abs().sum() > 0 else self.uncond_target
        return SCHED.velocity_from_x0(x, tgt, t)


def test_dmd_gradient_is_normalised_score_difference():
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    video = torch.randn(1, 3, 16, 4, 4, requires_grad=True)
    real_c, real_u, fake = torch.randn(3, 1, 3, 16, 4, 4).unbind(0)
    real = FixedX0(real_c, real_u)
    loss, _ = dmd_generator_loss(video, b, real, FixedX0(fake), SCHED, guidance=5.0,
                                 generator=torch.Generator().manual_seed(0))
    loss.backward()
    x0_real = real_c + 5.0 * (real_c - real_u)
    grad = (fake - x0_real) / (video.detach() - x0_real).abs().mean()
    assert torch.allclose(video.grad, grad / video.numel(), rtol=1e-3, atol=1e-7)


def test_critic_mask_modes():
    b = random_batch(MICRO, batch=1, frames=3, lat=4)
    video = torch.randn(1, 3, 16, 4, 4)
    m = build_dit("micro", seed=0)
    g = lambda: torch.Generator().manual_seed(1)
    a = critic_loss(m, video, b, SCHED, critic_mask="frame0", generator=g())
    p = critic_loss(m, video, b, SCHED, critic_mask="published", generator=g())
    assert torch.isfinite(a) and torch.isfinite(p) and a.item() != p.item()


def test_converged_criterion():
    assert not converged([1.0, 0.8, 0.6, 0.5, 0.4])
    assert converged([1.0, 0.5, 0.499, 0.4995, 0.4991])
    assert not converged([1.0, 0.9])
