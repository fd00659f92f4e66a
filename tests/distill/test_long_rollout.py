"""Self Forcing on long rollouts: the scored window of a streamed clip, its gradients, and the DMD stage using it."""

import dataclasses

import pytest
import torch

from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.distill.batch import make_cond, random_batch
from livetalk.distill.config import load_train_config
from livetalk.distill.dmd import long_rollout_window, self_forcing_rollout
from livetalk.distill.sample_eval import stream_latents
from livetalk.distill.stages import DMDStage
from livetalk.distill.trainer import train
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

MICRO = get_preset("micro")
SCHED = FlowMatchSchedule(1000, 5.0)
CACHE = dict(sink_size=3, local_attn_size=9)  # 6 blocks of 3 frames: the cache evicts from block 3 on


def _gen():
    return torch.Generator().manual_seed(5)


def test_window_is_the_inference_stream_with_the_reference_in_frame_0():
    """With all 4 steps the rollout is the runtime's block loop (same noise, same cache): the window is those
    frames, frame 0 swapped for the clean reference, and the batch is the same frames' conditions. (Exact with the
    4-step table; training converts x0 with the 1000-step grid's σ, as published, spec §6.)"""
    model = build_dit("micro", seed=0).eval()
    b = random_batch(MICRO, batch=2, frames=18, lat=4, seed=1)
    with torch.no_grad():
        stream = stream_latents(model, b.window(0, 15), seed=5, **CACHE)
        video, wb = long_rollout_window(model, b, FlowMatchSchedule(4, 5.0), window=6, end=15, exit_index=3,
                                        generator=_gen(), **CACHE)
    assert video.shape == (2, 6, 16, 4, 4)
    assert torch.equal(video[:, 0], b.ref)
    torch.testing.assert_close(video[:, 1:], stream[:, 10:15], rtol=0, atol=1e-5)
    assert torch.equal(wb.audio, b.audio[:, 9:15]) and torch.equal(wb.context, b.context)
    assert torch.equal(wb.cond[:, 0, -1], torch.zeros_like(wb.cond[:, 0, -1]))  # reference slot on frame 0


def test_window_with_the_still_cond_restarts_the_still():
    """With `ref_video` (the still-reference cond) the rollout streams the long clip with the still's frames 1..end−1
    (as `generate-long` and the runtime's first 9 frames do) and the scored window is a clip of its own: its frames
    1.. carry the still's frames 1..window−1, like a training window cut from a long clip."""
    model = build_dit("micro", seed=0).eval()
    b = random_batch(MICRO, batch=2, frames=18, lat=4, seed=6)
    still = torch.randn(2, 18, 16, 4, 4, generator=torch.Generator().manual_seed(7))
    still[:, 0] = b.ref
    b = dataclasses.replace(b, ref_video=still)
    with torch.no_grad():
        stream = stream_latents(model, b.window(0, 15), seed=5, **CACHE)
        plain = stream_latents(model, dataclasses.replace(b, ref_video=None).window(0, 15), seed=5, **CACHE)
        video, wb = long_rollout_window(model, b, FlowMatchSchedule(4, 5.0), window=6, end=15, exit_index=3,
                                        generator=_gen(), **CACHE)
    assert not torch.allclose(stream, plain, atol=1e-3)  # the still reaches the stream
    torch.testing.assert_close(video[:, 1:], stream[:, 10:15], rtol=0, atol=1e-5)
    assert torch.equal(wb.cond[:, 0, :16], b.ref) and torch.equal(wb.cond[:, 1:, :16], still[:, 1:6])
    assert torch.equal(b.window(9, 15).cond, make_cond(b.ref, 6, still))  # any window: the same restart
    with pytest.raises(ValueError, match="ref_video has 4 latent frames, the window 6"):
        dataclasses.replace(b, ref_video=still[:, :4]).window(9, 15)


def test_context_blocks_are_rolled_out_without_gradients_and_change_nothing():
    model = build_dit("micro", seed=0)
    b = random_batch(MICRO, batch=1, frames=18, lat=4, seed=2)
    full = self_forcing_rollout(model, b, SCHED, exit_index=1, generator=_gen(), **CACHE)
    part = self_forcing_rollout(model, b, SCHED, exit_index=1, generator=_gen(), grad_from=9, **CACHE)
    torch.testing.assert_close(full, part, rtol=0, atol=1e-6)  # same random draws, same values
    assert full[:, 1:9].requires_grad and part.grad_fn is not None
    # only the scored blocks carry gradients: a loss on the context frames reaches no weight
    params = list(model.parameters())
    ctx = torch.autograd.grad(part[:, 1:9].sum(), params, allow_unused=True, retain_graph=True)
    assert all(g is None or not g.any() for g in ctx)
    assert any(g is not None and g.any() for g in torch.autograd.grad(full[:, 1:9].sum(), params, allow_unused=True))
    assert any(g is not None and g.any() for g in torch.autograd.grad(part[:, 9:].sum(), params, allow_unused=True))


def test_window_gradients_reach_the_student_but_not_through_frame_0():
    model = build_dit("micro", seed=0)
    b = random_batch(MICRO, batch=1, frames=18, lat=4, seed=3)
    video, _ = long_rollout_window(model, b, SCHED, window=6, end=18, exit_index=2, generator=_gen(), **CACHE)
    assert not torch.equal(video[:, 1], b.ref)
    video[:, 0].sum()  # the reference slot is a constant
    assert video[:, 1:].requires_grad
    video[:, 1:].square().mean().backward()
    assert model.blocks[0].self_attn.q.weight.grad.abs().sum() > 0


def test_bad_windows_are_errors():
    model = build_dit("micro", seed=0)
    b = random_batch(MICRO, batch=1, frames=9, lat=4)
    for window, end in [(6, 12), (4, 9), (9, 6)]:
        with pytest.raises(ValueError, match="window"):
            long_rollout_window(model, b, SCHED, window=window, end=end, exit_index=0)


def test_dmd_stage_trains_on_long_rollout_windows(tmp_path):
    common = ["preset=micro", "latent_size=4", "random_clips=4", "batch_size=2", "log_every=1"]
    t = train(load_train_config(None, common + ["frames=6", "steps=2", f"out_dir={tmp_path / 't'}"], stage="teacher"),
              progress=False)["exported"][0]
    cfg = load_train_config(None, common + ["frames=18", "steps=3", "gen_update_every=2", f"teacher={t}", f"init={t}",
                                            "ema_start=0", "rollout_window=6", "rollout_sink_size=3",
                                            "rollout_local_attn_size=9", f"out_dir={tmp_path / 'd'}"], stage="dmd")
    stage = DMDStage(cfg)
    ends = {stage._window_end(s, 18) for s in range(60)}
    assert ends == {6, 9, 12, 15, 18}  # every block end from one window to the whole clip
    with pytest.raises(ValueError, match="longer than the training clips"):
        stage._window_end(0, 5)
    mixed = DMDStage(dataclasses.replace(cfg, rollout_first_p=0.5))
    firsts = sum(mixed._window_end(s, 18) == 6 for s in range(400)) / 400
    assert 0.5 < firsts < 0.7  # 0.5 + 0.5 / 5 = 0.6 expected
    with pytest.raises(ValueError, match="rollout_first_p"):
        dataclasses.replace(cfg, rollout_first_p=1.5)
    d = train(cfg, progress=False)
    assert {"critic_loss", "gen_loss", "dmd_grad_norm"} <= set(d["logs"])
