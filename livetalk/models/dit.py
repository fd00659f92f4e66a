"""The Wan2.1 / OmniAvatar diffusion transformer, in one readable file.

One class, `WanDiT`, serves the three roles of LiveTalk with the same weights (spec §1, §3):

* bidirectional (teacher, critic): every token attends to every token; timestep `[B]` per sample;
* block-causal training (student, ODE regression): `causal_block=3` — a block of latent frames attends to
  itself and to every earlier block (optionally sinks + a local window); timestep `[B, F]` per frame;
* streaming inference (student): `kv_cache=` a `KVCache`, one chunk (block) at a time at `start_frame`.

Parameter names and shapes match the published checkpoints exactly (`state_dict()` of the `livetalk-1.3b`
preset has the 857 keys of LiveTalk-1.3B-V0.1), so `load_state_dict` takes them unchanged.

Shapes (B batch, F latent frames, H/W latent size, S = F·(H/2)·(W/2) tokens, T = 4F − 3 pixel frames):
  x        [B, F, 16, H, W]   noisy latent
  t        [B] or [B, F]      timestep in [0, 1000] (bf16-rounded values 1000, 936, 832, 624 at inference)
  context  [B, L, text_dim]   text encoder states (padding already zeroed)
  cond     [B, F, 17, H, W]   reference latent (16) + mask (1; 0 on latent frame 0)   — OmniAvatar only
  audio    [B, F, 4, D]       per-latent-frame audio windows (`pack_audio_frames`)    — OmniAvatar only
  output   [B, F, 16, H, W]   flow velocity v ≈ noise − x0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import DiTConfig
from .kv_cache import KVCache
from .rope import RopeTable, apply_rope


# ---------------------------------------------------------------------------------------------- helpers
def sinusoidal_embedding(dim: int, t: torch.Tensor) -> torch.Tensor:
    """`[N] -> [N, dim]`: `[cos(t·ω_i), sin(t·ω_i)]`, ω_i = 10000^(−i/(dim/2)), computed in float64."""
    half = dim // 2
    t64 = t.to(torch.float64)
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=t.device) / half)
    ang = torch.outer(t64, omega)
    return torch.cat([torch.cos(ang), torch.sin(ang)], dim=1)


def pack_audio_frames(features: torch.Tensor, pack: int = 4) -> torch.Tensor:
    """Per-pixel-frame audio features `[B, T, D]` (T = 4F − 3) → per-latent-frame windows `[B, F, 4, D]`.

    Prepends 3 copies of frame 0 (so latent frame 0 sees audio frame 0 four times and latent frame k ≥ 1
    sees pixel frames 4k−3 … 4k, exactly the frames the causal VAE maps to latent k), then groups by 4.
    """
    if features.dim() != 3:
        raise ValueError(f"audio features must be [B, T, D], got {tuple(features.shape)}")
    n = features.shape[1]
    if n % pack != 1:
        raise ValueError(f"audio frame count {n} is not of the form {pack}·F − {pack - 1}")
    padded = torch.cat([features[:, :1].expand(-1, pack - 1, -1), features], dim=1)
    return padded.unflatten(1, (-1, pack))


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).type_as(x) * weight


class RMSNorm(nn.Module):
    """RMS norm over the last dim, computed in fp32, with a learned scale (Wan's `WanRMSNorm`)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return KERNELS["rms_norm"](x, self.weight, self.eps)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, frames: int) -> torch.Tensor:
    """`x·(1 + scale) + shift` with per-frame `shift/scale [B, F, D]` broadcast over that frame's tokens.

    x: `[B, S, D]`, S = F·tokens_per_frame. Computed in fp32 (as Wan does), returned in x's dtype.
    """
    xf = x.float().unflatten(1, (frames, -1))
    return (xf * (1 + scale[:, :, None]) + shift[:, :, None]).flatten(1, 2).to(x.dtype)


def _gated_add(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor, frames: int) -> torch.Tensor:
    """`x + y·gate` with per-frame `gate [B, F, D]`; x, y: `[B, S, D]`."""
    out = x.float().unflatten(1, (frames, -1)) + y.float().unflatten(1, (frames, -1)) * gate[:, :, None]
    return out.flatten(1, 2).to(x.dtype)


# Element-wise pieces, looked up at call time so `fuse_elementwise()` can swap in compiled (fused) versions.
KERNELS = {"rms_norm": _rms_norm, "modulate": _modulate, "gated_add": _gated_add, "rope": apply_rope}


def _allow_recompiles(limit: int = 64) -> None:
    """Streaming meets a few shapes (growing cache, first block); let dynamo keep a graph for each."""
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, limit)


