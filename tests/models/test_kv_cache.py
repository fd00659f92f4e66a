"""KV cache bookkeeping, gradients through the exit step, and unbounded streams past 1024 latent frames."""

import pytest
import torch

from livetalk.models.config import apply_overrides, get_preset
from livetalk.models.dit import build_dit, pack_audio_frames
from livetalk.models.kv_cache import KVCache

SMALL = apply_overrides(get_preset("tiny"), {"num_layers": 4, "dim": 64, "ffn_dim": 128, "num_heads": 2, "text_len": 4,
                                             "text_dim": 16, "audio_dim": 8})


def test_published_eviction_pattern():
    cache = KVCache(num_layers=1, num_heads=1, head_dim=6, batch_size=1, frame_tokens=1, sink_size=9,
                    local_attn_size=15, rope_split=(2, 2, 2))
    frames = []  # global frame id held by each slot
    for start in range(0, 21, 3):
        plan = cache.begin(start, 3, 1)
        k = torch.arange(start, start + 3, dtype=torch.float32).view(1, 1, 3, 1).expand(1, 1, 3, 6)
        k_all, _ = cache.update(0, k, k)
        frames.append(k_all[0, 0, :, 0].tolist())
    assert frames[4] == list(range(15))
    assert frames[5] == list(range(9)) + [12, 13, 14, 15, 16, 17]  # spec §3.4 example
    assert frames[6] == list(range(9)) + [15, 16, 17, 18, 19, 20]


def test_non_contiguous_chunk_is_an_error():
    cache = KVCache(num_layers=1, num_heads=1, head_dim=6, batch_size=1, frame_tokens=1, rope_split=(2, 2, 2))
    cache.begin(0, 3, 1)
    cache.update(0, torch.zeros(1, 1, 3, 6), torch.zeros(1, 1, 3, 6))
    with pytest.raises(ValueError, match="expects 3"):
        cache.begin(6, 3, 1)
    with pytest.raises(ValueError, match="tokens per frame"):
        cache.begin(3, 3, 2)


def test_invalid_window_settings():
    with pytest.raises(ValueError):
        KVCache(num_layers=1, num_heads=1, head_dim=6, batch_size=1, frame_tokens=1, sink_size=15, local_attn_size=15)
    with pytest.raises(ValueError):
        KVCache(num_layers=1, num_heads=1, head_dim=6, batch_size=1, frame_tokens=1, sink_size=2, local_attn_size=-1)


def test_exit_step_gradient_with_cache_writes_after_it():
    """Gradients through one cached step survive later in-place cache writes (spec pitfall 14)."""
    model = build_dit(SMALL, seed=0)
    b, f = 1, 3
    ctx = torch.randn(b, 4, 16)
    cond = torch.randn(b, f, 17, 4, 4)
    audio = pack_audio_frames(torch.randn(b, 4 * f - 3, 8))
    cache = model.new_cache(b, (4, 4), sink_size=0, local_attn_size=-1)
    with torch.no_grad():
        model(torch.randn(b, f, 16, 4, 4), torch.full((b, f), 1000.0), ctx, cond, audio, kv_cache=cache, start_frame=0)
    x = torch.randn(b, f, 16, 4, 4, requires_grad=True)
    out = model(x, torch.full((b, f), 624.0), ctx, cond, audio, kv_cache=cache, start_frame=3)
    with torch.no_grad():  # context pass and the next block overwrite cache slots in place
        model(out.detach(), torch.zeros(b, f), ctx, cond, audio, kv_cache=cache, start_frame=3)
        model(torch.randn(b, f, 16, 4, 4), torch.full((b, f), 1000.0), ctx, cond, audio, kv_cache=cache, start_frame=6)
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert model.blocks[0].self_attn.q.weight.grad is not None


def _stream(model, n_frames, sink, local, rope_max, seed=0):
    torch.manual_seed(seed)
    cfg = model.cfg
    cache = model.new_cache(1, (4, 4), sink_size=sink, local_attn_size=local)
    cache.rope_max_frames = rope_max
    ctx = torch.randn(1, cfg.text_len, cfg.text_dim)
    outs, positions = [], []
    with torch.no_grad():
        for s in range(0, n_frames, 3):
            x = torch.randn(1, 3, 16, 4, 4)
            cond = torch.randn(1, 3, 17, 4, 4)
            audio = torch.randn(1, 3, 4, cfg.audio_dim)
            outs.append(model(x, torch.full((1, 3), 500.0), ctx, cond, audio, kv_cache=cache, start_frame=s))
            positions.append(cache.plan.position)
    return torch.cat(outs, 1), positions, cache


def test_stream_past_1024_latent_frames_stays_bounded():
    model = build_dit(SMALL, seed=0).eval()
    out, positions, cache = _stream(model, 1101, sink=9, local=15, rope_max=1024)
    assert out.shape[1] == 1101 and torch.isfinite(out).all()
    assert max(positions) + 3 <= 1024  # never past the published RoPE table
    assert cache.pos_offset > 0  # re-based at least once
    assert out[:, -30:].std() > 0.1 * out[:, :30].std()  # no collapse after the re-base


def test_rebase_is_exact_without_sinks():
    """With no sinks every attended key moves with the query, so re-basing changes nothing."""
    model = build_dit(SMALL, seed=0).eval()
    rebased, positions, _ = _stream(model, 150, sink=0, local=9, rope_max=40)
    plain, plain_pos, _ = _stream(model, 150, sink=0, local=9, rope_max=10**6)
    assert max(positions) < 40 and max(plain_pos) > 140
    assert (rebased - plain).abs().max().item() < 1e-4


def test_rebase_with_sinks_changes_only_later_blocks():
    model = build_dit(SMALL, seed=0).eval()
    rebased, positions, _ = _stream(model, 90, sink=3, local=9, rope_max=40)
    plain, _, _ = _stream(model, 90, sink=3, local=9, rope_max=10**6)
    first_rebase = next(i for i, p in enumerate(positions) if p < 3 * i - 1e-9) * 3
    assert (rebased[:, :first_rebase] - plain[:, :first_rebase]).abs().max().item() < 1e-5
    assert torch.isfinite(rebased).all()
