"""Streaming KV cache with Anchor-Heavy Identity Sinks (AHIS) and bounded RoPE positions.

Semantics follow the published Self-Forcing / LiveTalk cache (spec §3.2, §3.4), expressed in latent frames
rather than hard-coded token counts (spec pitfall 7):

* Keys are stored after RMSNorm and RoPE, values raw; per layer `[B, heads, slots, head_dim]`.
* A chunk (usually one block of 3 latent frames) is written at the end of the cache. Re-running the same
  chunk (the denoising steps and the clean cache-refresh pass) overwrites the same slots.
* The cache holds `local_attn_size` latent frames. The first `sink_size` frames ever written (the reference
  frame and the first generated frames) are never evicted; the rest is a rolling window that includes the
  chunk being denoised. With `local_attn_size = -1` the cache keeps the full history.
* Queries attend to every frame in the cache, i.e. sinks ∪ the last `local_attn_size − sink_size` frames.

Unbounded duration (the published code fails after 1024 latent frames because its RoPE table ends there):
frame positions are absolute, exactly as published, until the next chunk would pass `rope_max_frames`.
Then the rolling part is re-based: its keys are rotated back by Δ frames so that the oldest rolling frame
sits right after the sinks (position `sink_size`), and new chunks continue from there. Attention among
rolling frames is unchanged (RoPE is relative along the frame axis); the distance from the queries to the
sinks drops from ~`rope_max_frames` back to ~`local_attn_size`, and grows again. Positions therefore stay
within the range the model has seen in the first minutes of a stream, for hours. With full history there
is nothing to evict, so positions simply keep growing (RoPE is computed for any position; no table end).

Cross-attention k/v are computed once per session (per prompt) and kept in `cross`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .rope import apply_rope, frame_shift_cos_sin


@dataclass(frozen=True)
class ChunkPlan:
    """Where one forward's chunk goes in the cache; frames are latent frames, slots are cache frames."""

    write_slot: int  # first cache frame written by this chunk
    num_frames: int  # latent frames in the chunk
    end_slot: int  # cache frames valid after the write (attention covers slots [0, end_slot))
    position: float  # RoPE frame position of the chunk's first frame
    roll: tuple[int, int, int] | None = None  # (src_slot, dst_slot, length): move rolling frames down
    rebase: tuple[int, int, float] | None = None  # (slot_start, slot_end, delta): rotate keys back by delta