def fuse_elementwise() -> None:
    """Replace the element-wise pieces (RMSNorm, modulation, gated residual, RoPE) by `torch.compile`d,
    fused kernels. Same math (fp32 inside); on CUDA this removes most of the launch and memory traffic of
    the fp32 up-casts. Process-wide: it changes how every WanDiT computes, not what."""
    _allow_recompiles()
    for name, fn in list(KERNELS.items()):
        if not hasattr(fn, "_torchdynamo_orig_callable"):
            KERNELS[name] = torch.compile(fn, dynamic=False)


def _attend_ranges(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: list[tuple[int, int, list[tuple[int, int]]]], ft: int
) -> torch.Tensor:
    """Attention where each query frame range sees a union of key frame ranges.

    q, k, v: `[B, heads, S, hd]`; plan: `(q_frame_start, q_frame_end, [(k_start, k_end), ...])`; ft: tokens
    per frame. Each call to SDPA is mask-free, so CUDA can pick flash kernels.
    """
    outs = []
    for q0, q1, ranges in plan:
        if len(ranges) == 1:
            k0, k1 = ranges[0]
            kk, vv = k[:, :, k0 * ft : k1 * ft], v[:, :, k0 * ft : k1 * ft]
        else:
            kk = torch.cat([k[:, :, a * ft : b * ft] for a, b in ranges], dim=2)
            vv = torch.cat([v[:, :, a * ft : b * ft] for a, b in ranges], dim=2)
        outs.append(F.scaled_dot_product_attention(q[:, :, q0 * ft : q1 * ft], kk, vv))
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


def block_causal_plan(
    num_frames: int, block: int | None, sink_size: int = 0, local_attn_size: int = -1
) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Key frame ranges per query block for the no-cache forward.

    `block=None` is bidirectional. Otherwise a block of `block` latent frames attends to itself and all
    earlier frames, or — with `local_attn_size != -1` — to the first `sink_size` frames plus the last
    `local_attn_size − sink_size` frames up to its own end: exactly what the streaming `KVCache` holds.
    """
    if block is None:
        return [(0, num_frames, [(0, num_frames)])]
    plan = []
    for q0 in range(0, num_frames, block):
        q1 = min(q0 + block, num_frames)
        if local_attn_size == -1:
            ranges = [(0, q1)]
        else:
            lo = max(sink_size, q1 - (local_attn_size - sink_size))
            ranges = [(0, q1)] if lo <= sink_size else ([(0, sink_size)] if sink_size else []) + [(lo, q1)]
        plan.append((q0, q1, ranges))
    return plan


# ---------------------------------------------------------------------------------------------- layers
class SelfAttention(nn.Module):
    """Multi-head self-attention with full-vector RMSNorm on q/k and 3-D RoPE."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, x, cos, sin, ft, plan=None, cache: KVCache | None = None, layer: int = 0):
        b, s, _ = x.shape
        heads = (self.num_heads, -1)
        rope = KERNELS["rope"]
        q = rope(self.norm_q(self.q(x)).unflatten(2, heads), cos, sin).transpose(1, 2)
        k = rope(self.norm_k(self.k(x)).unflatten(2, heads), cos, sin).transpose(1, 2)
        v = self.v(x).unflatten(2, heads).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, k, v)
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = _attend_ranges(q, k, v, plan, ft)
        return self.o(out.transpose(1, 2).reshape(b, s, -1))


