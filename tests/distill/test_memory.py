"""Gradient checkpointing through the Self-Forcing rollout (the KV-cache path) and the rollout memory probe."""

import pytest
import torch
from safetensors.torch import load_file

from livetalk.diffusion.schedule import FlowMatchSchedule
from livetalk.distill.batch import random_batch
from livetalk.distill.config import load_train_config
from livetalk.distill.dmd import self_forcing_rollout
from livetalk.distill.memory import LiveBytes, rollout_memory
from livetalk.distill.trainer import train
from livetalk.models.config import get_preset
from livetalk.models.dit import build_dit

pytestmark = pytest.mark.usefixtures("one_thread")
MICRO = get_preset("micro")
SCHED = FlowMatchSchedule(1000, 5.0)


def _rollout_and_grads(checkpointing: bool, **cache):
    model = build_dit("micro", seed=0)
    model.gradient_checkpointing = checkpointing
    b = random_batch(MICRO, batch=2, frames=18, lat=4, seed=1)
    video = self_forcing_rollout(model, b, SCHED, exit_index=2, generator=torch.Generator().manual_seed(5), **cache)
    video.square().mean().backward()
    return video.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cache", [{}, {"sink_size": 3, "local_attn_size": 9}], ids=["full-history", "rolling"])
def test_checkpointed_rollout_has_the_same_video_and_gradients(cache):
    """The exit step's blocks are recomputed in backward against the cache prefix they saw in the forward. With a
    rolling window (6 blocks of 3 frames, 9-frame cache) later evictions overwrite that prefix in the cache, so the
    view must be a copy: without it the gradients differ by ~1e-2 (checked by hand)."""
    plain_video, plain_grads = _rollout_and_grads(False, **cache)
    ckpt_video, ckpt_grads = _rollout_and_grads(True, **cache)
    torch.testing.assert_close(ckpt_video, plain_video, rtol=0, atol=0)
    assert plain_grads.keys() == ckpt_grads.keys() and len(plain_grads) > 10
    for name, g in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[name], g, rtol=1e-6, atol=1e-7, msg=name)


def test_checkpointed_dmd_stage_trains_identically(tmp_path):
    common = ["preset=micro", "latent_size=4", "random_clips=4", "batch_size=2", "log_every=1"]
    t = train(load_train_config(None, common + ["frames=6", "steps=2", f"out_dir={tmp_path / 't'}"], stage="teacher"),
              progress=False)["exported"][0]
    weights = []
    for ckpt in ("false", "true"):
        cfg = load_train_config(None, common + ["frames=9", "steps=2", "gen_update_every=2", f"teacher={t}",
                                                f"init={t}", "ema_start=0", f"grad_checkpointing={ckpt}",
                                                f"out_dir={tmp_path / ckpt}"], stage="dmd")
        weights.append(load_file(train(cfg, progress=False)["exported"][0]))
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        torch.testing.assert_close(weights[1][k], weights[0][k], rtol=1e-5, atol=1e-6, msg=k)


def test_live_bytes_counts_held_tensors_and_frees():
    with LiveBytes() as counter:
        a = torch.ones(1000)  # 4000 bytes
        b = a * 2
        assert counter.current == 8000
        del b
        assert counter.current == 4000
        b = a[10:].clone()
        del a, b
    assert counter.current == 0 and counter.peak == 4000 + 4000


def test_rollout_memory_fake_equals_real_and_checkpointing_holds_less():
    """The probe counts the same bytes with fake tensors (how it sizes the 1.3B model) as with real ones; with
    checkpointing the rollout holds far less for backward (on micro: about half; at 1.3B 512² about a tenth,
    docs/benchmarks.md)."""
    rows = {}
    for fake in (False, True):
        for ckpt in (False, True):
            rows[fake, ckpt] = rollout_memory("micro", latent_size=4, latent_frames=9, grad_checkpointing=ckpt,
                                              dtype=torch.float32, fake=fake)
    for ckpt in (False, True):
        assert rows[True, ckpt].held_after_forward == rows[False, ckpt].held_after_forward > 0
        assert rows[True, ckpt].peak == rows[False, ckpt].peak
    assert rows[False, True].held_after_forward < 0.75 * rows[False, False].held_after_forward
    assert rows[False, True].peak < rows[False, False].peak


def test_resetting_the_cache_before_backward_is_an_error():
    """A full-history cache hands checkpointed blocks views of its buffers; a new video reuses them, so the
    recomputation would attend to the wrong keys. It must fail loudly instead."""
    model = build_dit("micro", seed=0)
    model.gradient_checkpointing = True
    b = random_batch(MICRO, batch=1, frames=6, lat=4)
    cache = model.new_cache(1, (4, 4), sink_size=0, local_attn_size=-1, max_frames=6)
    cond, audio = b.blocks(0, 3)
    with torch.no_grad():
        model(b.latents[:, :3], torch.zeros(1, 3), b.context, cond, audio, kv_cache=cache, start_frame=0)
    cond, audio = b.blocks(3, 6)
    out = model(b.latents[:, 3:], torch.full((1, 3), 500.0), b.context, cond, audio, kv_cache=cache, start_frame=3)
    cache.reset()
    with pytest.raises(RuntimeError, match="reset"):
        out.square().mean().backward()