class KVCache:
    """Per-layer self-attention cache plus the cross-attention cache of one streaming session.

    Args:
        num_layers, num_heads, head_dim: model geometry.
        batch_size: B.
        frame_tokens: tokens per latent frame (= latent H·W / 4 for patch (1, 2, 2); 1024 at 512×512).
        sink_size: anchor frames kept for ever (published: 9). 0 = no sink.
        local_attn_size: frames held in the cache, sinks included (published: 15); -1 = full history.
        max_frames: initial capacity for full history (grows on demand).
        rope_max_frames: largest RoPE frame position used before re-basing (published table: 1024).
        rope_split, rope_theta: RoPE layout, to rotate cached keys when re-basing.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        num_heads: int,
        head_dim: int,
        batch_size: int,
        frame_tokens: int,
        sink_size: int = 9,
        local_attn_size: int = 15,
        max_frames: int = 64,
        rope_max_frames: int = 1024,
        rope_split: tuple[int, int, int] = (44, 42, 42),
        rope_theta: float = 10000.0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        if local_attn_size != -1:
            if local_attn_size <= 0:
                raise ValueError(f"local_attn_size must be -1 (full history) or positive, got {local_attn_size}")
            if not 0 <= sink_size < local_attn_size:
                raise ValueError(f"sink_size {sink_size} must be in [0, local_attn_size={local_attn_size})")
            if rope_max_frames <= local_attn_size:
                raise ValueError("rope_max_frames must exceed local_attn_size so positions can be re-based")
        elif sink_size:
            raise ValueError("sink_size only applies to a rolling window (local_attn_size != -1)")
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.batch_size = batch_size
        self.frame_tokens = frame_tokens
        self.sink_size = sink_size
        self.local_attn_size = local_attn_size
        self.rope_max_frames = rope_max_frames
        self.rope_split = rope_split
        self.rope_theta = rope_theta
        self.device = torch.device(device)
        self.dtype = dtype
        self.capacity = local_attn_size if local_attn_size != -1 else max_frames
        shape = (batch_size, num_heads, self.capacity * frame_tokens, head_dim)
        self.k = [torch.zeros(shape, device=self.device, dtype=dtype) for _ in range(num_layers)]
        self.v = [torch.zeros(shape, device=self.device, dtype=dtype) for _ in range(num_layers)]
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.video = -1  # counts resets, i.e. videos (a checkpointed rollout checks it); reset() makes it 0
        self.reset()

    # ----------------------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Start a new video: forget all frames and the cross-attention k/v (buffers are reused)."""
        self.video += 1
        self.filled = 0  # cache frames holding data
        self.next_frame = 0  # global latent frame index expected for the next new chunk
        self.last_start = -1  # global start frame of the last chunk written
        self.last_frames = 0
        self.last_slot = 0
        self.pos_offset = 0.0  # RoPE position of global frame g is g - pos_offset
        self.plan: ChunkPlan | None = None
        self._applied: list[bool] = [True] * self.num_layers
        self.reset_cross()

    def reset_cross(self) -> None:
        """Forget the cached cross-attention k/v (call when the prompt changes mid-stream)."""
        self.cross = [None] * self.num_layers

    @property
    def windowed(self) -> bool:
        return self.local_attn_size != -1

    @property
    def cached_frames(self) -> int:
        return self.filled

    # ------------------------------------------------------------------------------------- planning
    def begin(self, start_frame: int, num_frames: int, frame_tokens: int) -> ChunkPlan:
        """Plan the write of a chunk of `num_frames` latent frames starting at global frame `start_frame`.

        Called once per model forward, before the layers run. A chunk must either repeat the last chunk
        (same start and length: overwrite) or directly follow it.
        """
        if frame_tokens != self.frame_tokens:
            raise ValueError(f"chunk has {frame_tokens} tokens per frame, cache was built for {self.frame_tokens}")
        if not all(self._applied):
            raise RuntimeError("previous chunk was not written by every layer")
        if start_frame == self.last_start and num_frames == self.last_frames:
            plan = ChunkPlan(self.last_slot, num_frames, self.filled, start_frame - self.pos_offset)
        elif start_frame == self.next_frame:
            plan = self._plan_new_chunk(start_frame, num_frames)
        else:
            raise ValueError(
                f"chunk starts at latent frame {start_frame}, but the cache expects {self.next_frame} "
                f"(next chunk) or {self.last_start} (re-run of the last chunk); call reset() for a new video"
            )
        self.plan = plan
        self._applied = [False] * self.num_layers
        self.last_start, self.last_frames, self.last_slot = start_frame, num_frames, plan.write_slot
        self.filled = plan.end_slot
        self.next_frame = max(self.next_frame, start_frame + num_frames)
        return plan

    def _plan_new_chunk(self, start_frame: int, num_frames: int) -> ChunkPlan:
        roll = None
        write_slot = self.filled
        if self.filled + num_frames > self.capacity:
            if not self.windowed:
                self._grow(max(2 * self.capacity, self.filled + num_frames))
            else:
                n_evict = self.filled + num_frames - self.capacity
                keep = self.filled - self.sink_size - n_evict
                if keep < 0:
                    raise ValueError(
                        f"a chunk of {num_frames} frames does not fit a window of {self.local_attn_size} frames "
                        f"with {self.sink_size} sink frames"
                    )
                roll = (self.sink_size + n_evict, self.sink_size, keep) if keep else None
                write_slot = self.filled - n_evict
        rebase = None
        position = start_frame - self.pos_offset
        if self.windowed and position + num_frames > self.rope_max_frames:
            # Oldest retained rolling frame goes to position sink_size; rotate retained keys back by delta.
            first_rolling_pos = position - (write_slot - self.sink_size)
            delta = first_rolling_pos - self.sink_size
            if write_slot > self.sink_size:
                rebase = (self.sink_size, write_slot, delta)
            self.pos_offset += delta
            position -= delta
        return ChunkPlan(write_slot, num_frames, write_slot + num_frames, position, roll, rebase)

    def _grow(self, capacity: int) -> None:
        extra = (capacity - self.capacity) * self.frame_tokens
        pad = (self.batch_size, self.num_heads, extra, self.head_dim)
        for i in range(self.num_layers):
            self.k[i] = torch.cat([self.k[i], self.k[i].new_zeros(pad)], dim=2)
            self.v[i] = torch.cat([self.v[i], self.v[i].new_zeros(pad)], dim=2)
        self.capacity = capacity

    # --------------------------------------------------------------------------------------- update
    @torch.no_grad()
    def _restructure(self, layer: int) -> None:
        """Apply the plan's eviction roll and RoPE re-base to one layer's buffers (before its write)."""
        plan, t = self.plan, self.frame_tokens
        k_buf, v_buf = self.k[layer], self.v[layer]
        if plan.roll is not None:
            src, dst, n = plan.roll
            k_buf[:, :, dst * t : (dst + n) * t] = k_buf[:, :, src * t : (src + n) * t].clone()
            v_buf[:, :, dst * t : (dst + n) * t] = v_buf[:, :, src * t : (src + n) * t].clone()
        if plan.rebase is not None:
            lo, hi, delta = plan.rebase
            cos, sin = frame_shift_cos_sin(-delta, self.rope_split, self.rope_theta, k_buf.device, torch.float32)
            k_buf[:, :, lo * t : hi * t] = apply_rope(k_buf[:, :, lo * t : hi * t], cos, sin)

    def restructure_all(self) -> None:
        """For graph replay: roll / re-base every layer now; the replayed graph then writes and attends."""
        for layer in range(self.num_layers):
            self._restructure(layer)
        self._applied = [True] * self.num_layers

    @torch.compiler.disable  # Python bookkeeping: a graph break, so compiled blocks share one graph
    def update(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this layer's new keys/values `[B, heads, S_new, head_dim]` and return the k/v to attend to.

        When autograd tracks `k_new`/`v_new` (the exit step of a Self-Forcing rollout), the returned k/v are
        a *detached* copy of the cached prefix concatenated with the new k/v, and the cache itself is written
        outside autograd, so later in-place writes never invalidate saved tensors (spec pitfall 14).
        """
        self._check_pending(layer)
        self._restructure(layer)
        a, b = self._write(layer, k_new, v_new)
        k_buf, v_buf = self.k[layer], self.v[layer]
        if torch.is_grad_enabled() and (k_new.requires_grad or v_new.requires_grad):
            k = torch.cat([k_buf[:, :, :a].detach(), k_new.to(k_buf.dtype)], dim=2)
            v = torch.cat([v_buf[:, :, :a].detach(), v_new.to(v_buf.dtype)], dim=2)
            return k, v
        return k_buf[:, :, :b], v_buf[:, :, :b]

    def checkpoint_view(self, layer: int) -> CachePrefix:
        """The cache as one layer's gradient-checkpointed forward sees it (the Self-Forcing exit step under
        `gradient_checkpointing`): restructures the layer now and hands out its prefix (the slots before this
        chunk, detached), which stays fixed while the backward pass recomputes the block. With full history
        nothing ever writes those slots again, so the prefix is a view (no memory); a rolling window's later
        evictions overwrite them, so there it is a copy. A view must not outlive the video: `reset()` before the
        backward pass makes the recomputation an error."""
        self._check_pending(layer)
        self._restructure(layer)
        a = self.plan.write_slot * self.frame_tokens
        k, v = self.k[layer][:, :, :a].detach(), self.v[layer][:, :, :a].detach()
        if self.windowed:
            k, v = k.clone(), v.clone()
        return CachePrefix(self, layer, k, v, shared=not self.windowed)

    def _check_pending(self, layer: int) -> None:
        if self.plan is None or self._applied[layer]:
            raise RuntimeError("KVCache.update called without a matching begin()")

    def _write(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[int, int]:
        """Store the chunk's k/v in its slots, outside autograd; returns the token range `[a, b)` written."""
        plan, t = self.plan, self.frame_tokens
        a, b = plan.write_slot * t, (plan.write_slot + plan.num_frames) * t
        if b - a != k_new.shape[2]:
            raise ValueError(f"expected {b - a} new tokens, got {k_new.shape[2]}")
        with torch.no_grad():
            self.k[layer][:, :, a:b] = k_new.detach().to(self.k[layer].dtype)
            self.v[layer][:, :, a:b] = v_new.detach().to(self.v[layer].dtype)
        self._applied[layer] = True
        return a, b


class CachePrefix:
    """One layer's cache inside a gradient-checkpointed block: the first `update` (the forward) writes the new
    k/v to the cache; the recomputation in backward writes nothing and attends to the same prefix again."""

    def __init__(self, cache: KVCache, layer: int, k: torch.Tensor, v: torch.Tensor, shared: bool):
        self.cache, self.layer, self.k, self.v = cache, layer, k, v
        self.shared = shared  # k, v are views of the cache's buffers (valid until its next reset)
        self.video = cache.video
        self.written = False

    @torch.compiler.disable
    def update(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer != self.layer:
            raise RuntimeError(f"cache view of layer {self.layer} used by layer {layer}")
        if not self.written:
            self.cache._write(layer, k_new, v_new)
            self.written = True
        elif self.shared and self.cache.video != self.video:
            raise RuntimeError("the KV cache was reset (a new video) before the backward pass of a checkpointed "
                               "rollout; its cached prefix is gone. Run backward first, or use a new cache")
        return (torch.cat([self.k, k_new.to(self.k.dtype)], dim=2),
                torch.cat([self.v, v_new.to(self.v.dtype)], dim=2))