class CrossAttention(nn.Module):
    """Cross-attention from video tokens to all text tokens (no mask, no RoPE)."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def context_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`[B, L, dim]` embedded text → k, v `[B, heads, L, hd]` (cacheable per session)."""
        heads = (self.num_heads, -1)
        k = self.norm_k(self.k(context)).unflatten(2, heads).transpose(1, 2)
        v = self.v(context).unflatten(2, heads).transpose(1, 2)
        return k, v

    def forward(self, x, kv):
        b, s, _ = x.shape
        q = self.norm_q(self.q(x)).unflatten(2, (self.num_heads, -1)).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, *kv)
        return self.o(out.transpose(1, 2).reshape(b, s, -1))


class DiTBlock(nn.Module):
    """One Wan block: modulated self-attention, cross-attention (LN with affine), modulated FFN."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        dim = cfg.dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, cfg.num_heads, cfg.eps)
        self.norm3 = nn.LayerNorm(dim, eps=cfg.eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, cfg.num_heads, cfg.eps)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.eps, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(dim, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(self, x, e0, cross_kv, cos, sin, ft, plan=None, cache=None, layer=0):
        """x `[B, S, dim]`; e0 `[B, F, 6, dim]` (fp32) — shift/scale/gate for attention, then for the FFN."""
        frames = e0.shape[1]
        mod = (self.modulation.float()[:, None] + e0).unbind(2)  # 6 × [B, F, dim]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod
        modulate, gated_add = KERNELS["modulate"], KERNELS["gated_add"]
        y = self.self_attn(modulate(self.norm1(x), shift_msa, scale_msa, frames), cos, sin, ft, plan, cache, layer)
        x = gated_add(x, y, gate_msa, frames)
        x = x + self.cross_attn(self.norm3(x), cross_kv)
        y = self.ffn(modulate(self.norm2(x), shift_mlp, scale_mlp, frames))
        return gated_add(x, y, gate_mlp, frames)


class Head(nn.Module):
    """Final modulated LayerNorm + Linear(dim → prod(patch)·out_dim)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.eps, elementwise_affine=False)
        self.head = nn.Linear(cfg.dim, math.prod(cfg.patch_size) * cfg.out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg.dim) / cfg.dim**0.5)

    def forward(self, x, e):
        """x `[B, S, dim]`, e `[B, F, dim]` (time embedding, not the 6-way projection)."""
        shift, scale = (self.modulation.float()[:, None] + e.float()[:, :, None]).unbind(2)
        return self.head(_modulate(self.norm(x), shift, scale, e.shape[1]))


