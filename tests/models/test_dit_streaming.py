"""Streaming with the KV cache equals the block-causal forward over the whole sequence."""

import pytest
import torch

from livetalk.models.config import apply_overrides, get_preset
from livetalk.models.dit import block_causal_plan, build_dit

from .dit_inputs import random_inputs


@pytest.fixture(scope="module")
def tiny():
    return build_dit("tiny", seed=0).eval()


def stream(model, x, t, ctx, cond, audio, sink, local, block=3, rerun=True):
    b, f = x.shape[:2]
    cache = model.new_cache(b, x.shape[-2:], sink_size=sink, local_attn_size=local, max_frames=4)
    outs = []
    for s in range(0, f, block):
        sl = slice(s, s + block)
        c = None if cond is None else cond[:, sl]
        a = None if audio is None else audio[:, sl]
        if rerun:  # a noisier pass first: the real pass must overwrite its slots exactly
            model(torch.randn_like(x[:, sl]), t[:, sl] * 0.5, ctx, c, a, kv_cache=cache, start_frame=s)
        outs.append(model(x[:, sl], t[:, sl], ctx, c, a, kv_cache=cache, start_frame=s))
    return torch.cat(outs, dim=1), cache


@pytest.mark.parametrize("batch", [1, 2])
def test_full_history_stream_equals_block_causal(tiny, batch):
    x, t, ctx, cond, audio = random_inputs(tiny.cfg, batch=batch, frames=12)
    with torch.no_grad():
        full = tiny(x, t, ctx, cond, audio, causal_block=3)
        streamed, cache = stream(tiny, x, t, ctx, cond, audio, sink=0, local=-1)
    assert (streamed - full).abs().max().item() < 1e-5
    assert cache.cached_frames == 12 and cache.capacity >= 12  # grew from max_frames=4


@pytest.mark.parametrize("sink,local", [(9, 15), (3, 9), (0, 6), (2, 5)])
def test_sink_window_stream_equals_local_mask(tiny, sink, local):
    x, t, ctx, cond, audio = random_inputs(tiny.cfg, batch=1, frames=24)
    with torch.no_grad():
        masked = tiny(x, t, ctx, cond, audio, causal_block=3, sink_size=sink, local_attn_size=local)
        full = tiny(x, t, ctx, cond, audio, causal_block=3)
        streamed, cache = stream(tiny, x, t, ctx, cond, audio, sink=sink, local=local)
    assert (streamed - masked).abs().max().item() < 1e-5
    assert cache.cached_frames == local
    assert (streamed - full).abs().max().item() > 1e-3  # the window really dropped frames


def test_local_mask_plan_matches_published_example():
    # block 5 (frames 15-17) with sink 9 / window 15 sees frames 0-8, 12-14 and 15-17 (spec §3.4)
    plan = block_causal_plan(21, 3, sink_size=9, local_attn_size=15)
    assert plan[5] == (15, 18, [(0, 9), (12, 18)])
    assert plan[4] == (12, 15, [(0, 15)])


def test_head_dim_128_streaming():
    cfg = apply_overrides(get_preset("livetalk-1.3b"), {"num_layers": 4, "dim": 256, "ffn_dim": 512, "num_heads": 2,
                                                        "text_dim": 64, "text_len": 16, "audio_dim": 24})
    model = build_dit(cfg, seed=3).eval()
    x, t, ctx, cond, audio = random_inputs(cfg, batch=1, frames=9)
    with torch.no_grad():
        full = model(x, t, ctx, cond, audio, causal_block=3)
        streamed, _ = stream(model, x, t, ctx, cond, audio, sink=0, local=-1, rerun=False)
    assert (streamed - full).abs().max().item() < 1e-5


def test_batch_of_two_equals_two_batches_of_one(tiny):
    x, t, ctx, cond, audio = random_inputs(tiny.cfg, batch=2, frames=6)
    assert not torch.allclose(audio[0], audio[1])
    with torch.no_grad():
        both = tiny(x, t, ctx, cond, audio, causal_block=3)
        for i in range(2):
            one = tiny(x[i : i + 1], t[i : i + 1], ctx[i : i + 1], cond[i : i + 1], audio[i : i + 1], causal_block=3)
            assert (both[i : i + 1] - one).abs().max().item() < 1e-5
        # the audio path matters: same sample with the other sample's audio gives a different output
        swapped = tiny(x[:1], t[:1], ctx[:1], cond[:1], audio[1:2], causal_block=3)
    assert (swapped - both[:1]).abs().max().item() > 1e-3


def test_bidirectional_scalar_timestep_equals_per_frame(tiny):
    x, t, ctx, cond, audio = random_inputs(tiny.cfg, batch=2, frames=6)
    with torch.no_grad():
        a = tiny(x, t[:, 0], ctx, cond, audio)
        b = tiny(x, t[:, :1].expand(-1, 6), ctx, cond, audio)
    assert torch.equal(a, b)


def test_gradient_checkpointing_same_gradients(tiny):
    model = build_dit("tiny", seed=0)
    x, t, ctx, cond, audio = random_inputs(model.cfg, batch=1, frames=6)
    grads = []
    for ckpt in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = ckpt
        model(x, t, ctx, cond, audio, causal_block=3).square().mean().backward()
        grads.append(model.blocks[0].self_attn.q.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_bad_inputs_raise_clear_errors(tiny):
    x, t, ctx, cond, audio = random_inputs(tiny.cfg, batch=1, frames=3)
    with pytest.raises(ValueError, match="cond must be"):
        tiny(x, t, ctx, None, audio)
    with pytest.raises(ValueError, match="audio must be"):
        tiny(x, t, ctx, cond, audio[:, :, :2])
    with pytest.raises(ValueError, match=r"x must be \[B, F, 16"):
        tiny(x[:, :, :8], t, ctx, cond, audio)
