"""The few-step block sampler: oracle math, reference-frame substitution, cache refresh, determinism."""

import pytest
import torch

from livetalk.diffusion.block_sampler import BlockConditions, denoise_block, refresh_cache
from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.models.dit import build_dit


class OracleModel(torch.nn.Module):
    """Returns the exact velocity towards `target` given the few-step σ table; records timesteps."""

    def __init__(self, target, schedule):
        super().__init__()
        self.target, self.schedule, self.seen = target, schedule, []

    def forward(self, x, t, context, cond, audio, kv_cache=None, start_frame=0):
        self.seen.append((t[0, 0].item(), x[:, 0].clone()))
        return self.schedule.velocity_from_x0(x, self.target, t)


def test_oracle_sampler_reaches_target_and_substitutes_reference():
    sched = FlowMatchSchedule(4, 5.0)
    target = torch.randn(1, 3, 16, 4, 4)
    ref = torch.randn(1, 16, 4, 4)
    model = OracleModel(target, sched)
    out = denoise_block(model, None, torch.randn(1, 3, 16, 4, 4), 0, BlockConditions(None), sched, ref_latent=ref)
    assert [round(t) for t, _ in model.seen] == [1000, 936, 832, 624]
    assert all(torch.equal(x0, ref) for _, x0 in model.seen)  # frame 0 substituted before every step
    assert torch.equal(out[:, 0], ref)
    assert torch.allclose(out[:, 1:], target[:, 1:], atol=1e-5)
    # later blocks are not substituted
    model.seen.clear()
    out = denoise_block(model, None, torch.randn(1, 3, 16, 4, 4), 3, BlockConditions(None), sched, ref_latent=ref)
    assert torch.allclose(out, target, atol=1e-5)


def test_streaming_blocks_with_tiny_model_deterministic():
    model = build_dit("tiny", seed=0).eval()
    cfg = model.cfg
    sched = FlowMatchSchedule(4, 5.0)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        cache = model.new_cache(1, (8, 8), sink_size=3, local_attn_size=9)
        conds = BlockConditions(torch.randn(1, 32, 384, generator=g), torch.randn(1, 3, 17, 8, 8, generator=g),
                                torch.randn(1, 3, 4, cfg.audio_dim, generator=g))
        ref = torch.randn(1, 16, 8, 8, generator=g)
        outs = []
        with torch.no_grad():
            for s in range(0, 12, 3):
                x0 = denoise_block(model, cache, torch.randn(1, 3, 16, 8, 8, generator=g), s, conds, sched,
                                   ref_latent=ref, generator=g)
                refresh_cache(model, cache, x0, s, conds)
                outs.append(x0)
        return torch.cat(outs, 1), ref

    a, ref = run(0)
    b, _ = run(0)
    c, _ = run(1)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(a[:, 0], ref[0][None].expand_as(a[:, 0])) or torch.equal(a[0, 0], ref[0])
    assert torch.isfinite(a).all()


class InputSpy(torch.nn.Module):
    """Records the (x, t) of every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, t, context, cond, audio, kv_cache=None, start_frame=0):
        self.calls.append((x.clone(), t.clone()))
        return torch.zeros_like(x)


def test_refresh_cache_context_noise():
    x0, ref = torch.randn(2, 3, 16, 4, 4), torch.randn(2, 16, 4, 4)
    spy = InputSpy()
    refresh_cache(spy, None, x0, 0, BlockConditions(None))  # published: the clean block at t = 0
    assert torch.equal(spy.calls[0][0], x0) and (spy.calls[0][1] == 0).all()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    for start in (0, 3):
        refresh_cache(spy, None, x0, start, BlockConditions(None), context_noise=100, ref_latent=ref,
                      generator=torch.Generator().manual_seed(5))
        x, t = spy.calls[-1]
        assert (t == 100).all() and t.shape == (2, 3)
        expect = 0.9 * x0 + 0.1 * eps
        if start == 0:  # the reference frame stays clean in block 0 only
            assert torch.equal(x[:, 0], ref)
            assert torch.allclose(x[:, 1:], expect[:, 1:], atol=1e-6)
        else:
            assert torch.allclose(x, expect, atol=1e-6)
    for bad in (-1, 1000):
        with pytest.raises(ValueError, match="context_noise"):
            refresh_cache(spy, None, x0, 0, BlockConditions(None), context_noise=bad)