class AudioPack(nn.Module):
    """OmniAvatar's AudioPack: groups 4 pixel-frame features (time-major), Linear → LayerNorm."""

    def __init__(self, in_dim: int, pack: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(in_dim * pack, hidden)
        self.norm_out = nn.LayerNorm(hidden)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """`[B, F, 4, D]` → `[B, F, hidden]` (flatten index = t·D + c, as published)."""
        return self.norm_out(self.proj(windows.flatten(2)))


# ---------------------------------------------------------------------------------------------- model
class WanDiT(nn.Module):
    """Wan2.1 DiT with OmniAvatar's reference-image and audio conditioning (see module docstring)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.dim
        self.patch_embedding = nn.Conv3d(cfg.in_dim, dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.text_embedding = nn.Sequential(nn.Linear(cfg.text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.num_layers))
        self.head = Head(cfg)
        if cfg.use_audio:
            self.audio_proj = AudioPack(cfg.audio_dim, cfg.audio_pack, cfg.audio_hidden)
            self.audio_cond_projs = nn.ModuleList(nn.Linear(cfg.audio_hidden, dim) for _ in cfg.audio_layers)
        self.rope = RopeTable(cfg.rope_split, cfg.rope_theta)
        self.gradient_checkpointing = False

    # ------------------------------------------------------------------------------------- utilities
    @property
    def device(self) -> torch.device:
        return self.patch_embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.patch_embedding.weight.dtype

    def init_weights(self, generator: torch.Generator | None = None, std: float = 0.02) -> WanDiT:
        """Random init for tests and training from scratch (xavier linears, small modulations)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv3d)):
                fan_in = m.weight[0].numel()
                fan_out = m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1)
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                with torch.no_grad():
                    m.weight.uniform_(-bound, bound, generator=generator)
                    m.bias.normal_(0, std, generator=generator)
        for name, p in self.named_parameters():
            if name.endswith("modulation"):
                with torch.no_grad():
                    p.normal_(0, 1 / math.sqrt(self.cfg.dim), generator=generator)
        return self

    def compile_blocks(self, mode: str | None = None) -> WanDiT:
        """Regional `torch.compile`: each transformer block is compiled; all blocks share one compiled graph
        (parameters are graph inputs), the KV-cache bookkeeping stays eager (a graph break)."""
        _allow_recompiles()
        for blk in self.blocks:
            blk.compile(mode=mode, dynamic=False)
        return self

    def new_cache(
        self,
        batch_size: int,
        latent_hw: tuple[int, int],
        *,
        sink_size: int = 9,
        local_attn_size: int = 15,
        max_frames: int = 64,
        rope_max_frames: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        """An empty streaming cache for latents of size `latent_hw` (latent H, W). Sizes in latent frames;
        `rope_max_frames` (default: the model's RoPE table, `cfg.rope_max_frames`) is where positions re-base."""
        _, ph, pw = self.cfg.patch_size
        cfg = self.cfg
        return KVCache(
            num_layers=cfg.num_layers, num_heads=cfg.num_heads, head_dim=cfg.head_dim, batch_size=batch_size,
            frame_tokens=(latent_hw[0] // ph) * (latent_hw[1] // pw), sink_size=sink_size,
            local_attn_size=local_attn_size, max_frames=max_frames,
            rope_max_frames=cfg.rope_max_frames if rope_max_frames is None else rope_max_frames,
            rope_split=cfg.rope_split, rope_theta=cfg.rope_theta,
            device=device or self.device, dtype=dtype or self.dtype,
        )

    def project_audio(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """Per-latent-frame audio windows `[B, F, 4, D]` → one `[B, F, dim]` injection per audio layer.

        Layer-major and batch-safe (the published dim-0 concatenation mixes samples for B > 1, pitfall 5).
        """
        packed = self.audio_proj(audio.to(self.dtype))
        return [proj(packed) for proj in self.audio_cond_projs]

    def embed_text(self, context: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Text states `[B, L, text_dim]` → per-layer cross-attention k/v."""
        ctx = self.text_embedding(context.to(self.dtype))
        return [blk.cross_attn.context_kv(ctx) for blk in self.blocks]

    # --------------------------------------------------------------------------------------- forward
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor | None,
        cond: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        start_frame: int = 0,
        causal_block: int | None = None,
        sink_size: int = 0,
        local_attn_size: int = -1,
        position_offset: float = 0.0,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Predict flow velocity for `x` (shapes in the module docstring).

        Modes: `kv_cache` given → streaming chunk starting at latent frame `start_frame`; else
        `causal_block` given → block-causal over the whole sequence (with optional sinks / local window);
        else bidirectional. `context` may be None only in streaming mode once the cache holds the
        cross-attention k/v. `position_offset` shifts RoPE frame positions of the no-cache modes.
        `rope_cos_sin` overrides the RoPE tables (CUDA-graph capture uses static buffers).
        """
        cfg = self.cfg
        b, f, c, h, w = x.shape
        if c != cfg.latent_channels:
            raise ValueError(f"x must be [B, F, {cfg.latent_channels}, H, W], got {tuple(x.shape)}")
        dtype = self.dtype
        if cfg.has_cond:
            if cond is None or cond.shape[:2] != (b, f) or cond.shape[2] != cfg.in_dim - c or cond.shape[3:] != (h, w):
                raise ValueError(
                    f"cond must be [B, F, {cfg.in_dim - c}, H, W] = {(b, f, cfg.in_dim - c, h, w)}, got "
                    f"{None if cond is None else tuple(cond.shape)}"
                )
            inp = torch.cat([x.to(dtype), cond.to(dtype)], dim=2)
        else:
            inp = x.to(dtype)
        tokens = self.patch_embedding(inp.transpose(1, 2))  # [B, dim, F, h', w']
        hp, wp = tokens.shape[-2:]
        ft = hp * wp
        tokens = tokens.flatten(2).transpose(1, 2)  # [B, S, dim], (f, h, w) order

        # time: [B] or [B, F] -> per frame
        t = t.reshape(b, -1).expand(b, f) if t.numel() in (b, b * f) else None
        if t is None:
            raise ValueError("t must be [B] or [B, F]")
        e = self.time_embedding(sinusoidal_embedding(cfg.freq_dim, t.reshape(-1)).to(torch.float32).to(dtype))
        e0 = self.time_projection(e).unflatten(1, (6, -1)).float().unflatten(0, (b, f))  # [B, F, 6, dim]
        e = e.unflatten(0, (b, f))  # [B, F, dim]

        # text: cross-attention k/v, cached per streaming session
        if kv_cache is not None and kv_cache.cross[0] is not None:
            cross = kv_cache.cross
        else:
            if context is None:
                raise ValueError("context (text states) is required on the first call")
            cross = self.embed_text(context)
            if kv_cache is not None:
                kv_cache.cross = [(k.detach(), v.detach()) for k, v in cross]

        audio_inj = None
        if cfg.use_audio:
            if audio is None or audio.shape[:3] != (b, f, cfg.audio_pack) or audio.shape[3] != cfg.audio_dim:
                raise ValueError(
                    f"audio must be [B, F, {cfg.audio_pack}, {cfg.audio_dim}] (see pack_audio_frames), got "
                    f"{None if audio is None else tuple(audio.shape)}"
                )
            audio_inj = self.project_audio(audio)

        if kv_cache is not None:
            plan = None
            chunk = kv_cache.begin(start_frame, f, ft)
            pos0 = chunk.position
        else:
            plan = block_causal_plan(f, causal_block, sink_size, local_attn_size)
            pos0 = position_offset
        cos, sin = rope_cos_sin or self.rope.get(pos0, f, hp, wp, tokens.device, torch.float32)

        xs = tokens
        first_audio = cfg.audio_layers[0] if cfg.audio_layers else None
        for i, blk in enumerate(self.blocks):
            if audio_inj is not None and first_audio <= i <= cfg.audio_layers[-1]:
                xs = (xs.unflatten(1, (f, ft)) + audio_inj[i - first_audio][:, :, None]).flatten(1, 2)
            if self.gradient_checkpointing and torch.is_grad_enabled():
                # streaming (the Self-Forcing exit step): the block sees a fixed view of its cache layer
                cache_i = None if kv_cache is None else kv_cache.checkpoint_view(i)
                xs = checkpoint(blk, xs, e0, cross[i], cos, sin, ft, plan, cache_i, i, use_reentrant=False)
            else:
                xs = blk(xs, e0, cross[i], cos, sin, ft, plan, kv_cache, i)
        out = self.head(xs, e)  # [B, S, pt·ph·pw·out]
        return self.unpatchify(out, f, hp, wp)

    def unpatchify(self, out: torch.Tensor, f: int, hp: int, wp: int) -> torch.Tensor:
        """`[B, S, (pt ph pw c)]` (c fastest) → `[B, F, C, H, W]`."""
        pt, ph, pw = self.cfg.patch_size
        c = self.cfg.out_dim
        out = out.reshape(out.shape[0], f, hp, wp, pt, ph, pw, c)
        out = out.permute(0, 1, 4, 7, 2, 5, 3, 6)  # b f pt c hp ph wp pw
        return out.reshape(out.shape[0], f * pt, c, hp * ph, wp * pw)


def build_dit(
    cfg: DiTConfig | str,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
) -> WanDiT:
    """Build a `WanDiT` from a config or preset name; random init with `seed` (None = leave as built).

    On the meta device nothing is allocated (layout checks of the 14B presets cost no memory).
    """
    from .config import get_preset

    if isinstance(cfg, str):
        cfg = get_preset(cfg)
    with torch.device(device):
        model = WanDiT(cfg)
    if seed is not None and str(device) != "meta":
        model.init_weights(torch.Generator(device=model.device).manual_seed(seed))
    return model.to(dtype=dtype)
