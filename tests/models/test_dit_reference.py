"""WanDiT against an independent, literal re-statement of the published forward (complex128 RoPE,
explicit softmax attention, einsum unpatchify), using the same weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from livetalk.models.config import apply_overrides, get_preset
from livetalk.models.dit import build_dit

from .dit_inputs import random_inputs


def wan_sinusoid(dim, position):
    half = dim // 2
    position = position.type(torch.float64)
    sinusoid = torch.outer(position, torch.pow(10000, -torch.arange(half).to(position).div(half)))
    return torch.cat([torch.cos(sinusoid), torch.sin(sinusoid)], dim=1)


def rope_params(max_len, dim, theta=10000):
    freqs = torch.outer(torch.arange(max_len), 1.0 / torch.pow(theta, torch.arange(0, dim, 2).to(torch.float64).div(dim)))
    return torch.polar(torch.ones_like(freqs), freqs)


def rope_apply(x, grid, freqs):
    n, c = x.size(2), x.size(3) // 2
    freqs = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    f, h, w = grid
    s = f * h * w
    xi = torch.view_as_complex(x[0, :s].to(torch.float64).reshape(s, n, -1, 2))
    fi = torch.cat(
        [
            freqs[0][:f].view(f, 1, 1, -1).expand(f, h, w, -1),
            freqs[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
            freqs[2][:w].view(1, 1, w, -1).expand(f, h, w, -1),
        ],
        dim=-1,
    ).reshape(s, 1, -1)
    return torch.view_as_real(xi * fi).flatten(2)[None].float()


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def attention(q, k, v, heads, mask=None):
    b, s, d = q.shape
    q, k, v = (t.view(b, -1, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    logits = q @ k.transpose(-1, -2) / math.sqrt(d // heads)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)


def reference_forward(model, x, t, ctx, cond, audio, block=None):
    """Literal Wan/OmniAvatar forward for batch 1 with per-frame timesteps t [1, F]."""
    cfg = model.cfg
    sd = {k: v.float() for k, v in model.state_dict().items()}
    lin = lambda x, name: F.linear(x, sd[name + ".weight"], sd[name + ".bias"])
    xin = torch.cat([x, cond], dim=2) if cond is not None else x
    tok = F.conv3d(xin.transpose(1, 2), sd["patch_embedding.weight"], sd["patch_embedding.bias"], stride=cfg.patch_size)
    f, h, w = tok.shape[2:]
    tok = tok.flatten(2).transpose(1, 2)
    ft = h * w
    e = lin(F.silu(lin(wan_sinusoid(cfg.freq_dim, t[0]).float(), "time_embedding.0")), "time_embedding.2")  # [F, D]
    e0 = lin(F.silu(e), "time_projection.1").view(f, 6, cfg.dim)
    e_tok = e.repeat_interleave(ft, 0)[None]  # [1, S, D]
    e0_tok = e0.repeat_interleave(ft, 0)[None]  # [1, S, 6, D]
    c = lin(F.gelu(lin(ctx, "text_embedding.0"), approximate="tanh"), "text_embedding.2")
    d = cfg.head_dim
    freqs = torch.cat([rope_params(1024, d - 4 * (d // 6)), rope_params(1024, 2 * (d // 6)), rope_params(1024, 2 * (d // 6))], dim=1)
    mask = None
    if block is not None:
        fr = torch.arange(f * ft) // ft
        ends = (fr // block + 1) * block
        mask = (fr[None, :] < ends[:, None])
    if cfg.use_audio:
        a = audio.flatten(2)  # [1, F, 4D]
        a = F.layer_norm(lin(a, "audio_proj.proj"), (cfg.audio_hidden,), sd["audio_proj.norm_out.weight"], sd["audio_proj.norm_out.bias"])
    for i in range(cfg.num_layers):
        p = f"blocks.{i}."
        if cfg.use_audio and 2 <= i <= cfg.num_layers // 2:
            inj = lin(a, f"audio_cond_projs.{i - 2}")  # [1, F, D]
            tok = tok + inj.repeat_interleave(ft, 1)
        m = (sd[p + "modulation"][None] + e0_tok).unbind(2)
        y = F.layer_norm(tok, (cfg.dim,), eps=1e-6) * (1 + m[1]) + m[0]
        q = rope_apply(rms(lin(y, p + "self_attn.q"), sd[p + "self_attn.norm_q.weight"]).view(1, -1, cfg.num_heads, d), (f, h, w), freqs)
        k = rope_apply(rms(lin(y, p + "self_attn.k"), sd[p + "self_attn.norm_k.weight"]).view(1, -1, cfg.num_heads, d), (f, h, w), freqs)
        v = lin(y, p + "self_attn.v")
        y = lin(attention(q.flatten(2), k.flatten(2), v, cfg.num_heads, mask), p + "self_attn.o")
        tok = tok + y * m[2]
        y = F.layer_norm(tok, (cfg.dim,), sd[p + "norm3.weight"], sd[p + "norm3.bias"], eps=1e-6)
        q = rms(lin(y, p + "cross_attn.q"), sd[p + "cross_attn.norm_q.weight"])
        kc = rms(lin(c, p + "cross_attn.k"), sd[p + "cross_attn.norm_k.weight"])
        vc = lin(c, p + "cross_attn.v")
        tok = tok + lin(attention(q, kc, vc, cfg.num_heads), p + "cross_attn.o")
        y = F.layer_norm(tok, (cfg.dim,), eps=1e-6) * (1 + m[4]) + m[3]
        tok = tok + lin(F.gelu(lin(y, p + "ffn.0"), approximate="tanh"), p + "ffn.2") * m[5]
    hm = (sd["head.modulation"][None] + e_tok[:, :, None]).unbind(2)
    out = lin(F.layer_norm(tok, (cfg.dim,), eps=1e-6) * (1 + hm[1]) + hm[0], "head.head")
    u = out[0].view(f, h, w, *cfg.patch_size, cfg.out_dim)
    u = torch.einsum("fhwpqrc->cfphqwr", u).reshape(cfg.out_dim, f, h * 2, w * 2)
    return u.transpose(0, 1)[None]  # [1, F, C, H, W]


@pytest.mark.parametrize(
    "preset,overrides",
    [("tiny", {}), ("tiny-t2v", {}), ("livetalk-1.3b", {"num_layers": 4, "dim": 256, "ffn_dim": 512, "num_heads": 2})],
)
@pytest.mark.parametrize("block", [None, 3])
def test_matches_reference(preset, overrides, block):
    cfg = apply_overrides(get_preset(preset), overrides)
    if preset == "livetalk-1.3b":  # keep head_dim 128 → the published 44/42/42 RoPE split
        assert cfg.rope_split == (44, 42, 42)
        cfg = apply_overrides(cfg, {"text_dim": 64, "text_len": 16, "audio_dim": 24})
    model = build_dit(cfg, seed=1).eval()
    x, t, ctx, cond, audio = random_inputs(cfg, batch=1, frames=6, lat=8)
    if block is None:
        t = t[:, :1].expand(-1, 6)
    with torch.no_grad():
        ours = model(x, t if block else t[:, 0], ctx, cond, audio, causal_block=block)
        ref = reference_forward(model, x, t, ctx, cond, audio, block)
    assert ours.shape == (1, 6, 16, 8, 8)
    assert (ours - ref).abs().max().item() < 2e-4 * max(1.0, ref.abs().max().item())
